import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { lambdaContext } from '../../local/stack';
import { mentionEnvelope, signedSlackJson, signedWebhook, type SignedRequest } from '../../local/requests';

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

/** A v3 webhook body about an incident, shaped like the PagerDuty stand-in's. */
export function incidentWebhookBody(input: { incidentId: string; number: number; incidentKey: string; eventType: string; status: string; title: string }) {
  return {
    event: {
      id: `E${randomBytes(8).toString('hex').toUpperCase()}`,
      event_type: input.eventType,
      resource_type: 'incident',
      occurred_at: new Date().toISOString(),
      agent: { id: 'PUSER01', type: 'user_reference', summary: 'Bench On-Call' },
      client: null,
      data: {
        id: input.incidentId,
        type: 'incident',
        self: `https://api.pagerduty.test/incidents/${input.incidentId}`,
        html_url: `https://acme.pagerduty.test/incidents/${input.incidentId}`,
        number: input.number,
        status: input.status,
        incident_key: input.incidentKey,
        created_at: new Date().toISOString(),
        title: input.title,
        service: { id: 'PSERVICE', type: 'service_reference', summary: 'Customer Escalations' },
        assignees: [{ id: 'PUSER0', type: 'user_reference', summary: 'Bench On-Call' }],
        escalation_policy: { id: 'PPOLICY', type: 'escalation_policy_reference', summary: 'Default' },
        teams: [],
        priority: null,
        urgency: 'high',
        conference_bridge: null,
        resolve_reason: null,
      },
    },
  };
}

export function signedIncidentWebhook(key: string, body: ReturnType<typeof incidentWebhookBody>): SignedRequest {
  return signedWebhook(key, body);
}

export { signedSlackJson, signedWebhook, type SignedRequest };
