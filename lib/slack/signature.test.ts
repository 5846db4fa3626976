import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { SignatureError } from '../errors';
import { fromApiGateway } from '../runtime/http';
import { signSlackRequest, verifySlackSignature } from './signature';

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
