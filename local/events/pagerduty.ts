import { randomBytes } from 'node:crypto';
import { signPagerDutyWebhook } from '../../lib/pagerduty/signature';
import type { SignedRequest } from './request';

/**
 * PagerDuty's v3 webhook bodies, built one way for everyone who plays PagerDuty: its stand-in,
 * the tests, the benchmark. Shaped like the real captures (an incident's own events carry the
 * incident; a status update and a note carry a reference to it).
 */

/** Who made a change, as a webhook's `agent` names it (null: PagerDuty itself). */
export type Agent = string | { service: string } | { integration: string } | null;

/** What an incident's webhook tells about it. */
export interface WebhookIncident {
  id: string;
  number: number;
  title: string;
  status: string;
  urgency: string;
  /** null when the incident was opened without one (by hand, or an integration that sets none). */
  incidentKey: string | null;
  assignees: readonly string[];
  createdAt: string;
  mergedInto?: string;
  service: { id: string; name: string };
}

/**
 * An incident for a webhook where no stand-in opened one (the benchmark, unit tests): a fresh id
 * and dedup key, triggered on the default service; `overrides` say what the case is about.
 */
export function webhookIncident(overrides: Partial<WebhookIncident> = {}): WebhookIncident {
  return {
    id: `Q${randomBytes(6).toString('hex').toUpperCase()}`,
    number: 1,
    title: 'Customer escalation',
    status: 'triggered',
    urgency: 'high',
    incidentKey: `pdr-${randomBytes(16).toString('hex')}`,
    assignees: [],
    createdAt: new Date().toISOString(),
    service: { id: 'PSERVICE', name: 'Customer Escalations' },
    ...overrides,
  };
}

/** Where a webhook comes from and when: the account's base URL its links point into. */
export interface WebhookOrigin {
  by: Agent;
  baseUrl?: string;
  occurredAt?: string;
  eventId?: string;
}

const DEFAULT_BASE_URL = 'https://api.pagerduty.test';
const newEventId = () => `E${randomBytes(8).toString('hex').toUpperCase()}`;

function agentReference(by: Agent, baseUrl: string) {
  if (by === null) return null;
  if (typeof by === 'string') return { id: 'PUSER01', type: 'user_reference', summary: by, html_url: `${baseUrl}/users/PUSER01` };
  if ('service' in by) return { id: 'PSVC01', type: 'service_reference', summary: by.service, html_url: `${baseUrl}/services/PSVC01` };
  return { id: 'PINT01', type: 'generic_events_api_inbound_integration_reference', summary: by.integration, html_url: `${baseUrl}/services/PSVC01/integrations/PINT01` };
}

/** The envelope every v3 webhook shares. */
function webhook<D>(eventType: string, origin: WebhookOrigin, data: D) {
  const baseUrl = origin.baseUrl ?? DEFAULT_BASE_URL;
  return {
    event: {
      id: origin.eventId ?? newEventId(),
      event_type: eventType,
      resource_type: 'incident',
      occurred_at: origin.occurredAt ?? new Date().toISOString(),
      agent: agentReference(origin.by, baseUrl),
      client: null,
      data,
    },
  };
}

/** A note-type event (a status update, a note): the incident by reference in `data.incident`, the note's own fields beside it. */
function aboutIncident<F extends Record<string, unknown>>(eventType: string, incident: Pick<WebhookIncident, 'id' | 'title'>, fields: F & { id: string; type: string }, origin: WebhookOrigin) {
  const baseUrl = origin.baseUrl ?? DEFAULT_BASE_URL;
  const reference = { id: incident.id, type: 'incident_reference', self: `${baseUrl}/incidents/${incident.id}`, html_url: `${baseUrl}/incidents/${incident.id}`, summary: incident.title };
  const { type, ...rest } = fields;
  return webhook(eventType, origin, { incident: reference, ...rest, trimmed: false, type });
}

/** An incident's own event (`incident.triggered`, `.acknowledged`, `.resolved`…): the incident is the data. */
export function incidentWebhookBody(incident: WebhookIncident, eventType: string, origin: WebhookOrigin) {
  const baseUrl = origin.baseUrl ?? DEFAULT_BASE_URL;
  return webhook(eventType, origin, {
    id: incident.id,
    type: 'incident',
    self: `${baseUrl}/incidents/${incident.id}`,
    html_url: `${baseUrl}/incidents/${incident.id}`,
    number: incident.number,
    status: incident.status,
    incident_key: incident.incidentKey,
    created_at: incident.createdAt,
    title: incident.title,
    service: { id: incident.service.id, type: 'service_reference', summary: incident.service.name },
    assignees: incident.assignees.map((name, i) => ({ id: `PUSER${i}`, type: 'user_reference', summary: name })),
    escalation_policy: { id: 'PPOLICY', type: 'escalation_policy_reference', summary: 'Default' },
    teams: [],
    priority: null,
    urgency: incident.urgency,
    conference_bridge: null,
    resolve_reason: incident.mergedInto ? { type: 'merge_resolve_reason', incident: { id: incident.mergedInto, type: 'incident_reference' } } : null,
  });
}

/** `incident.status_update_published`: the text on-call published for stakeholders, about a referenced incident. */
export function statusUpdateWebhookBody(incident: Pick<WebhookIncident, 'id' | 'title'>, message: string, origin: WebhookOrigin) {
  return aboutIncident('incident.status_update_published', incident, { id: `PSU${randomBytes(4).toString('hex').toUpperCase()}`, message, type: 'incident_status_update' }, origin);
}

/** `incident.annotated`: a note added to a referenced incident, shaped as PagerDuty's docs show `incident_note`. */
export function noteWebhookBody(incident: Pick<WebhookIncident, 'id' | 'title'>, note: { id: string; content: string }, origin: WebhookOrigin) {
  return aboutIncident('incident.annotated', incident, { id: note.id, content: note.content, type: 'incident_note' }, origin);
}

/** A webhook body signed with the subscription's key, with the delivery's own id (`x-webhook-id`). */
export function signedWebhook(key: string, body: unknown, webhookId = `wh${randomBytes(8).toString('hex')}`): SignedRequest {
  const raw = JSON.stringify(body);
  return { body: raw, headers: { 'content-type': 'application/json', 'x-webhook-id': webhookId, ...(signPagerDutyWebhook(raw, key) as Record<string, string>) } };
}
