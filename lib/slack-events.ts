import * as v from 'valibot';
import { cutFrom, EVENT_CONTRACT_VERSION, isoTime, MESSAGE_TEXT_MAX_LENGTH, nonEmpty, optionalText, parseWith } from './event-contract';

/** The Slack queue's events (the contract: ./event-contract.ts): what the slack-ingress queues and the slack-worker reads back. */

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

export type SlackMessageEvent = v.InferOutput<typeof SlackMessageEventSchema>;
export type SlackActionEvent = v.InferOutput<typeof SlackActionEventSchema>;
export type SlackChannelEvent = v.InferOutput<typeof SlackChannelEventSchema>;
export type SlackReplyEvent = v.InferOutput<typeof SlackReplyEventSchema>;
export type SlackQueueEvent = SlackMessageEvent | SlackActionEvent | SlackChannelEvent | SlackReplyEvent;

const SlackQueueEventSchema = v.variant('kind', [SlackMessageEventSchema, SlackActionEventSchema, SlackChannelEventSchema, SlackReplyEventSchema]);

/** Read a message of the Slack queue back, or throw InvalidInputError saying what is wrong. */
export function parseSlackQueueEvent(body: string): SlackQueueEvent {
  return parseWith(SlackQueueEventSchema, body);
}
