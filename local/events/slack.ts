import { randomBytes } from 'node:crypto';
import { signSlackRequest } from '../../lib/slack/signature';
import { STAND_IN_APP_ID, STAND_IN_BOT_USER_ID, STAND_IN_TEAM_ID } from '../stand-ins/slack';
import type { SignedRequest } from './request';

/**
 * What Slack sends the app, built one way for everyone who plays Slack: the tests, the benchmark,
 * the sandbox console and `npm run escalate`. Each factory fills in what Slack always sends, so a
 * caller names only what its case is about.
 */

let counter = 0;
const unique = () => `${Date.now().toString(36)}${(counter++).toString(36)}`;
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Which installation a request comes from: the workspace and the app (the sandbox calls itself ASANDBOX). */
export interface Installation {
  team?: string;
  appId?: string;
}

/** An Events API `event_callback` envelope around `event`, for the bot of `team`. */
export function eventCallback<E extends Record<string, unknown>>(event: E, options: Installation & { eventId?: string; sharedChannel?: boolean } = {}) {
  const team = options.team ?? STAND_IN_TEAM_ID;
  return {
    token: 'deprecated',
    team_id: team,
    api_app_id: options.appId ?? STAND_IN_APP_ID,
    type: 'event_callback' as const,
    event_id: options.eventId ?? `Ev${unique()}`,
    event_time: nowSeconds(),
    authorizations: [{ team_id: team, user_id: STAND_IN_BOT_USER_ID, is_bot: true }],
    ...(options.sharedChannel ? { is_ext_shared_channel: true } : {}),
    event,
  };
}

/** An `app_mention` envelope as Slack sends it: `text` is what follows the mention of the bot. */
export function mentionEnvelope(input: Installation & { channel: string; text: string; user?: string; ts?: string; threadTs?: string; eventId?: string }) {
  const ts = input.ts ?? `${nowSeconds()}.${String(counter++).padStart(6, '0')}`;
  const team = input.team ?? STAND_IN_TEAM_ID;
  const event = {
    type: 'app_mention',
    user: input.user ?? 'UCUSTOMER1',
    text: `<@${STAND_IN_BOT_USER_ID}> ${input.text}`,
    ts,
    channel: input.channel,
    team,
    event_ts: ts,
    ...(input.threadTs ? { thread_ts: input.threadTs } : {}),
  };
  return eventCallback(event, { team, ...(input.appId ? { appId: input.appId } : {}), ...(input.eventId ? { eventId: input.eventId } : {}) });
}

/** A slash command's form fields as Slack posts them (`/piiano-pd-trigger escalate …`). */
export function slashCommandForm(input: Installation & { channel: string; text: string; user?: string; command?: string; triggerId?: string; responseUrl?: string }): Record<string, string> {
  const user = input.user ?? 'UCUSTOMER1';
  return {
    token: 'deprecated',
    team_id: input.team ?? STAND_IN_TEAM_ID,
    channel_id: input.channel,
    channel_name: input.channel.toLowerCase(),
    user_id: user,
    user_name: user.toLowerCase(),
    command: input.command ?? '/piiano-pd-trigger',
    text: input.text,
    api_app_id: input.appId ?? STAND_IN_APP_ID,
    response_url: input.responseUrl ?? 'https://hooks.slack.test/commands/1',
    trigger_id: input.triggerId ?? `${Date.now()}.${randomBytes(6).toString('hex')}`,
  };
}

/** A button as a message's actions block holds it, and as Slack echoes it back in a click. */
export interface SlackButton {
  action_id: string;
  value?: string;
  text?: { type?: string; text?: string };
  style?: string;
}

/**
 * A `block_actions` payload: `user` clicked `button` in the actions block `blockId` of the message
 * `messageTs` in `channel`. `message` is the message as Slack shows it to the app (it leaves it out
 * for an ephemeral one).
 */
export function blockActionsPayload(
  input: Installation & { channel: string; button: SlackButton; user?: string; messageTs?: string; blockId?: string; message?: Record<string, unknown>; isEphemeral?: boolean; responseUrl?: string },
) {
  const team = input.team ?? STAND_IN_TEAM_ID;
  const user = input.user ?? 'UCUSTOMER1';
  const { button } = input;
  return {
    type: 'block_actions' as const,
    user: { id: user, username: user.toLowerCase(), name: user.toLowerCase(), team_id: team },
    ...(input.appId ? { api_app_id: input.appId } : {}),
    token: 'deprecated',
    container: { type: 'message', message_ts: input.messageTs ?? '1700000000.000100', channel_id: input.channel, is_ephemeral: input.isEphemeral ?? false },
    trigger_id: `trig${unique()}`,
    team: { id: team },
    channel: { id: input.channel, name: input.channel.toLowerCase() },
    ...(input.message && !input.isEphemeral ? { message: { ...input.message, team } } : {}),
    state: { values: {} },
    response_url: input.responseUrl ?? 'https://hooks.slack.test/actions/x',
    actions: [
      {
        action_id: button.action_id,
        block_id: input.blockId ?? 'b',
        text: { type: 'plain_text', text: button.text?.text ?? '', emoji: true },
        value: button.value ?? '',
        ...(button.style ? { style: button.style } : {}),
        type: 'button',
        action_ts: (Date.now() / 1000).toFixed(6),
      },
    ],
  };
}

/** A click on a Check Status button (or, with `actionId`, another of ours) carrying `value`. */
export function checkStatusPayload(input: Installation & { channel: string; value: string; user?: string; actionId?: string }) {
  const { value, actionId, ...rest } = input;
  return blockActionsPayload({ ...rest, button: { action_id: actionId ?? 'check_status', value, text: { type: 'plain_text', text: 'Check Status' } } });
}

/** A JSON body (an Events API envelope) signed as Slack signs it. */
export function signedSlackJson(secret: string, body: unknown, at = nowSeconds()): SignedRequest {
  const raw = JSON.stringify(body);
  return { body: raw, headers: { 'content-type': 'application/json', ...(signSlackRequest(secret, raw, at) as Record<string, string>) } };
}

/** A form body (a slash command, or `payload=` for a click) signed as Slack signs it. */
export function signedSlackForm(secret: string, form: Record<string, string>, at = nowSeconds()): SignedRequest {
  const raw = new URLSearchParams(form).toString();
  return { body: raw, headers: { 'content-type': 'application/x-www-form-urlencoded', ...(signSlackRequest(secret, raw, at) as Record<string, string>) } };
}

/** A click as Slack posts it: the payload form-encoded and signed. */
export const signedClick = (secret: string, payload: unknown, at = nowSeconds()): SignedRequest => signedSlackForm(secret, { payload: JSON.stringify(payload) }, at);
