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
