import * as v from 'valibot';
import { InvalidInputError } from './errors';

/**
 * The normalized event contract: what the ingress functions put on the queues and the workers
 * read back. It is versioned; a worker validates every message against it before acting, so a
 * message from an older or newer deploy is parked with a reason instead of half-processed.
 */
export const EVENT_CONTRACT_VERSION = 1;

/** The longest status update text kept (Slack's section text takes 3000 characters). */
export const STATUS_UPDATE_MAX_LENGTH = 2800;

/**
 * The longest message text the queue carries (Slack's own limit for a message). The ingress cuts
 * a longer one to it (lib/slack/normalize.ts) and says how long it was (`cut`), so the worker
 * answers it in the thread instead of the queue parking it unread.
 */
export const MESSAGE_TEXT_MAX_LENGTH = 40000;

const nonEmpty = v.pipe(v.string(), v.minLength(1), v.maxLength(4000));
/** How many characters the text had before the ingress cut it to MESSAGE_TEXT_MAX_LENGTH (absent: not cut). */
const cutFrom = v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)));
const optionalText = v.optional(v.pipe(v.string(), v.maxLength(4000)));
const isoTime = v.pipe(v.string(), v.isoTimestamp());

/**
 * Who acts, for the delivery gate (lib/escalation/delivery-gate.ts): optional, so that messages
 * queued before they were carried still read (the gate then knows only `team`).
 */
const actorEntries = {
  /** The request's `api_app_id`. */
  appId: optionalText,
  /** The person's own organization: `user_team` of a message event, `user.team_id` of a click (in Slack Connect, not the channel's). */
  userTeam: optionalText,
};

/** A customer's message to the bot: an `app_mention` or the slash command. */
export const SlackMessageEventSchema = v.object({
  v: v.literal(EVENT_CONTRACT_VERSION),
  kind: v.literal('slack.message'),
  /** Slack's event_id, or the slash command's trigger_id: stable across Slack's retries. */
  id: nonEmpty,
  via: v.picklist(['mention', 'command']),
  team: nonEmpty,
  channel: nonEmpty,
  channelName: optionalText,
  user: nonEmpty,
  /** The text as Slack sent it (mentions still in `<@U…>` form), cut to MESSAGE_TEXT_MAX_LENGTH. */
  text: v.pipe(v.string(), v.maxLength(MESSAGE_TEXT_MAX_LENGTH)),
  cut: cutFrom,
  botUserId: optionalText,
  ...actorEntries,
  /** The mention's own ts (absent for slash commands, which have no message). */
  ts: optionalText,
  threadTs: optionalText,
  responseUrl: optionalText,
  receivedAt: isoTime,
});

/** A click on one of our buttons (today only Check Status). */
export const SlackActionEventSchema = v.object({
  v: v.literal(EVENT_CONTRACT_VERSION),
  kind: v.literal('slack.action'),
  id: nonEmpty,
  actionId: nonEmpty,
  /** The button's value as the click carried it: untrusted, it may be copied or forged. */
  value: v.pipe(v.string(), v.maxLength(2000)),
  team: nonEmpty,
  channel: nonEmpty,
  user: nonEmpty,
  ...actorEntries,
  messageTs: optionalText,
  responseUrl: optionalText,
  receivedAt: isoTime,
});

/**
 * The channel was shared with another organization, or stopped being shared (Slack's
 * `channel_shared` / `channel_unshared`): a registered customer channel that gains an
 * organization nobody approved stops receiving updates until the provider approves it.
 */
export const SlackChannelEventSchema = v.object({
  v: v.literal(EVENT_CONTRACT_VERSION),
  kind: v.literal('slack.channel'),
  id: nonEmpty,
  change: v.picklist(['shared', 'unshared']),
  team: nonEmpty,
  channel: nonEmpty,
  /** The organization that joined or left. */
  org: nonEmpty,
  appId: actorEntries.appId,
  receivedAt: isoTime,
});

/**
 * A person's reply in a thread (Slack's `message` event with a `thread_ts` other than its own
 * `ts`): it may become a note on the incident of the escalation whose thread it is in.
 */
export const SlackReplyEventSchema = v.object({
  v: v.literal(EVENT_CONTRACT_VERSION),
  kind: v.literal('slack.reply'),
  /** Slack's event_id: stable across Slack's retries. */
  id: nonEmpty,
  team: nonEmpty,
  channel: nonEmpty,
  threadTs: nonEmpty,
  ts: nonEmpty,
  user: nonEmpty,
  ...actorEntries,
  text: v.pipe(v.string(), v.maxLength(MESSAGE_TEXT_MAX_LENGTH)),
  cut: cutFrom,
  receivedAt: isoTime,
});

export const PAGERDUTY_HANDLED_EVENT_TYPES = [
  'incident.triggered',
  'incident.acknowledged',
  'incident.unacknowledged',
  'incident.reassigned',
  'incident.escalated',
  'incident.delegated',
  'incident.reopened',
  'incident.resolved',
  'incident.priority_updated',
  'incident.status_update_published',
] as const;
export type PagerDutyEventType = (typeof PAGERDUTY_HANDLED_EVENT_TYPES)[number];

/**
 * How old (by its `occurred_at`) a PagerDuty webhook may be and still be acted on: 50 hours.
 * PagerDuty retries a delivery for up to 48 hours, so a genuine event can arrive that late; the
 * 2 hours beyond cover the queue's own retries and clock skew. Anything older is a replay (a
 * signed body captured once, sent again under a new X-Webhook-Id, which is not signed): refused,
 * logged and counted, never posted. A channel misses nothing by it: the reconciler reads each
 * open escalation's incident every RECONCILE_EVERY_SECONDS and tells what no webhook did.
 */
export const WEBHOOK_MAX_AGE_MS = 50 * 60 * 60 * 1000;

export const INCIDENT_STATUSES = ['triggered', 'acknowledged', 'resolved'] as const;
export type IncidentStatus = (typeof INCIDENT_STATUSES)[number];

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

export type SlackMessageEvent = v.InferOutput<typeof SlackMessageEventSchema>;
export type SlackActionEvent = v.InferOutput<typeof SlackActionEventSchema>;
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

export type PagerDutyIncidentEvent = v.InferOutput<typeof PagerDutyIncidentEventSchema>;
export type IncidentLinkEvent = v.InferOutput<typeof IncidentLinkEventSchema>;
export type ConfirmationRefreshEvent = v.InferOutput<typeof ConfirmationRefreshEventSchema>;
/** What the PagerDuty queue carries: webhooks from PagerDuty, and the worker's own per-channel parts and confirmation refreshes. */
export type PagerDutyQueueEvent = PagerDutyIncidentEvent | IncidentLinkEvent | ConfirmationRefreshEvent;
export type SlackChannelEvent = v.InferOutput<typeof SlackChannelEventSchema>;
export type SlackReplyEvent = v.InferOutput<typeof SlackReplyEventSchema>;
export type SlackQueueEvent = SlackMessageEvent | SlackActionEvent | SlackChannelEvent | SlackReplyEvent;

const SlackQueueEventSchema = v.variant('kind', [SlackMessageEventSchema, SlackActionEventSchema, SlackChannelEventSchema, SlackReplyEventSchema]);
const PagerDutyQueueEventSchema = v.variant('kind', [PagerDutyIncidentEventSchema, IncidentLinkEventSchema, ConfirmationRefreshEventSchema]);

function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  return issues
    .slice(0, 3)
    .map((issue) => `${v.getDotPath(issue) ?? '(root)'}: ${issue.message}`)
    .join('; ');
}

function parseBody(body: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new InvalidInputError('queue message is not JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InvalidInputError('queue message is not a JSON object');
  }
  const record = parsed as Record<string, unknown>;
  if (record.v !== EVENT_CONTRACT_VERSION) {
    throw new InvalidInputError(`queue message has contract version ${JSON.stringify(record.v)}, expected ${EVENT_CONTRACT_VERSION}`);
  }
  return record;
}

function parseWith<S extends v.GenericSchema>(schema: S, body: string): v.InferOutput<S> {
  const result = v.safeParse(schema, parseBody(body));
  if (!result.success) throw new InvalidInputError(`queue message does not match the contract: ${describeIssues(result.issues)}`);
  return result.output;
}

/** Read a message of the Slack queue back, or throw InvalidInputError saying what is wrong. */
export function parseSlackQueueEvent(body: string): SlackQueueEvent {
  return parseWith(SlackQueueEventSchema, body);
}

/** Read a message of the PagerDuty queue back, or throw InvalidInputError saying what is wrong. */
export function parsePagerDutyQueueEvent(body: string): PagerDutyQueueEvent {
  return parseWith(PagerDutyQueueEventSchema, body);
}

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
  return { groupId: event.incident.id, deduplicationId: event.webhookId ?? event.id };
}
