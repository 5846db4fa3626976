import { createHmac, timingSafeEqual } from 'node:crypto';

/** HMAC-SHA256 of a message, hex: the digest both Slack and PagerDuty sign with. */
export function hmacHex(secret: string, message: Buffer | string): string {
  return createHmac('sha256', secret).update(message).digest('hex');
}

/** Constant-time comparison of two hex strings; unequal lengths are unequal without a timing leak of content. */
export function safeEqualHex(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given, 'utf8');
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

