import { startStack, type LocalStack, type StackOptions } from '../../local/stack';
import { STAND_IN_BOT_USER_ID, type RecordedCall } from '../../local/stand-ins/slack';
import type { StandInIncident } from '../../local/stand-ins/pagerduty';
import { ensureCustomer } from '../../local/world/customers';
import { signedWebhook } from '../../local/events/pagerduty';
import { post } from '../../local/events/request';
import { checkStatusPayload, mentionEnvelope, signedClick, signedSlackForm, signedSlackJson, slashCommandForm } from '../../local/events/slack';

/**
 * A sandbox stack tuned for tests: fast retries, quiet logs, and PagerDuty numbers far from the
 * channels' own references (as in a real account), so a leaked number cannot pass for a reference.
 */
export function startTestStack(options: StackOptions = {}): Promise<LocalStack> {
  return startStack({ env: {}, visibilityTimeoutSeconds: 1, retryBaseSeconds: 0, logLevel: 'silent', ...options, standIns: { firstIncidentNumber: 1001, ...options.standIns } });
}

/**
 * Slack sends an Events API envelope to the router, `retries` more times as its retries: only
 * when the app manifest subscribes to the event (the Slack stand-in's check); otherwise an
 * error naming why Slack would never send it.
 */
export async function slackSends(stack: LocalStack, envelope: { event: { type?: unknown; channel_type?: unknown } }, retries = 0) {
  const delivery = stack.slack!.delivers(envelope.event);
  if (!delivery.delivered) throw new Error(`Slack would not send this ${String(envelope.event.type)} event: ${delivery.reason}`);
  const request = signedSlackJson(stack.secrets.SLACK_SIGNING_SECRET, envelope);
  const responses = [await post(`${stack.url}/slack/events`, request)];
  for (let retry = 1; retry <= retries; retry++) {
    responses.push(await post(`${stack.url}/slack/events`, request, { 'x-slack-retry-num': String(retry), 'x-slack-retry-reason': 'http_timeout' }));
  }
  return responses;
}

/** A customer mentions the bot in a channel: the message lands in the stand-in, then Slack's signed event reaches the router. */
export async function mention(stack: LocalStack, channel: string, text: string, extra: { user?: string; retries?: number; unregistered?: boolean } = {}) {
  if (!extra.unregistered) await ensureCustomer(stack, channel);
  const message = stack.slack!.recordCustomerMessage(channel, extra.user ?? 'UCUSTOMER1', `<@${STAND_IN_BOT_USER_ID}> ${text}`);
  const envelope = mentionEnvelope({ channel, text, ts: message.ts, ...(extra.user ? { user: extra.user } : {}) });
  const responses = await slackSends(stack, envelope, extra.retries ?? 0);
  return { envelope, ts: message.ts, responses };
}

export function clickCheckStatus(stack: LocalStack, channel: string, value: string, user = 'UCUSTOMER1') {
  return post(`${stack.url}/slack/events`, signedClick(stack.secrets.SLACK_SIGNING_SECRET, checkStatusPayload({ channel, value, user })));
}

export async function slashCommand(stack: LocalStack, channel: string, text: string, triggerId: string, extra: { unregistered?: boolean; user?: string } = {}) {
  if (!extra.unregistered) await ensureCustomer(stack, channel);
  const user = extra.user ?? 'UCUSTOMER1';
  const form = slashCommandForm({ channel, text, triggerId, user, responseUrl: stack.slack!.responseUrl(channel, user) });
  return post(`${stack.url}/slack/events`, signedSlackForm(stack.secrets.SLACK_SIGNING_SECRET, form));
}

/**
 * A mention from `channel` (registered with `settings`) that PagerDuty's alert grouping puts into
 * the newest open incident of its service; returns its dedup key once the stack is idle.
 */
export async function escalateGrouped(stack: LocalStack, channel: string, text: string, settings: Parameters<typeof ensureCustomer>[2] = {}): Promise<string> {
  await ensureCustomer(stack, channel, settings);
  stack.pagerDuty!.grouping = true;
  try {
    await mention(stack, channel, `escalate ${text}`);
    await stack.waitForIdle();
  } finally {
    stack.pagerDuty!.grouping = false;
  }
  return stack.pagerDuty!.triggers.at(-1)!.dedupKey;
}

/** Send PagerDuty's webhook for an incident event by hand (the tests that control order turn the stand-in's own sending off). */
export function sendWebhook(stack: LocalStack, incident: StandInIncident, eventType: string, occurredAt: string, eventId: string, by: string | null = 'Dana Scully') {
  const body = stack.pagerDuty!.webhookBody(incident, eventType, by, occurredAt, eventId);
  return post(`${stack.url}/pagerduty/webhooks`, signedWebhook(stack.secrets.PAGER_DUTY_SIGNING_KEY, body, `wh-${eventId}`));
}

/** The effect key pd-router stamps on a post (what makes a retry recognisable as the same post). */
export function effectKeyOf(call: RecordedCall): string | undefined {
  const raw = call.args.metadata;
  const metadata = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { event_payload?: { key?: string } } | undefined;
  return metadata?.event_payload?.key;
}

/** The posts (chat.postMessage calls) stamped with an effect key, in the order Slack received them. */
export function postsWithKey(stack: LocalStack, key: string): RecordedCall[] {
  return stack.slack!.calls.filter((c) => c.method === 'chat.postMessage' && effectKeyOf(c) === key);
}

/** Messages the bot posted in a channel (the customers' own messages left out). */
export function botMessages(stack: LocalStack, channel: string) {
  return stack.slack!.channelMessages(channel).filter((m) => m.user === STAND_IN_BOT_USER_ID);
}

export const confirmationOf = (stack: LocalStack, channel: string) =>
  botMessages(stack, channel).filter((m) => String(m.metadata?.event_payload.key ?? '').startsWith('confirm:'));

/** The shown status word of a rendered message (`*Status:* :emoji: Word`). */
export function shownStatus(message: { blocks?: unknown[] }): string | undefined {
  const match = /\*Status:\* :[a-z_]+: (Triggered|Acknowledged|Resolved)/.exec(JSON.stringify(message.blocks ?? []));
  return match ? match[1]!.toLowerCase() : undefined;
}

/**
 * The events of an escalation's own incident its thread tells, one post each: every one delivered
 * but the incident's opening, which its confirmation ("On-call has been paged", Triggered) says.
 */
export function eventsToldOf(stack: LocalStack, incidentId: string): string[] {
  return [...new Set(stack.pagerDuty!.deliveries.filter((d) => d.incidentId === incidentId && d.eventType !== 'incident.triggered').map((d) => d.eventId))];
}
