import middy from '@middy/core';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { awsEndpoint, type Env } from './config';
import { fromApiGateway, type IngressRequest, type IngressResponse } from './http';
import { createLogger, type Logger, type LoggerOptions } from './log';
import { readSetting } from './settings';
import { secretsMiddleware, type SecretName, type Secrets } from './secrets';

/** Clients are built once per cold start and shared by every invocation of that container. */
export function makeSqsClient(env: Env): SQSClient {
  // Queue URLs from a local emulator name hosts that do not resolve; the endpoint (from
  // AWS_ENDPOINT_URL_SQS, when set) is what the client should talk to.
  return new SQSClient({ useQueueUrlAsEndpoint: false, ...awsEndpoint(env, 'SQS') });
}

export function makeLogger(env: Env, fn: string, secrets?: () => readonly string[], metrics?: LoggerOptions['metrics']): Logger {
  return createLogger({
    service: `pd-router.${fn}`,
    level: readSetting(env, 'LOG_LEVEL'),
    ...(secrets ? { redact: secrets } : {}),
    ...(metrics ? { metrics } : {}),
  });
}

/**
 * An HTTP ingress Lambda: its one signing secret from the secrets middleware, the raw body handed
 * over untouched, and a logger that scrubs that secret from every line.
 */
export function ingressHandler(
  env: Env,
  name: string,
  secretName: SecretName,
  make: (logger: Logger) => (request: IngressRequest, secret: string) => Promise<IngressResponse>,
) {
  let secret = '';
  const handle = make(makeLogger(env, name, () => [secret]));
  return middy<APIGatewayProxyEventV2, IngressResponse>()
    .use(secretsMiddleware(env, [secretName]))
    .handler(async (event, context) => {
      secret = (context as unknown as { secrets: Secrets }).secrets[secretName];
      return handle(fromApiGateway(event), secret);
    });
}

/** An SQS worker Lambda: secrets on the context, partial batch failures reported. */
export function sqsHandler<K extends SecretName>(
  env: Env,
  secretNames: readonly K[],
  handle: (event: SQSEvent, secrets: Secrets<K>, remainingMs: () => number) => Promise<SQSBatchResponse>,
) {
  return middy<SQSEvent, SQSBatchResponse>()
    .use(secretsMiddleware(env, secretNames))
    .handler(async (event, context) =>
      handle(event, (context as unknown as { secrets: Secrets<K> }).secrets, () => context.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY),
    );
}
