import { api } from '@pagerduty/pdjs';
import { RateLimitedError } from '../runtime/errors';
import type { IncidentStatus } from '../events';
import { PermanentError, TransientError } from '../runtime/errors';
import { mergeTarget } from './normalize';

export type Severity = 'critical' | 'error' | 'warning' | 'info';

export interface TriggerEvent {
  dedupKey: string;
  summary: string;
  source: string;
  severity: Severity;
  customDetails: Record<string, unknown>;
  links?: { href: string; text: string }[];
}

/**
 * An incident's live state as the REST API tells it, reduced to what routing needs and what a
 * customer may see: no title, URL, number, service or notes (see lib/tenancy/customer-view.ts).
 */
export interface IncidentState {
  id: string;
  status?: IncidentStatus;
  urgency?: string;
  /** Evidence for ownership only, never shown. */
  incidentKey?: string;
  /** The people it is assigned to (user references only). */
  assignees: string[];
  lastStatusChangeAt?: string;
  /** Set when PagerDuty resolved it by merging it into another incident. */
  mergedInto?: string;
}

export interface PagerDutyApi {
  /** Events API v2 trigger. 400 → PermanentError; 429, 5xx, network → TransientError. */
  trigger(event: TriggerEvent): Promise<void>;
  /** The incident, or undefined when PagerDuty no longer has it (deleted, or merged and gone). */
  getIncident(id: string): Promise<IncidentState | undefined>;
  /**
   * Incidents PagerDuty lists for an incident_key. That filter also matches the keys of an
   * incident's alerts, so a result is a candidate, never proof of ownership.
   */
  findIncidentsByKey(incidentKey: string): Promise<IncidentState[]>;
  /** The alert keys of all an incident's alerts (empty when the incident is gone). */
  alertKeys(incidentId: string): Promise<string[]>;
}

function retryAfter(headers: Headers | { get(name: string): string | null }): number | undefined {
  const value = Number(headers.get('retry-after'));
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

function failure(what: string, status: number, detail: string, headers?: { get(name: string): string | null }): Error {
  if (status === 429) return new RateLimitedError('pagerduty', `PagerDuty ${what} answered 429`, undefined, headers ? retryAfter(headers) : undefined);
  if (status >= 500) return new TransientError(`PagerDuty ${what} answered ${status}`, undefined, headers ? retryAfter(headers) : undefined);
  return new PermanentError(`pagerduty_${status}`, `PagerDuty ${what} answered ${status}${detail ? `: ${detail}` : ''}`);
}

function toIncidentState(raw: Record<string, unknown>): IncidentState {
  const assignments = Array.isArray(raw.assignments) ? (raw.assignments as { assignee?: { type?: string; summary?: string } }[]) : [];
  const status = raw.status;
  const mergedInto = mergeTarget(raw.resolve_reason);
  return {
    id: String(raw.id),
    ...(status === 'triggered' || status === 'acknowledged' || status === 'resolved' ? { status } : {}),
    ...(typeof raw.urgency === 'string' ? { urgency: raw.urgency } : {}),
    ...(typeof raw.incident_key === 'string' && raw.incident_key ? { incidentKey: raw.incident_key } : {}),
    assignees: assignments
      .map((a) => a.assignee)
      .filter((a) => a?.type === undefined || a.type === 'user_reference')
      .map((a) => a?.summary)
      .filter((s): s is string => typeof s === 'string'),
    ...(typeof raw.last_status_change_at === 'string' ? { lastStatusChangeAt: raw.last_status_change_at } : {}),
    ...(mergedInto ? { mergedInto } : {}),
  };
}

/** Alerts are listed a page at a time; an incident with more than this many is not ours to read whole. */
const ALERT_PAGE_SIZE = 100;
const MAX_ALERT_PAGES = 10;

const isNotFound = (error: unknown) => error instanceof PermanentError && error.code === 'pagerduty_404';

export function makePagerDutyApi(options: { eventsUrl: string; apiUrl: string; routingKey: string; restToken: string; timeoutMs: number }): PagerDutyApi {
  const rest = async (what: string, path: string, query?: Record<string, string>): Promise<Record<string, unknown>> => {
    const url = new URL(path, options.apiUrl);
    for (const [key, value] of Object.entries(query ?? {})) url.searchParams.set(key, value);
    let response: { ok: boolean; status: number; data?: unknown; headers: { get(name: string): string | null } };
    try {
      // pdjs waits 20 s between its own 429 retries by default; a second keeps us inside the Lambda timeout.
      // Its own requestTimeout only starts a 30 s timer that nothing clears after a failed call (our
      // signal is the deadline), which holds the process open: 0 turns it off.
      response = await api({ url: url.toString(), token: options.restToken, method: 'GET', retryTimeout: 1000, requestTimeout: 0, signal: AbortSignal.timeout(options.timeoutMs) } as never);
    } catch (error) {
      const status = (error as { status?: number })?.status;
      if (typeof status === 'number') throw failure(what, status, '');
      throw new TransientError(`PagerDuty ${what} could not be reached`, error);
    }
    if (!response.ok) throw failure(what, response.status, '', response.headers);
    return (response.data ?? {}) as Record<string, unknown>;
  };

  return {
    async trigger(event) {
      let response: Response;
      try {
        response = await fetch(new URL('v2/enqueue', options.eventsUrl), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            routing_key: options.routingKey,
            event_action: 'trigger',
            dedup_key: event.dedupKey,
            payload: { summary: event.summary, source: event.source, severity: event.severity, custom_details: event.customDetails },
            client: 'pd-router',
            ...(event.links?.length ? { links: event.links } : {}),
          }),
          signal: AbortSignal.timeout(options.timeoutMs),
        });
      } catch (error) {
        throw new TransientError('PagerDuty Events API could not be reached', error);
      }
      if (response.status === 202 || response.ok) return;
      let detail = '';
      try {
        const body = (await response.json()) as { message?: string; errors?: string[] };
        detail = [body.message, ...(body.errors ?? [])].filter(Boolean).join('; ');
      } catch {
        detail = '';
      }
      throw failure('Events API', response.status, detail, response.headers);
    },
    async getIncident(id) {
      try {
        const data = await rest('incident lookup', `incidents/${encodeURIComponent(id)}`);
        return toIncidentState((data.incident ?? {}) as Record<string, unknown>);
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    },
    async findIncidentsByKey(incidentKey) {
      // An empty incident_key filter is no filter: PagerDuty would list every open incident.
      if (!incidentKey.trim()) throw new PermanentError('empty_incident_key', 'refusing to search incidents by an empty key');
      const data = await rest('incident search', 'incidents', { incident_key: incidentKey });
      const incidents = Array.isArray(data.incidents) ? (data.incidents as Record<string, unknown>[]) : [];
      return incidents.map(toIncidentState);
    },
    async alertKeys(incidentId) {
      const keys: string[] = [];
      for (let page = 0; page < MAX_ALERT_PAGES; page++) {
        let data: Record<string, unknown>;
        try {
          data = await rest('alert lookup', `incidents/${encodeURIComponent(incidentId)}/alerts`, { limit: String(ALERT_PAGE_SIZE), offset: String(page * ALERT_PAGE_SIZE) });
        } catch (error) {
          if (isNotFound(error)) return keys;
          throw error;
        }
        const alerts = Array.isArray(data.alerts) ? (data.alerts as { alert_key?: unknown }[]) : [];
        keys.push(...alerts.map((a) => a.alert_key).filter((k): k is string => typeof k === 'string'));
        if (data.more !== true || alerts.length === 0) break;
      }
      return keys;
    },
  };
}
