import type { SlackQueueEvent } from './slack-events';
import type { PagerDutyQueueEvent } from './pagerduty-events';

/**
 * The event contract as the functions name it: the contract itself (./event-contract.ts) and each
 * queue's events (./slack-events.ts, ./pagerduty-events.ts, types only here), and where each event is
 * queued.
 */
export { EVENT_CONTRACT_VERSION, INCIDENT_STATUSES, MESSAGE_TEXT_MAX_LENGTH, PAGERDUTY_HANDLED_EVENT_TYPES, STATUS_UPDATE_MAX_LENGTH, WEBHOOK_MAX_AGE_MS } from './event-contract';
export type { IncidentStatus, PagerDutyEventType } from './event-contract';
export type { SlackActionEvent, SlackChannelEvent, SlackMessageEvent, SlackQueueEvent, SlackReplyEvent } from './slack-events';
export type { ConfirmationRefreshEvent, FollowersNoteEvent, IncidentLinkEvent, PagerDutyIncidentEvent, PagerDutyQueueEvent } from './pagerduty-events';

/** Where a queued event goes: FIFO group (ordering) and de-duplication id. */
export interface QueueRouting {
  groupId: string;
  deduplicationId: string;
}

/** Slack events are ordered per channel: a customer's messages are handled in the order sent. */
export function slackRouting(event: SlackQueueEvent): QueueRouting {
  return { groupId: event.channel, deduplicationId: `${event.kind}:${event.id}` };
}

/**
 * PagerDuty events are ordered per incident, as PagerDuty delivers them; one channel's part of an
 * event, per escalation. A confirmation refresh has a group of its own per escalation: its paced
 * wait holds up nothing but later refreshes of the same confirmation.
 */
export function pagerDutyRouting(event: PagerDutyQueueEvent): QueueRouting {
  if (event.kind === 'confirmation.refresh') return { groupId: `confirmation.${event.dedupKey}`, deduplicationId: `${event.kind}:${event.id}` };
  if (event.kind === 'incident.link') return { groupId: `link.${event.dedupKey}`, deduplicationId: `${event.kind}:${event.id}` };
  if (event.kind === 'incident.followers') return { groupId: `followers.${event.incidentId}`, deduplicationId: `${event.kind}:${event.id}` };
  return { groupId: event.incident.id, deduplicationId: event.webhookId ?? event.id };
}
