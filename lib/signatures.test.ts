import { fromApiGateway } from './http';
import { SignatureError } from './errors';
import { signPagerDutyWebhook, signSlackRequest, verifyPagerDutySignature, verifySlackSignature } from './signatures';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';

const SECRET = 'slack-signing-secret-for-tests';
const NOW = 1_800_000_000;
const BODY = Buffer.from('{"type":"event_callback","event":{"text":"héllo ✓"}}', 'utf8');

function verify(headers: Record<string, string | undefined>, body: Buffer = BODY, now = NOW, secret = SECRET) {
  return () => verifySlackSignature({ signingSecret: secret, rawBody: body, headers, nowSeconds: now });
}

describe('verifySlackSignature', () => {
  const signed = signSlackRequest(SECRET, BODY, NOW);

  it('accepts a body signed with the signing secret', () => {
    expect(verify(signed)).not.toThrow();
  });

  it('rejects a signature made with another secret', () => {
    expect(verify(signSlackRequest('another-secret', BODY, NOW))).toThrow(new SignatureError('X-Slack-Signature does not match'));
  });

  it('rejects a body changed after signing', () => {
    expect(verify(signed, Buffer.from(BODY.toString('utf8').replace('héllo', 'hello')))).toThrow('X-Slack-Signature does not match');
  });

  it('rejects a timestamp more than five minutes old, even when correctly signed', () => {
    const old = signSlackRequest(SECRET, BODY, NOW - 301);
    expect(verify(old)).toThrow('X-Slack-Request-Timestamp is too old');
    expect(verify(signSlackRequest(SECRET, BODY, NOW - 299))).not.toThrow();
  });

  it('rejects a timestamp more than five minutes in the future', () => {
    expect(verify(signSlackRequest(SECRET, BODY, NOW + 301))).toThrow('X-Slack-Request-Timestamp is in the future');
  });

  it('rejects requests with a missing header, naming it', () => {
    expect(verify({ 'x-slack-request-timestamp': String(NOW) })).toThrow('missing X-Slack-Signature header');
    expect(verify({ 'x-slack-signature': signed['x-slack-signature'] })).toThrow('missing X-Slack-Request-Timestamp header');
  });

  it('rejects a non-numeric timestamp and an unknown signature version', () => {
    expect(verify({ ...signed, 'x-slack-request-timestamp': '12abc' })).toThrow('not a unix time');
    expect(verify({ ...signed, 'x-slack-signature': signed['x-slack-signature']!.replace('v0=', 'v1=') })).toThrow('unknown version');
  });

  it('finds headers whatever their case', () => {
    expect(verify({ 'X-Slack-Signature': signed['x-slack-signature'], 'X-Slack-Request-Timestamp': String(NOW) })).not.toThrow();
  });

  it('verifies a base64-encoded API Gateway body over its decoded UTF-8 bytes', () => {
    const event = { body: BODY.toString('base64'), isBase64Encoded: true, headers: signed } as unknown as APIGatewayProxyEventV2;
    const request = fromApiGateway(event);
    expect(request.rawBody.equals(BODY)).toBe(true);
    expect(verify(request.headers as Record<string, string>, request.rawBody)).not.toThrow();
  });

  it('rejects a base64 body whose signature was computed over the base64 text', () => {
    const base64 = BODY.toString('base64');
    const event = { body: base64, isBase64Encoded: true, headers: signSlackRequest(SECRET, base64, NOW) } as unknown as APIGatewayProxyEventV2;
    const request = fromApiGateway(event);
    expect(verify(request.headers as Record<string, string>, request.rawBody)).toThrow('does not match');
  });
});

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
