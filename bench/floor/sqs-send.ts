/**
 * BENCHMARK FLOOR: THE COMPARISON POINT, NOT PART OF pd-router. NEVER DEPLOYED.
 *
 * The least an ingress function that keeps the AWS SDK can do on a cold start: build an
 * SQSClient, send one message, answer 200. No signature check, no logging, no middy. With
 * SECRETS_MANAGER_SECRET_ID set it also fetches that secret, started while the module loads as
 * middy's prefetch does, which is the least the "as deployed" ingress can do. Its cold start is
 * the floor under the ingress target: what pd-router's ingress costs above it is its own.
 */
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

// Endpoints named explicitly, as lib/runtime does: the deployed environment ignores AWS_ENDPOINT_URL_*.
const sqsEndpoint = process.env.AWS_ENDPOINT_URL_SQS;
const sqs = new SQSClient({ useQueueUrlAsEndpoint: false, ...(sqsEndpoint ? { endpoint: sqsEndpoint } : {}) });
const secretId = process.env.SECRETS_MANAGER_SECRET_ID;
const secretsEndpoint = process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER;
const secret = secretId
  ? new SecretsManagerClient(secretsEndpoint ? { endpoint: secretsEndpoint } : {}).send(new GetSecretValueCommand({ SecretId: secretId }))
  : undefined;
// A failed prefetch is the handler's to report.
secret?.catch(() => undefined);

let sent = 0;

export async function handler(event: { body?: string }) {
  if (secret && !(await secret).SecretString) throw new Error('floor: the secret has no string value');
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: process.env.SLACK_EVENTS_QUEUE_URL,
      MessageBody: event.body || '{}',
      MessageGroupId: 'floor',
      MessageDeduplicationId: `floor-${process.pid}-${++sent}`,
    }),
  );
  return { statusCode: 200, body: '' };
}
