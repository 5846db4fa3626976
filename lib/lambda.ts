import middy from '@middy/core';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { Env } from './config';
import { fromApiGateway, type IngressRequest, type IngressResponse } from './http';
import { createLogger, type Logger, type LogLevel } from './log';
import { secretsMiddleware, type SecretName, type Secrets } from './secrets';

/** Clients are built once per cold start and shared by every invocation of that container. */
export function makeSqsClient(env: Env): SQSClient {
  // Queue URLs from a local emulator name hosts that do not resolve; the endpoint (from
  // AWS_ENDPOINT_URL_SQS, when set) is what the client should talk to.
  const endpoint = env.AWS_ENDPOINT_URL_SQS ?? env.AWS_ENDPOINT_URL;
  return new SQSClient({ useQueueUrlAsEndpoint: false, ...(endpoint ? { endpoint } : {}) });
}

export function makeLogger(env: Env, fn: string, secrets?: () => readonly string[]): Logger {
  return createLogger({ service: `pd-router.${fn}`, level: (env.LOG_LEVEL as LogLevel | undefined) ?? 'info', ...(secrets ? { redact: secrets } : {}) });
}

/** An HTTP ingress Lambda: secrets on the context, the raw body handed over untouched. */
export function httpHandler<K extends SecretName>(
  env: Env,
  secretNames: readonly K[],
  handle: (request: IngressRequest, secrets: Secrets<K>) => Promise<IngressResponse>,
) {
  return middy<APIGatewayProxyEventV2, IngressResponse>()
    .use(secretsMiddleware(env, secretNames))
    .handler(async (event, context) => handle(fromApiGateway(event), (context as unknown as { secrets: Secrets<K> }).secrets));
}

/** An SQS worker Lambda: secrets on the context, partial batch failures reported. */
export function sqsHandler<K extends SecretName>(
  env: Env,
  secretNames: readonly K[],
  handle: (event: SQSEvent, secrets: Secrets<K>) => Promise<SQSBatchResponse>,
) {
  return middy<SQSEvent, SQSBatchResponse>()
    .use(secretsMiddleware(env, secretNames))
    .handler(async (event, context) => handle(event, (context as unknown as { secrets: Secrets<K> }).secrets));
}
