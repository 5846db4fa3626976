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
    for (let offset = 0; offset + PAGE_SIZE <= OFFSET_PAGINATION_LIMIT; offset += PAGE_SIZE) {
      const data = await rest('open incident listing', 'incidents', { 'statuses[]': ['triggered', 'acknowledged'], date_range: 'all', limit: String(PAGE_SIZE), offset: String(offset) });
      const page = Array.isArray(data.incidents) ? (data.incidents as Record<string, unknown>[]) : [];
      for (const raw of page) incidents.set(String(raw.id), toIncidentState(raw));
      if (data.more !== true || page.length === 0) return { incidents, complete: true };
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
    const offset = page * PAGE_SIZE;
    if (offset + PAGE_SIZE > OFFSET_PAGINATION_LIMIT) return { incidents: [], more: false };
    const data = await rest('resolved incident listing', 'incidents', { 'statuses[]': ['resolved'], date_range: 'all', sort_by: 'resolved_at:desc', limit: String(PAGE_SIZE), offset: String(offset) });
    const incidents = Array.isArray(data.incidents) ? (data.incidents as Record<string, unknown>[]).map(toIncidentState) : [];
    return { incidents, more: data.more === true && incidents.length > 0 && offset + 2 * PAGE_SIZE <= OFFSET_PAGINATION_LIMIT };
  };
}
