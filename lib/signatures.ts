import { createHmac, timingSafeEqual } from 'node:crypto';
import { SignatureError } from './errors';

/** Slack's and PagerDuty's tolerance for clock skew, applied in both directions. */
export const MAX_SLACK_CLOCK_SKEW_SECONDS = 5 * 60;

function hmacHex(secret: string, message: Buffer | string): string {
  return createHmac('sha256', secret).update(message).digest('hex');
}

/** Constant-time comparison of two hex strings; unequal lengths are unequal without a timing leak of content. */
function safeEqualHex(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given, 'utf8');
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

export type HeaderBag = Record<string, string | undefined>;

/** Look a header up case-insensitively (API Gateway lower-cases, Node's http keeps what came). */
export function header(headers: HeaderBag, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}

/**
 * Verify Slack's `X-Slack-Signature` over the exact raw body. Throws SignatureError with the
 * reason; returns nothing on success. `nowSeconds` is injected so tests control the clock.
 */
export function verifySlackSignature(input: {
  signingSecret: string;
  rawBody: Buffer;
  headers: HeaderBag;
  nowSeconds: number;
}): void {
  const signature = header(input.headers, 'x-slack-signature');
  const timestamp = header(input.headers, 'x-slack-request-timestamp');
  if (!signature) throw new SignatureError('missing X-Slack-Signature header');
  if (!timestamp) throw new SignatureError('missing X-Slack-Request-Timestamp header');
  if (!/^\d{1,12}$/.test(timestamp)) throw new SignatureError('X-Slack-Request-Timestamp is not a unix time');
  const skew = input.nowSeconds - Number(timestamp);
  if (skew > MAX_SLACK_CLOCK_SKEW_SECONDS) throw new SignatureError('X-Slack-Request-Timestamp is too old');
  if (skew < -MAX_SLACK_CLOCK_SKEW_SECONDS) throw new SignatureError('X-Slack-Request-Timestamp is in the future');
  if (!signature.startsWith('v0=')) throw new SignatureError('X-Slack-Signature has an unknown version');
  const base = Buffer.concat([Buffer.from(`v0:${timestamp}:`, 'utf8'), input.rawBody]);
  if (!safeEqualHex(hmacHex(input.signingSecret, base), signature.slice(3))) {
    throw new SignatureError('X-Slack-Signature does not match');
  }
}

/** Sign a Slack request body, as Slack does. Used by the local stand-ins, scripts and tests. */
export function signSlackRequest(signingSecret: string, rawBody: string | Buffer, timestampSeconds: number): HeaderBag {
  const body = typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody;
  const base = Buffer.concat([Buffer.from(`v0:${timestampSeconds}:`, 'utf8'), body]);
  return {
    'x-slack-request-timestamp': String(timestampSeconds),
    'x-slack-signature': `v0=${hmacHex(signingSecret, base)}`,
  };
}

/**
 * Verify PagerDuty's `X-PagerDuty-Signature` (webhooks v3). The header may carry several `v1=`
 * signatures while a secret rotates, and we may hold several keys (one per subscription, when
 * PAGER_DUTY_SIGNING_KEY lists them comma-separated); any pair matching is enough. Every pair
 * is compared, so the time taken does not tell which one matched.
 */
export function verifyPagerDutySignature(input: { signingKey: string; rawBody: Buffer; headers: HeaderBag }): void {
  const headerValue = header(input.headers, 'x-pagerduty-signature');
  if (!headerValue) throw new SignatureError('missing X-PagerDuty-Signature header');
  const candidates = headerValue
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.startsWith('v1='))
    .map((part) => part.slice(3));
  if (candidates.length === 0) throw new SignatureError('X-PagerDuty-Signature has no v1 signature');
  const keys = input.signingKey.split(',').map((key) => key.trim()).filter(Boolean);
  let matched = false;
  for (const key of keys) {
    const expected = hmacHex(key, input.rawBody);
    for (const candidate of candidates) matched = safeEqualHex(expected, candidate) || matched;
  }
  if (!matched) throw new SignatureError('X-PagerDuty-Signature does not match');
}

/** Sign a webhook body as PagerDuty does; several keys give several signatures (rotation). */
export function signPagerDutyWebhook(rawBody: string | Buffer, ...signingKeys: string[]): HeaderBag {
  const body = typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody;
  return { 'x-pagerduty-signature': signingKeys.map((key) => `v1=${hmacHex(key, body)}`).join(',') };
}
