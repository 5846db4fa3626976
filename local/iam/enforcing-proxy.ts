import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { listen, readBody, type RunningServer } from '../stand-ins/http-util';
import { requirementsOf, type PartitionKeyOf } from './aws-requests';
import { decide, type PolicyStatement, type Requirement } from './policy';

/** One call IAM refused, as the local stack logs and remembers it. */
export interface Denial {
  function: string;
  role: string;
  action: string;
  resource: string;
  /** The partition keys the call touched, when a condition on them decided it. */
  leadingKeys?: string[];
}

export interface EnforcingProxyOptions {
  /** The function whose role this endpoint enforces. */
  function: string;
  role: string;
  statements: PolicyStatement[];
  /** Where allowed calls go, by service. */
  upstream: { dynamodb: string; sqs: string; secretsmanager?: string };
  /** The tables' key schema, for the `dynamodb:LeadingKeys` a request carries. */
  partitionKeyOf: PartitionKeyOf;
  onDenied(denial: Denial): void;
}

export interface EnforcingProxy {
  /** The endpoint the function's AWS SDK clients are given in place of the emulators'. */
  url: string;
  close(): Promise<void>;
}

/** IAM's message, as the SDK surfaces it to the code that made the call. */
function deniedMessage(options: EnforcingProxyOptions, { action, resource }: Requirement): string {
  return `User: arn:aws:sts::000000000000:assumed-role/${options.role}/${options.function} is not authorized to perform: ${action} on resource: ${resource} because no identity-based policy allows the ${action} action`;
}

function answerDenied(response: ServerResponse, service: string, message: string): void {
  // Both services speak AWS JSON 1.0; DynamoDB answers an authorization failure with 400, SQS with 403.
  const status = service === 'sqs' ? 403 : 400;
  response.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': 'local-iam-denied' });
  response.end(JSON.stringify({ __type: 'com.amazon.coral.service#AccessDeniedException', message, Message: message }));
}

/**
 * Set on every request this endpoint passes on, so whoever counts AWS calls at the emulators can
 * tell the second hop of a call from a call.
 */
export const FORWARDED_HEADER = 'x-local-iam-forwarded';

function forward(upstream: string, request: IncomingMessage, body: Buffer, response: ServerResponse, agent: http.Agent): void {
  const target = new URL(request.url ?? '/', upstream);
  const outgoing = http.request(
    target,
    { method: request.method, headers: { ...request.headers, host: target.host, [FORWARDED_HEADER]: '1' }, agent },
    (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    },
  );
  // An emulator that is down (the outage tests) looks to the SDK as it would without this hop:
  // the connection breaks.
  outgoing.on('error', () => response.destroy());
  // A long poll the client gave up on is given up upstream too.
  response.on('close', () => {
    if (!response.writableFinished) outgoing.destroy();
  });
  outgoing.end(body);
}

/**
 * An endpoint in front of dynalite and fauxqs that answers each request as AWS would under one
 * function's role: allowed calls pass through, denied ones get AccessDeniedException.
 */
export async function startEnforcingProxy(options: EnforcingProxyOptions): Promise<EnforcingProxy> {
  const agent = new http.Agent({ keepAlive: true });
  const server: RunningServer = await listen(async (request, response) => {
    const body = await readBody(request, 16 * 1024 * 1024);
    const target = request.headers['x-amz-target'];
    let parsed: Record<string, unknown> = {};
    try {
      parsed = body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
    } catch {
      // Not JSON: the emulator answers it as the service would.
    }
    const call = requirementsOf(Array.isArray(target) ? target[0] : target, parsed, { partitionKeyOf: options.partitionKeyOf });
    if (!call) {
      response.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
      response.end(JSON.stringify({ __type: 'com.amazon.coral.service#UnknownOperationException', message: `the local IAM check does not know the operation ${String(target)}` }));
      return;
    }
    for (const requirement of call.requirements) {
      if (decide(options.statements, requirement).allowed) continue;
      options.onDenied({ function: options.function, role: options.role, action: requirement.action, resource: requirement.resource, ...(requirement.context?.['dynamodb:LeadingKeys'] ? { leadingKeys: requirement.context['dynamodb:LeadingKeys'] } : {}) });
      return answerDenied(response, call.service, deniedMessage(options, requirement));
    }
    const upstream = options.upstream[call.service];
    if (!upstream) {
      response.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
      response.end(JSON.stringify({ __type: 'com.amazon.coral.service#UnknownOperationException', message: `no local ${call.service} behind ${options.function}'s endpoint` }));
      return;
    }
    forward(upstream, request, body, response, agent);
  });
  return {
    url: server.url,
    close: async () => {
      agent.destroy();
      await server.close();
    },
  };
}
