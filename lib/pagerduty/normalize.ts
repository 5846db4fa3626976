import { EVENT_CONTRACT_VERSION, INCIDENT_STATUSES, PAGERDUTY_HANDLED_EVENT_TYPES, type IncidentStatus, type PagerDutyEventType, type PagerDutyIncidentEvent } from '../events';
import { InvalidInputError } from '../runtime/errors';

type Json = Record<string, unknown>;

function asObject(value: unknown): Json | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : undefined;
}

function text(value: unknown, max = 4000): string | undefined {
  return typeof value === 'string' && value !== '' ? value.slice(0, max) : undefined;
}

/** Why a genuine webhook was not turned into an event: each of these is answered 2xx. */
export type IgnoredReason = 'ping' | 'not an incident' | 'unhandled event type';

/**
 * A v3 webhook body (already parsed, signature already checked) → our event, or the reason we
 * do not use it. Only fields a customer may see, or that we need to route, are kept: no notes,
 * no e-mail addresses.
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
  const data = asObject(event.data);
  const incidentId = text(data?.id);
  if (!data || !incidentId) throw new InvalidInputError('event.data.id (the incident) is missing');
  const occurred = new Date(typeof event.occurred_at === 'string' ? event.occurred_at : NaN);
  if (Number.isNaN(occurred.getTime())) throw new InvalidInputError('event.occurred_at is not a time');
  const status = INCIDENT_STATUSES.find((s) => s === data.status);
  const assignees = (Array.isArray(data.assignees) ? data.assignees : [])
    .map((a) => text(asObject(a)?.summary, 400))
    .filter((s): s is string => s !== undefined);
  const agentName = text(asObject(event.agent)?.summary, 400) ?? null;
  const number = typeof data.number === 'number' && Number.isFinite(data.number) ? data.number : undefined;
  const title = text(data.title);
  const urgency = text(data.urgency, 40);
  const htmlUrl = text(data.html_url, 2000);
  const incidentKey = text(data.incident_key, 255);
  const priority = text(asObject(data.priority)?.summary, 100);
  return {
    v: EVENT_CONTRACT_VERSION,
    kind: 'pagerduty.incident',
    id,
    ...(webhookId ? { webhookId: webhookId.slice(0, 200) } : {}),
    eventType: eventType as PagerDutyEventType,
    occurredAt: occurred.toISOString(),
    agentName,
    incident: {
      id: incidentId,
      ...(number !== undefined ? { number } : {}),
      ...(title ? { title } : {}),
      ...(status ? { status } : {}),
      ...(urgency ? { urgency } : {}),
      ...(htmlUrl ? { htmlUrl } : {}),
      ...(incidentKey ? { incidentKey } : {}),
      assignees,
      ...(priority ? { priority } : {}),
    },
    receivedAt: receivedAt.toISOString(),
  };
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
