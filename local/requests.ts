import { signPagerDutyWebhook } from '../lib/pagerduty/signature';
import { signSlackRequest } from '../lib/slack/signature';
import { STAND_IN_BOT_USER_ID } from './stand-ins/slack';

let counter = 0;
const unique = () => `${Date.now().toString(36)}${(counter++).toString(36)}`;

/** An `app_mention` envelope as Slack sends it. */
export function mentionEnvelope(input: { channel: string; text: string; user?: string; team?: string; ts?: string; threadTs?: string; eventId?: string }) {
  const ts = input.ts ?? `${Math.floor(Date.now() / 1000)}.${String(counter++).padStart(6, '0')}`;
  return {
    token: 'deprecated',
    team_id: input.team ?? 'T0PROVIDER',
    api_app_id: 'A0PDROUTER',
    type: 'event_callback',
    event_id: input.eventId ?? `Ev${unique()}`,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [{ team_id: input.team ?? 'T0PROVIDER', user_id: STAND_IN_BOT_USER_ID, is_bot: true }],
    event: {
      type: 'app_mention',
      user: input.user ?? 'UCUSTOMER1',
      text: `<@${STAND_IN_BOT_USER_ID}> ${input.text}`,
      ts,
      channel: input.channel,
      team: input.team ?? 'T0PROVIDER',
      event_ts: ts,
      ...(input.threadTs ? { thread_ts: input.threadTs } : {}),
    },
  };
}

export function checkStatusPayload(input: { channel: string; value: string; user?: string; team?: string; actionId?: string }) {
  return {
    type: 'block_actions',
    trigger_id: `trig${unique()}`,
    team: { id: input.team ?? 'T0PROVIDER' },
    user: { id: input.user ?? 'UCUSTOMER1', team_id: input.team ?? 'T0PROVIDER' },
    channel: { id: input.channel, name: input.channel.toLowerCase() },
    container: { type: 'message', channel_id: input.channel, message_ts: '1700000000.000100' },
    response_url: 'https://hooks.slack.test/actions/x',
    actions: [{ action_id: input.actionId ?? 'check_status', block_id: 'b', value: input.value, type: 'button', action_ts: String(Date.now() / 1000) }],
  };
}

export interface SignedRequest {
  body: string;
  headers: Record<string, string>;
}

export function signedSlackJson(secret: string, body: unknown, nowSeconds = Math.floor(Date.now() / 1000)): SignedRequest {
  const raw = JSON.stringify(body);
  return { body: raw, headers: { 'content-type': 'application/json', ...(signSlackRequest(secret, raw, nowSeconds) as Record<string, string>) } };
}

export function signedSlackForm(secret: string, form: Record<string, string>, nowSeconds = Math.floor(Date.now() / 1000)): SignedRequest {
  const raw = new URLSearchParams(form).toString();
  return { body: raw, headers: { 'content-type': 'application/x-www-form-urlencoded', ...(signSlackRequest(secret, raw, nowSeconds) as Record<string, string>) } };
}

export function signedWebhook(key: string, body: unknown, webhookId = `wh${unique()}`): SignedRequest {
  const raw = JSON.stringify(body);
  return { body: raw, headers: { 'content-type': 'application/json', 'x-webhook-id': webhookId, ...(signPagerDutyWebhook(raw, key) as Record<string, string>) } };
}

export async function post(url: string, request: SignedRequest, extraHeaders: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { method: 'POST', headers: { ...request.headers, ...extraHeaders }, body: request.body });
  return { status: response.status, body: await response.text() };
}
