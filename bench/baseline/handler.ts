/**
 * BENCHMARK BASELINE: THE COMPARISON POINT, NOT PART OF pd-router. NEVER DEPLOYED.
 *
 * The design pd-router replaces, reduced to its essentials: one Lambda that does all the work
 * before it answers. A Slack escalation is answered after 4 outbound calls made one after
 * another; a PagerDuty webhook after 5. It talks to the same Slack and PagerDuty stand-ins as
 * the benchmark of the real functions, so both columns of the table come from the same run.
 * It is only referenced from bench/ (serverless.yml does not list it).
 */
import { api } from '@pagerduty/pdjs';
import { WebClient } from '@slack/web-api';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { verifyPagerDutySignature } from '../../lib/pagerduty/signature';
import { verifySlackSignature } from '../../lib/slack/signature';

type Env = Record<string, string | undefined>;

function required(env: Env, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`baseline: ${name} is not set`);
  return value;
}

/** The baseline's dedup_key names its channel and thread: the old design kept no table. */
const keyFor = (channel: string, ts: string) => `baseline|${channel}|${ts}`;

export function createBaselineHandler(env: Env) {
  const slack = new WebClient(required(env, 'SLACK_BOT_TOKEN'), { slackApiUrl: required(env, 'SLACK_API_URL') });
  const eventsUrl = new URL('v2/enqueue', required(env, 'PAGER_DUTY_EVENTS_URL').replace(/\/?$/, '/'));
  const restBase = required(env, 'PAGER_DUTY_API_URL').replace(/\/?$/, '/');
  const rest = async (path: string) => {
    const response = await api({ url: new URL(path, restBase).toString(), token: required(env, 'PAGER_DUTY_REST_API_KEY'), method: 'GET' } as never);
    if (!response.ok) throw new Error(`baseline: PagerDuty ${path} answered ${response.status}`);
    return response.data as Record<string, any>;
  };

  async function escalate(rawBody: Buffer, headers: Record<string, string | undefined>): Promise<APIGatewayProxyStructuredResultV2> {
    verifySlackSignature({ signingSecret: required(env, 'SLACK_SIGNING_SECRET'), rawBody, headers, nowSeconds: Math.floor(Date.now() / 1000) });
    const envelope = JSON.parse(rawBody.toString('utf8'));
    if (envelope.type === 'url_verification') return { statusCode: 200, body: JSON.stringify({ challenge: envelope.challenge }) };
    const event = envelope.event;
    const description = String(event.text).replace(/^<@[^>]+>\s*escalate\s*/i, '');
    const dedupKey = keyFor(event.channel, event.ts);
    // 1: the channel's name, for the incident.
    const info = await slack.conversations.info({ channel: event.channel });
    // 2: trigger.
    const trigger = await fetch(eventsUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        routing_key: required(env, 'PAGER_DUTY_EVENTS_API_KEY'),
        event_action: 'trigger',
        dedup_key: dedupKey,
        payload: { summary: description, source: `#${info.channel?.name ?? event.channel}`, severity: 'critical', custom_details: { channel_id: event.channel } },
      }),
    });
    if (trigger.status !== 202) throw new Error(`baseline: PagerDuty trigger answered ${trigger.status}`);
    // 3: the incident the trigger created, for its number.
    const found = await rest(`incidents?incident_key=${encodeURIComponent(dedupKey)}`);
    const incident = found.incidents?.[0];
    // 4: the confirmation in the thread.
    await slack.chat.postMessage({
      channel: event.channel,
      thread_ts: event.ts,
      text: `Escalated to on-call: incident #${incident?.incident_number ?? '?'} (${incident?.status ?? 'triggered'})`,
    });
    return { statusCode: 200, body: '' };
  }

  async function webhook(rawBody: Buffer, headers: Record<string, string | undefined>): Promise<APIGatewayProxyStructuredResultV2> {
    verifyPagerDutySignature({ signingKey: required(env, 'PAGER_DUTY_SIGNING_KEY'), rawBody, headers });
    const { event } = JSON.parse(rawBody.toString('utf8'));
    const id = encodeURIComponent(event.data.id);
    // 1: the incident's current state.
    const { incident } = await rest(`incidents/${id}`);
    // 2: its alerts, whose key says which channel and thread it came from.
    const { alerts } = await rest(`incidents/${id}/alerts`);
    const key = String(alerts?.[0]?.alert_key ?? '');
    const [, channel, threadTs] = key.split('|');
    if (!channel || !threadTs) return { statusCode: 200, body: '' };
    // 3: the thread, to find the confirmation to update.
    const replies = await slack.conversations.replies({ channel, ts: threadTs });
    const confirmation = replies.messages?.find((m) => m.ts !== threadTs);
    const text = `Incident #${incident.incident_number} is ${incident.status}`;
    // 4: the update in the thread.
    await slack.chat.postMessage({ channel, thread_ts: threadTs, text });
    // 5: the confirmation re-rendered with the new status.
    if (confirmation?.ts) await slack.chat.update({ channel, ts: confirmation.ts, text });
    return { statusCode: 200, body: '' };
  }

  return async function handler(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
    const rawBody = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64') : Buffer.from(event.body ?? '', 'utf8');
    try {
      if (event.rawPath === '/slack/events') return await escalate(rawBody, event.headers);
      if (event.rawPath === '/pagerduty/webhooks') return await webhook(rawBody, event.headers);
      return { statusCode: 404, body: '' };
    } catch (error) {
      return { statusCode: (error as { status?: number }).status ?? 500, body: String((error as Error).message) };
    }
  };
}

let fromEnvironment: ReturnType<typeof createBaselineHandler> | undefined;

/** The Lambda export; built on first use so the benchmark can import the factory without the variables set. */
export const handler = (event: APIGatewayProxyEventV2) => (fromEnvironment ??= createBaselineHandler(process.env))(event);
