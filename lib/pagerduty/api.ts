import { api } from '@pagerduty/pdjs';
import { RateLimitedError } from '../errors';
import { nodeHttpFetch, type NodeHttpFetchResponse } from '../runtime/node-http-fetch';
import type { IncidentStatus } from '../events';
import { PagerDutyNotFoundError, PermanentError, TransientError } from '../errors';
import { mergeTarget } from './normalize';
import type { SEVERITIES } from '../runtime/settings';

export type Severity = (typeof SEVERITIES)[number];

export interface TriggerEvent {
  /** The customer's own Events API routing key (a credential); absent: the deployment's. */
  routingKey?: string;
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
  /** When it was resolved, if it is. */
  resolvedAt?: string;
  /** Set when PagerDuty resolved it by merging it into another incident. */
  mergedInto?: string;
}

export interface PagerDutyApi {
  /** Events API v2 trigger. 400 → PermanentError; 429, 5xx, network → TransientError. */
  trigger(event: TriggerEvent): Promise<void>;
  /** The routing key a trigger goes on: the customer's own, else the deployment's. */
  routingKeyFor(own: string | undefined): string;
  /** The incident, or undefined when PagerDuty no longer has it (deleted, or merged and gone). */
  getIncident(id: string): Promise<IncidentState | undefined>;
  /**
   * Incidents PagerDuty lists for an incident_key. That filter also matches the keys of an
   * incident's alerts, so a result is a candidate, never proof of ownership.
   */
  findIncidentsByKey(incidentKey: string): Promise<IncidentState[]>;
  /** The alert keys of all an incident's alerts (empty when the incident is gone). */
  alertKeys(incidentId: string): Promise<string[]>;
  /**
   * Add a note to the incident (REST `POST /incidents/{id}/notes`), as the PagerDuty user whose
   * email is `fromEmail`; returns the note's id. Needs a REST key that can write.
   */
  addNote(incidentId: string, content: string, fromEmail: string): Promise<string>;
  /** The id of the incident's first note whose content contains `marker`, if any (to find a note an interrupted attempt added). */
  findNote(incidentId: string, marker: string): Promise<string | undefined>;
}

/** The longest note PagerDuty accepts. */
export const NOTE_MAX_LENGTH = 25_000;

/**
 * The wait PagerDuty asked for, in seconds: `Retry-After`, else the REST API's `ratelimit-reset`
 * (seconds until its window resets). The Events API documents neither on its 429: undefined,
 * and the queue's exponential backoff decides.
 */
export function retryAfterSeconds(headers: { get(name: string): string | null }): number | undefined {
  for (const name of ['retry-after', 'ratelimit-reset']) {
    const raw = headers.get(name);
    const value = raw === null || raw.trim() === '' ? NaN : Number(raw);
    if (Number.isFinite(value) && value > 0) return value;
  }
  return undefined;
}

function failure(what: string, status: number, detail: string, headers?: { get(name: string): string | null }): Error {
  if (status === 429) return new RateLimitedError('pagerduty', `PagerDuty ${what} answered 429`, undefined, headers ? retryAfterSeconds(headers) : undefined);
  if (status >= 500) return new TransientError(`PagerDuty ${what} answered ${status}`, undefined, headers ? retryAfterSeconds(headers) : undefined);
  const message = `PagerDuty ${what} answered ${status}${detail ? `: ${detail}` : ''}`;
  return status === 404 ? new PagerDutyNotFoundError('pagerduty_404', message) : new PermanentError(`pagerduty_${status}`, message);
}

export function toIncidentState(raw: Record<string, unknown>): IncidentState {
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
    ...(status === 'resolved' && typeof raw.resolved_at === 'string' ? { resolvedAt: raw.resolved_at } : {}),
    ...(mergedInto ? { mergedInto } : {}),
  };
}

/** Alerts are listed a page at a time; an incident with more than this many is not ours to read whole. */
const ALERT_PAGE_SIZE = 100;
const MAX_ALERT_PAGES = 10;

/** One REST call's answer body; refusals as pd-router's errors (429 → RateLimitedError, 404 → PagerDutyNotFoundError…). */
export type RestCall = (what: string, path: string, query?: Record<string, string | string[]>, write?: { data: unknown; headers: Record<string, string> }) => Promise<Record<string, unknown>>;

/** PagerDuty's REST API with one key (pdjs, whose own retries of a 429 are off: the callers decide). */
export function restClient(options: { apiUrl: string; restToken: string; timeoutMs: number }): RestCall {
  return async (what, path, query, write) => {
    const url = new URL(path, options.apiUrl);
    for (const [key, value] of Object.entries(query ?? {})) for (const one of Array.isArray(value) ? value : [value]) url.searchParams.append(key, one);
    let response: { ok: boolean; status: number; data?: unknown; headers: { get(name: string): string | null } };
    try {
      // pdjs's own requestTimeout only starts a 30 s timer that nothing clears after a failed call
      // (our signal is the deadline), which holds the process open: 0 turns it off. Its own 429
      // retries never run: its fetch (lib/shims/pdjs-fetch.ts) rejects a 429 with its headers.
      // Should that alias ever be missing, retryTimeout keeps pdjs's pause (20 s by default) short
      // of the Lambda timeout.
      response = await api({ url: url.toString(), token: options.restToken, method: write ? 'POST' : 'GET', ...(write ? { data: write.data, headers: write.headers } : {}), retryTimeout: 1000, requestTimeout: 0, signal: AbortSignal.timeout(options.timeoutMs) } as never);
    } catch (error) {
      const status = (error as { status?: number })?.status;
      const headers = (error as { headers?: { get(name: string): string | null } })?.headers;
      if (typeof status === 'number') throw failure(what, status, '', typeof headers?.get === 'function' ? headers : undefined);
      throw new TransientError(`PagerDuty ${what} could not be reached`, error);
    }
    if (!response.ok) throw failure(what, response.status, '', response.headers);
    return (response.data ?? {}) as Record<string, unknown>;
  };
}

export function makePagerDutyApi(options: { eventsUrl: string; apiUrl: string; routingKey: string; restToken: string; timeoutMs: number }): PagerDutyApi {
  const rest = restClient(options);

  const readIncident = async (id: string) => {
    try {
      const data = await rest('incident lookup', `incidents/${encodeURIComponent(id)}`);
      return toIncidentState((data.incident ?? {}) as Record<string, unknown>);
    } catch (error) {
      if (error instanceof PagerDutyNotFoundError) return undefined;
      throw error;
    }
  };
  const incidentReads = new Map<string, Promise<IncidentState | undefined>>();

  const routingKeyFor = (own: string | undefined) => own ?? options.routingKey;
  return {
    routingKeyFor,
    async trigger(event) {
      let response: NodeHttpFetchResponse;
      let text: string;
      try {
        // Through node:http(s), like pdjs's calls (lib/shims/pdjs-fetch.ts): the runtime's
        // fetch would load undici on the cold start of every escalation.
        response = await nodeHttpFetch(new URL('v2/enqueue', options.eventsUrl), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            routing_key: routingKeyFor(event.routingKey),
            event_action: 'trigger',
            dedup_key: event.dedupKey,
            payload: { summary: event.summary, source: event.source, severity: event.severity, custom_details: event.customDetails },
            client: 'pd-router',
            ...(event.links?.length ? { links: event.links } : {}),
          }),
          signal: AbortSignal.timeout(options.timeoutMs),
        });
        text = await response.text();
      } catch (error) {
        throw new TransientError('PagerDuty Events API could not be reached', error);
      }
      if (response.ok) return;
      let detail = '';
      try {
        const body = JSON.parse(text) as { message?: string; errors?: string[] };
        detail = [body.message, ...(body.errors ?? [])].filter(Boolean).join('; ');
      } catch {
        detail = '';
      }
      throw failure('Events API', response.status, detail, response.headers);
    },
    getIncident(id) {
      // Reads of one incident while one is on its way share it: an outage's merges into one
      // incident, a batch's worth at a time, would otherwise spend PagerDuty's REST limit (960 a
      // minute, account-wide) on the same answer. Nothing is kept once it has come.
      let read = incidentReads.get(id);
      if (!read) {
        read = readIncident(id).finally(() => incidentReads.delete(id));
        incidentReads.set(id, read);
      }
      return read;
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
          if (error instanceof PagerDutyNotFoundError) return keys;
          throw error;
        }
        const alerts = Array.isArray(data.alerts) ? (data.alerts as { alert_key?: unknown }[]) : [];
        keys.push(...alerts.map((a) => a.alert_key).filter((k): k is string => typeof k === 'string'));
        if (data.more !== true || alerts.length === 0) break;
      }
      return keys;
    },
    async addNote(incidentId, content, fromEmail) {
      const data = await rest('note', `incidents/${encodeURIComponent(incidentId)}/notes`, undefined, { data: { note: { content: content.slice(0, NOTE_MAX_LENGTH) } }, headers: { From: fromEmail } });
      const note = (data.note ?? {}) as { id?: unknown };
      return typeof note.id === 'string' ? note.id : 'added';
    },
    async findNote(incidentId, marker) {
      const data = await rest('note lookup', `incidents/${encodeURIComponent(incidentId)}/notes`);
      const notes = Array.isArray(data.notes) ? (data.notes as { id?: unknown; content?: unknown }[]) : [];
      const found = notes.find((n) => typeof n.content === 'string' && n.content.includes(marker));
      return found ? String(found.id ?? 'added') : undefined;
    },
  };
}
