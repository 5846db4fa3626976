import { toIncidentState, type IncidentState, type RestCall } from './api';

/** The most incidents one page lists. */
const PAGE_SIZE = 100;
/** PagerDuty's offset pagination lists no further than this (offset + limit): past it, a 400. */
export const OFFSET_PAGINATION_LIMIT = 10_000;

/** The incidents not resolved, by id; `complete` is false when there were more than PagerDuty lists. */
export interface OpenIncidents {
  incidents: Map<string, IncidentState>;
  complete: boolean;
}

/**
 * Every incident that is triggered or acknowledged, 100 a page, whenever it was opened
 * (`date_range=all`: the default range is the last month). The reconciler reads these once a run
 * instead of one incident per open link: 10,000 open escalations are 100 calls, not 10,000 of a
 * key's 960 a minute.
 */
export function makeOpenIncidents(rest: RestCall): () => Promise<OpenIncidents> {
  return async () => {
    const incidents = new Map<string, IncidentState>();
    for (let page = 0; (page + 1) * PAGE_SIZE <= OFFSET_PAGINATION_LIMIT; page++) {
      const listed = await incidentPage(rest, 'open incident listing', { 'statuses[]': ['triggered', 'acknowledged'] }, page);
      for (const incident of listed.incidents) incidents.set(incident.id, incident);
      if (!listed.more) return { incidents, complete: true };
    }
    return { incidents, complete: false };
  };
}

/** One page of the resolved incidents, most recently resolved first. */
export interface ResolvedPage {
  incidents: IncidentState[];
  /** False on the last page, and on the last PagerDuty's offset pagination reaches. */
  more: boolean;
}

/**
 * The resolved incidents, most recently resolved first, 100 a page from `page` × 100. For a
 * reconciler run that finds links whose incidents are no longer open: an outage resolved while
 * its webhooks were lost is told from a few pages, where one read per incident (at a third of the
 * REST key) would keep 10,000 channels waiting 33 minutes.
 */
export function makeResolvedIncidents(rest: RestCall): (page: number) => Promise<ResolvedPage> {
  return async (page) => {
    const listed = await incidentPage(rest, 'resolved incident listing', { 'statuses[]': ['resolved'], sort_by: 'resolved_at:desc' }, page);
    return { incidents: listed.incidents, more: listed.more && (page + 2) * PAGE_SIZE <= OFFSET_PAGINATION_LIMIT };
  };
}

/** Page `page` of a listing of incidents whenever opened (`date_range=all`: the default is the last month); `more` as PagerDuty says. */
async function incidentPage(rest: RestCall, what: string, query: Record<string, string | string[]>, page: number): Promise<{ incidents: IncidentState[]; more: boolean }> {
  const data = await rest(what, 'incidents', { ...query, date_range: 'all', limit: String(PAGE_SIZE), offset: String(page * PAGE_SIZE) });
  const incidents = Array.isArray(data.incidents) ? (data.incidents as Record<string, unknown>[]).map(toIncidentState) : [];
  return { incidents, more: data.more === true && incidents.length > 0 };
}
