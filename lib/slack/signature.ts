import { SignatureError } from '../errors';
import { hmacHex, safeEqualHex } from '../runtime/hmac';
import { header, type HeaderBag } from '../runtime/http';

/** Slack's and PagerDuty's tolerance for clock skew, applied in both directions. */
export const MAX_SLACK_CLOCK_SKEW_SECONDS = 5 * 60;

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
