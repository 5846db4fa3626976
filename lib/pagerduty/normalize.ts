import { EVENT_CONTRACT_VERSION, INCIDENT_STATUSES, STATUS_UPDATE_MAX_LENGTH, PAGERDUTY_HANDLED_EVENT_TYPES, type IncidentStatus, type PagerDutyEventType, type PagerDutyIncidentEvent } from '../events';
import { InvalidInputError } from '../errors';

type Json = Record<string, unknown>;

function asObject(value: unknown): Json | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : undefined;
}

function text(value: unknown, max = 4000): string | undefined {
  return typeof value === 'string' && value !== '' ? value.slice(0, max) : undefined;
}

/** Why a genuine webhook was not turned into an event: each of these is answered 2xx. */
export type IgnoredReason = 'ping' | 'not an incident' | 'unhandled event type' | 'empty status update';

/**
 * A v3 webhook body (already parsed, signature already checked) → our event, or the reason we
 * do not use it. Only what routing needs and what a customer may see is kept (see the contract):
 * no title, URL, number, service, notes or e-mail addresses.
 */
export function normalizePagerDutyWebhook(body: Json, webhookId: string | undefined, receivedAt: Date): PagerDutyIncidentEvent | IgnoredReason {
  const event = asObject(body.event);
  if (!event) throw new InvalidInputError('body has no event object');
  const eventType = text(event.event_type);
  const id = text(event.id);
  if (!eventType) throw new InvalidInputError('event.event_type is missing');
  if (eventType === 'pagey.ping') return 'ping';
  if (!id) throw new InvalidInputError('event.id is missing');
  if (event.resource_type !== undefined && event.resource_type !== 'incident') return 'not an incident';
  if (!(PAGERDUTY_HANDLED_EVENT_TYPES as readonly string[]).includes(eventType)) return 'unhandled event type';
  // Note-type events (status updates) carry the incident as a reference in data.incident and
  // their own note in data; of the note only a status update's message is kept.
  const isStatusUpdate = eventType === 'incident.status_update_published';
  const data = isStatusUpdate ? asObject(asObject(event.data)?.incident) : asObject(event.data);
  const incidentId = text(data?.id);
  if (!data || !incidentId) throw new InvalidInputError(isStatusUpdate ? 'event.data.incident.id (the incident) is missing' : 'event.data.id (the incident) is missing');
  const statusUpdate = isStatusUpdate ? text(asObject(event.data)?.message, STATUS_UPDATE_MAX_LENGTH) : undefined;
  // Nothing to tell; answered 2xx like any genuine event we do not use (a 4xx would be dropped and count toward disabling the subscription).
  if (isStatusUpdate && !statusUpdate?.trim()) return 'empty status update';
  const occurred = new Date(typeof event.occurred_at === 'string' ? event.occurred_at : NaN);
  if (Number.isNaN(occurred.getTime())) throw new InvalidInputError('event.occurred_at is not a time');
  const status = INCIDENT_STATUSES.find((s) => s === data.status);
  const assignees = (Array.isArray(data.assignees) ? data.assignees : [])
    .map(asObject)
    .filter((a) => a?.type === undefined || a.type === 'user_reference')
    .map((a) => text(a?.summary, 400))
    .filter((s): s is string => s !== undefined);
  const urgency = text(data.urgency, 40);
  const incidentKey = text(data.incident_key, 255);
  const mergedInto = mergeTarget(data.resolve_reason);
  return {
    v: EVENT_CONTRACT_VERSION,
    kind: 'pagerduty.incident',
    id,
    ...(webhookId ? { webhookId: webhookId.slice(0, 200) } : {}),
    eventType: eventType as PagerDutyEventType,
    occurredAt: occurred.toISOString(),
    agentName: personName(event.agent),
    incident: {
      id: incidentId,
      ...(status ? { status } : {}),
      ...(urgency ? { urgency } : {}),
      ...(incidentKey ? { incidentKey } : {}),
      assignees,
      ...(mergedInto ? { mergedInto } : {}),
    },
    ...(statusUpdate ? { statusUpdate } : {}),
    receivedAt: receivedAt.toISOString(),
  };
}

/**
 * The agent's name when the agent is a person. Services, integrations and automations act as
 * agents too, and their names are the provider's internals ("Internal: Postgres fleet
 * auto-remediation"): those are no one a customer should read about.
 */
export function personName(agent: unknown): string | null {
  const reference = asObject(agent);
  return reference?.type === 'user_reference' ? (text(reference.summary, 400) ?? null) : null;
}

/** The incident this one was merged into, from `resolve_reason` (webhook and REST alike). */
export function mergeTarget(resolveReason: unknown): string | undefined {
  const reason = asObject(resolveReason);
  if (reason?.type !== 'merge_resolve_reason') return undefined;
  return text(asObject(reason.incident)?.id, 100);
}

/** The status an event implies when its data does not carry one. */
export function statusOf(event: PagerDutyIncidentEvent): IncidentStatus | undefined {
  if (event.incident.status) return event.incident.status;
  switch (event.eventType) {
    case 'incident.acknowledged':
      return 'acknowledged';
    case 'incident.resolved':
      return 'resolved';
    case 'incident.triggered':
    case 'incident.unacknowledged':
    case 'incident.reopened':
      return 'triggered';
    default:
      return undefined;
  }
}
