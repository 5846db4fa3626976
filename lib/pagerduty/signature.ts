import { SignatureError } from '../errors';
import { hmacHex, safeEqualHex } from '../runtime/hmac';
import { header, type HeaderBag } from '../runtime/http';

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
