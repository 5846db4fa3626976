import { EVENT_CONTRACT_VERSION, MESSAGE_TEXT_MAX_LENGTH, type SlackActionEvent, type SlackChannelEvent, type SlackMessageEvent, type SlackReplyEvent } from '../events';
import { InvalidInputError } from '../errors';

/** The action id of the Check Status button, shared by the renderer and the ingress. */
export const CHECK_STATUS_ACTION_ID = 'check_status';
/** The buttons of the confirmation a customer may ask for before paging. */
export const PAGE_ONCALL_ACTION_ID = 'page_oncall';
export const CANCEL_PAGE_ACTION_ID = 'cancel_page';
const OUR_ACTIONS = new Set([CHECK_STATUS_ACTION_ID, PAGE_ONCALL_ACTION_ID, CANCEL_PAGE_ACTION_ID]);

type Json = Record<string, unknown>;

/**
 * The Events API event types the ingress acts on; every other event is acknowledged and dropped.
 * normalizeEventCallback dispatches on this list, and the app manifest's test checks that Slack is
 * asked to send each of them (and nothing else).
 */
export const HANDLED_EVENT_TYPES = ['app_mention', 'message', 'channel_shared', 'channel_unshared'] as const;
export type HandledEventType = (typeof HANDLED_EVENT_TYPES)[number];

/**
 * The `message` events acted on (a person's reply in an escalation's thread): those in these
 * conversation types (`channel_type`: public and private channels, never DMs), and only plain
 * messages: no subtype is acted on (edits, deletions, joins, bot messages, thread broadcasts…).
 */
export const HANDLED_MESSAGE_CHANNEL_TYPES: readonly string[] = ['channel', 'group'];
export const HANDLED_MESSAGE_SUBTYPES: readonly string[] = [];

const isHandledEventType = (type: unknown): type is HandledEventType => (HANDLED_EVENT_TYPES as readonly unknown[]).includes(type);

function asObject(value: unknown): Json | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : undefined;
}

function requireString(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') throw new InvalidInputError(`${what} is missing`);
  return value;
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * Who acts, as the delivery gate needs it: the app the request is for, and the person's own
 * organization (in a Slack Connect channel, `user_team` names it; `team` is the fallback).
 */
function actorOf(appId: unknown, userTeam: unknown): { appId?: string; userTeam?: string } {
  const app = optionalString(appId);
  const org = optionalString(userTeam);
  return { ...(app ? { appId: app } : {}), ...(org ? { userTeam: org } : {}) };
}

/**
 * A message's text as the queue carries it: cut to MESSAGE_TEXT_MAX_LENGTH (never inside a
 * surrogate pair), with how long it was when cut, so an over-long message is answered, not parked.
 */
function carriedText(value: unknown): { text: string; cut?: number } {
  const text = typeof value === 'string' ? value : '';
  if (text.length <= MESSAGE_TEXT_MAX_LENGTH) return { text };
  let end = MESSAGE_TEXT_MAX_LENGTH;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return { text: text.slice(0, end), cut: Array.from(text).length };
}

/**
 * A message another app, a bot or a workflow posted: it never pages and gets no answer (an app
 * that mentions the bot is not a customer asking for help).
 */
function isFromBot(event: Json): boolean {
  return event.bot_id !== undefined || event.subtype === 'bot_message' || event.bot_profile !== undefined || event.app_id !== undefined;
}

/** `channel_shared` / `channel_unshared` → our event. */
function normalizeChannelChange(envelope: Json, event: Json, receivedAt: Date): SlackChannelEvent {
  const shared = event.type === 'channel_shared';
  return {
    v: EVENT_CONTRACT_VERSION,
    kind: 'slack.channel',
    id: requireString(envelope.event_id, 'event_id'),
    change: shared ? 'shared' : 'unshared',
    team: requireString(envelope.team_id, 'team_id'),
    channel: requireString(event.channel, 'event.channel'),
    org: requireString(shared ? event.connected_team_id : event.previously_connected_team_id, shared ? 'event.connected_team_id' : 'event.previously_connected_team_id'),
    ...actorOf(envelope.api_app_id, undefined),
    receivedAt: receivedAt.toISOString(),
  };
}

/**
 * A `message` event that a person posted as a reply in a thread of a channel → our reply;
 * undefined for top-level messages, bots, apps and workflows, every subtype (edits, deletions,
 * joins…) and conversations that are not channels (DMs).
 * A message that mentions the bot also arrives as `app_mention` and pages, so it is not a reply.
 */
function normalizeThreadReply(envelope: Json, event: Json, receivedAt: Date): SlackReplyEvent | undefined {
  const threadTs = optionalString(event.thread_ts);
  const ts = optionalString(event.ts);
  if (!threadTs || !ts || threadTs === ts || isFromBot(event)) return undefined;
  if (event.subtype !== undefined && !HANDLED_MESSAGE_SUBTYPES.includes(String(event.subtype))) return undefined;
  if (!HANDLED_MESSAGE_CHANNEL_TYPES.includes(String(event.channel_type))) return undefined;
  const carried = carriedText(event.text);
  const authorizations = Array.isArray(envelope.authorizations) ? envelope.authorizations : [];
  const botUserId = optionalString(asObject(authorizations[0])?.user_id);
  if (botUserId && carried.text.includes(`<@${botUserId}>`)) return undefined;
  return {
    v: EVENT_CONTRACT_VERSION,
    kind: 'slack.reply',
    id: requireString(envelope.event_id, 'event_id'),
    team: requireString(envelope.team_id ?? event.team, 'team_id'),
    channel: requireString(event.channel, 'event.channel'),
    threadTs,
    ts,
    user: requireString(event.user, 'event.user'),
    ...actorOf(envelope.api_app_id, event.user_team ?? event.team),
    ...carried,
    receivedAt: receivedAt.toISOString(),
  };
}

/**
 * An Events API `event_callback` envelope → our event: an `app_mention` by a person, a person's
 * reply in a thread, or a change of who the channel is shared with; undefined for everything
 * else (bots' messages included).
 */
export function normalizeEventCallback(envelope: Json, receivedAt: Date): SlackMessageEvent | SlackChannelEvent | SlackReplyEvent | undefined {
  const event = asObject(envelope.event);
  if (!event) throw new InvalidInputError('event_callback has no event object');
  const type = event.type;
  if (!isHandledEventType(type)) return undefined;
  switch (type) {
    case 'channel_shared':
    case 'channel_unshared':
      return normalizeChannelChange(envelope, event, receivedAt);
    case 'message':
      return normalizeThreadReply(envelope, event, receivedAt);
    case 'app_mention':
      return normalizeMention(envelope, event, receivedAt);
  }
}

/** An `app_mention` by a person → our message; undefined when a bot, an app or a workflow mentions us. */
function normalizeMention(envelope: Json, event: Json, receivedAt: Date): SlackMessageEvent | undefined {
  if (isFromBot(event)) return undefined;
  const authorizations = Array.isArray(envelope.authorizations) ? envelope.authorizations : [];
  const botUserId = optionalString(asObject(authorizations[0])?.user_id);
  const threadTs = optionalString(event.thread_ts);
  return {
    v: EVENT_CONTRACT_VERSION,
    kind: 'slack.message',
    id: requireString(envelope.event_id, 'event_id'),
    via: 'mention',
    team: requireString(envelope.team_id ?? event.team, 'team_id'),
    channel: requireString(event.channel, 'event.channel'),
    user: requireString(event.user, 'event.user'),
    ...carriedText(event.text),
    ts: requireString(event.ts, 'event.ts'),
    ...(threadTs ? { threadTs } : {}),
    ...(botUserId ? { botUserId } : {}),
    ...actorOf(envelope.api_app_id, event.user_team ?? event.team),
    receivedAt: receivedAt.toISOString(),
  };
}

/** A slash command's form fields → our event. */
export function normalizeSlashCommand(form: URLSearchParams, receivedAt: Date): SlackMessageEvent {
  const channelName = optionalString(form.get('channel_name'));
  const responseUrl = optionalString(form.get('response_url'));
  return {
    v: EVENT_CONTRACT_VERSION,
    kind: 'slack.message',
    id: requireString(form.get('trigger_id'), 'trigger_id'),
    via: 'command',
    team: requireString(form.get('team_id'), 'team_id'),
    channel: requireString(form.get('channel_id'), 'channel_id'),
    ...(channelName ? { channelName } : {}),
    user: requireString(form.get('user_id'), 'user_id'),
    ...carriedText(form.get('text')),
    ...actorOf(form.get('api_app_id'), form.get('team_id')),
    ...(responseUrl ? { responseUrl } : {}),
    receivedAt: receivedAt.toISOString(),
  };
}

/** A `block_actions` payload → our event for the first of our actions in it, or undefined. */
export function normalizeBlockActions(payload: Json, receivedAt: Date): SlackActionEvent | undefined {
  const actions = Array.isArray(payload.actions) ? payload.actions.map(asObject) : [];
  const action = actions.find((a) => typeof a?.action_id === 'string' && OUR_ACTIONS.has(a.action_id));
  if (!action) return undefined;
  const container = asObject(payload.container) ?? {};
  const channel = optionalString(asObject(payload.channel)?.id) ?? optionalString(container.channel_id);
  const messageTs = optionalString(container.message_ts);
  const responseUrl = optionalString(payload.response_url);
  return {
    v: EVENT_CONTRACT_VERSION,
    kind: 'slack.action',
    id: requireString(payload.trigger_id ?? action.action_ts, 'trigger_id'),
    actionId: String(action.action_id),
    value: typeof action.value === 'string' ? action.value.slice(0, 2000) : '',
    team: requireString(asObject(payload.team)?.id ?? asObject(payload.user)?.team_id, 'team.id'),
    channel: requireString(channel, 'channel.id'),
    user: requireString(asObject(payload.user)?.id, 'user.id'),
    ...actorOf(payload.api_app_id, asObject(payload.user)?.team_id ?? asObject(payload.team)?.id),
    ...(messageTs ? { messageTs } : {}),
    ...(responseUrl ? { responseUrl } : {}),
    receivedAt: receivedAt.toISOString(),
  };
}
