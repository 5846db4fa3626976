import { signPagerDutyWebhook, verifyPagerDutySignature } from './signature';

describe('verifyPagerDutySignature', () => {
  const KEY = 'pagerduty-webhook-secret';
  const body = Buffer.from('{"event":{"id":"E1","event_type":"incident.acknowledged"}}');
  const check = (headers: Record<string, string | undefined>, raw = body) => () => verifyPagerDutySignature({ signingKey: KEY, rawBody: raw, headers });

  it('accepts one matching signature', () => {
    expect(check(signPagerDutyWebhook(body, KEY))).not.toThrow();
  });

  it('accepts when any one of several signatures matches (secret rotation)', () => {
    expect(check(signPagerDutyWebhook(body, 'old-secret', KEY))).not.toThrow();
    expect(check(signPagerDutyWebhook(body, KEY, 'new-secret'))).not.toThrow();
  });

  it('accepts a webhook signed by any one of several configured keys (one per subscription)', () => {
    const verifyWith = (keys: string) => () => verifyPagerDutySignature({ signingKey: keys, rawBody: body, headers: signPagerDutyWebhook(body, 'service-b-key') });
    expect(verifyWith('service-a-key, service-b-key')).not.toThrow();
    expect(verifyWith('service-a-key,service-c-key')).toThrow('does not match');
  });

  it('rejects when no signature matches', () => {
    expect(check(signPagerDutyWebhook(body, 'old-secret', 'other-secret'))).toThrow('X-PagerDuty-Signature does not match');
  });

  it('rejects a tampered body', () => {
    expect(check(signPagerDutyWebhook(body, KEY), Buffer.from(body.toString().replace('acknowledged', 'resolved')))).toThrow('does not match');
  });

  it('rejects a missing header and a header without v1 signatures', () => {
    expect(check({})).toThrow('missing X-PagerDuty-Signature header');
    expect(check({ 'x-pagerduty-signature': 'v0=abcd' })).toThrow('no v1 signature');
  });
});
