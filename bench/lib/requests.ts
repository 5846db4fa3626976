import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { lambdaContext } from '../../local/lambda-context';
import type { SignedRequest } from '../../local/events/request';
import { mentionEnvelope, signedSlackJson } from '../../local/events/slack';

/** A signed request as API Gateway's HTTP API (payload v2) hands it to a Lambda: body base64-encoded. */
export function apiGatewayEvent(path: string, request: SignedRequest): APIGatewayProxyEventV2 {
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: `POST ${path}`,
    rawPath: path,
    rawQueryString: '',
    headers: { ...request.headers, 'content-length': String(Buffer.byteLength(request.body)) },
    requestContext: {
      accountId: '000000000000',
      apiId: 'bench',
      domainName: 'bench.local',
      domainPrefix: 'bench',
      http: { method: 'POST', path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'bench' },
      requestId: randomBytes(8).toString('hex'),
      routeKey: `POST ${path}`,
      stage: '$default',
      time: new Date(now).toISOString(),
      timeEpoch: now,
    },
    body: Buffer.from(request.body, 'utf8').toString('base64'),
    isBase64Encoded: true,
  };
}

/** The context Lambda passes a handler (30 s left, as in a short invocation). */
export const benchContext = (name: string): Context => lambdaContext(name, 30_000);

/** A signed `app_mention` escalation, as Slack sends it. */
export function slackEscalation(secret: string, channel: string, description: string): { envelope: ReturnType<typeof mentionEnvelope>; request: SignedRequest } {
  const envelope = mentionEnvelope({ channel, text: `escalate ${description}` });
  return { envelope, request: signedSlackJson(secret, envelope) };
}
