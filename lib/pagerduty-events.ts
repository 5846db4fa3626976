import * as v from 'valibot';
import { EVENT_CONTRACT_VERSION, INCIDENT_STATUSES, isoTime, nonEmpty, optionalText, PAGERDUTY_HANDLED_EVENT_TYPES, parseWith, STATUS_UPDATE_MAX_LENGTH } from './event-contract';

/** The PagerDuty queue's events (the contract: ./event-contract.ts): what the pagerduty-ingress queues and the pagerduty-worker reads back, and what it queues for itself. */

/**
 * One PagerDuty webhook (v3) about an incident, reduced to what routing needs and what a customer
 * may ever see. PagerDuty's title, URL, number, service, escalation policy, teams, priority and
 * notes are dropped at the ingress: they are the provider's, and what never enters the queue
 * cannot be shown to a customer by a later change.
 */
export const PagerDutyIncidentEventSchema = v.object({
  v: v.literal(EVENT_CONTRACT_VERSION),
  kind: v.literal('pagerduty.incident'),
  /** PagerDuty's event.id. */
  id: nonEmpty,
  webhookId: optionalText,
  eventType: v.picklist(PAGERDUTY_HANDLED_EVENT_TYPES),
  occurredAt: isoTime,
  /** The person who did it; null when the agent is a service, an integration or automation (or absent). */
  agentName: v.nullable(v.pipe(v.string(), v.maxLength(400))),
  incident: v.object({
    id: nonEmpty,
    status: v.optional(v.picklist(INCIDENT_STATUSES)),
    urgency: optionalText,
    /** Routing evidence only: equals one of our dedup keys when our trigger opened the incident. */
    incidentKey: optionalText,
    /** The people it is assigned to (user references only). */
    assignees: v.array(v.pipe(v.string(), v.maxLength(400))),
    /** Set when PagerDuty resolved this incident by merging it into another one. */
    mergedInto: optionalText,
  }),
  /**
   * A status update's message (`incident.status_update_published`): the text on-call wrote for
   * stakeholders, the one piece of a note-type payload that is kept. Bounded like Slack's own
   * section text, so a long update cannot make a post Slack refuses.
   */
  statusUpdate: v.optional(v.pipe(v.string(), v.maxLength(STATUS_UPDATE_MAX_LENGTH))),
  receivedAt: isoTime,
});

/**
 * A channel's confirmation should show its escalation as it stands now (chat.update). Not from
 * outside: the pagerduty-worker queues it for itself after telling a channel of a change, so that
 * re-rendering hundreds of confirmations is paced under Slack's chat.update limit and never holds
 * up the posts customers read first. It names a link, not what to show: the link is read when the
 * turn comes, so several changes queued meanwhile cost one update.
 */
export const ConfirmationRefreshEventSchema = v.object({
  v: v.literal(EVENT_CONTRACT_VERSION),
  kind: v.literal('confirmation.refresh'),
  /** The change that asked for it (its PagerDuty event id) and the link: a retry asks again with the same id. */
  id: nonEmpty,
  dedupKey: nonEmpty,
  channel: nonEmpty,
  requestedAt: isoTime,
});

/**
 * One channel's part of a PagerDuty event that concerns many (an outage merged into one incident):
 * queued by the pagerduty-worker for itself, one per escalation, so each channel is told and
 * retried on its own. Carries the event as the ingress normalized it, nothing more.
 */
export const IncidentLinkEventSchema = v.object({
  v: v.literal(EVENT_CONTRACT_VERSION),
  kind: v.literal('incident.link'),
  /** The event's id and the escalation's dedup key: a retry of the fan-out queues the same id. */
  id: nonEmpty,
  dedupKey: nonEmpty,
  /** For a merge: the status of the incident the escalation goes on in, read when the merge was handled. */
  targetStatus: v.optional(v.picklist(INCIDENT_STATUSES)),
  /**
   * How many escalations the incident held when the event was handled: what a status update may
   * show is decided from it (its text only for an incident that is one escalation's own). Absent
   * (an older message): more than one, as every fan-out is.
   */
  followers: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
  event: PagerDutyIncidentEventSchema,
});

/**
 * On-call should be told who follows an incident merges have changed the followers of. Not from
 * outside: a merge queues it for the incident merged into, one per settle window (its id), and it
 * waits until `dueAt`, the window's end, so an outage merged into one incident is one note read
 * once, not a note and a read of every follower per merge.
 */
export const FollowersNoteEventSchema = v.object({
  v: v.literal(EVENT_CONTRACT_VERSION),
  kind: v.literal('incident.followers'),
  /** The incident and the window: every merge into it in one window queues the same id. */
  id: nonEmpty,
  incidentId: nonEmpty,
  dueAt: isoTime,
});

export type PagerDutyIncidentEvent = v.InferOutput<typeof PagerDutyIncidentEventSchema>;
export type IncidentLinkEvent = v.InferOutput<typeof IncidentLinkEventSchema>;
export type ConfirmationRefreshEvent = v.InferOutput<typeof ConfirmationRefreshEventSchema>;
export type FollowersNoteEvent = v.InferOutput<typeof FollowersNoteEventSchema>;
/** What the PagerDuty queue carries: webhooks from PagerDuty, and the worker's own per-channel parts, confirmation refreshes and followers notes. */
export type PagerDutyQueueEvent = PagerDutyIncidentEvent | IncidentLinkEvent | ConfirmationRefreshEvent | FollowersNoteEvent;
const PagerDutyQueueEventSchema = v.variant('kind', [PagerDutyIncidentEventSchema, IncidentLinkEventSchema, ConfirmationRefreshEventSchema, FollowersNoteEventSchema]);

/** Read a message of the PagerDuty queue back, or throw InvalidInputError saying what is wrong. */
export function parsePagerDutyQueueEvent(body: string): PagerDutyQueueEvent {
  return parseWith(PagerDutyQueueEventSchema, body);
}
