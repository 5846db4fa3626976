import { existsSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import dynalite from 'dynalite';
import { LAYOUT, queueNames, tableName, type QueueName } from '../lib/layout';

/** Credentials the emulators accept; real AWS is never reached from a local run. */
export const LOCAL_AWS_ENV = { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' } as const;

export interface LocalDynamo {
  endpoint: string;
  tableName: string;
  stop(): Promise<void>;
}

/** dynalite on 127.0.0.1 with the table serverless.yml declares (TTL is not emulated by dynalite). */
export async function startLocalDynamo(options: { stage: string; path?: string; port?: number }): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, ...(options.path ? { path: options.path } : {}) });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const name = tableName(options.stage);
  const client = new DynamoDBClient({ endpoint, region: LOCAL_AWS_ENV.AWS_REGION, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  try {
    await client.send(
      new CreateTableCommand({
        TableName: name,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: LAYOUT.table.partitionKey, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: LAYOUT.table.partitionKey, KeyType: 'HASH' }],
      }),
    );
  } catch (error) {
    // A table kept on disk from an earlier run is the point of `path`.
    if ((error as { name?: string }).name !== 'ResourceInUseException') throw error;
  } finally {
    client.destroy();
  }
  return {
    endpoint,
    tableName: name,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface LocalQueue {
  url: string;
  dlqUrl: string;
}

export interface LocalSqs {
  endpoint: string;
  queues: Record<QueueName, LocalQueue>;
  client: SQSClient;
  stop(): Promise<void>;
}

interface FauxqsApp {
  listen(options: { port: number; host: string }): Promise<string>;
  close(): Promise<void>;
}

/** fauxqs is published as ESM with an import-only export map; load its entry file by path. */
function loadFauxqs(): { buildApp(options: { logger: boolean }): FauxqsApp } {
  const entry = (require.resolve.paths('fauxqs') ?? [])
    .map((dir) => path.join(dir, 'fauxqs', 'dist', 'app.js'))
    .find((file) => existsSync(file));
  if (!entry) throw new Error('fauxqs is not installed (npm ci installs it)');
  return require(entry);
}

/** fauxqs on 127.0.0.1 with the FIFO queues, DLQs and redrive policies serverless.yml declares. */
export async function startLocalSqs(options: { stage: string; port?: number; visibilityTimeoutSeconds?: number }): Promise<LocalSqs> {
  const app = loadFauxqs().buildApp({ logger: false });
  const address = await app.listen({ port: options.port ?? 0, host: '127.0.0.1' });
  const endpoint = address.replace('localhost', '127.0.0.1');
  const client = new SQSClient({
    endpoint,
    region: LOCAL_AWS_ENV.AWS_REGION,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    useQueueUrlAsEndpoint: false,
  });
  const queues = {} as Record<QueueName, LocalQueue>;
  for (const queue of Object.keys(LAYOUT.queues) as QueueName[]) {
    const layout = LAYOUT.queues[queue];
    const names = queueNames(options.stage, queue);
    const dlq = await client.send(
      new CreateQueueCommand({ QueueName: names.dlq, Attributes: { FifoQueue: 'true', MessageRetentionPeriod: String(layout.dlqRetentionSeconds) } }),
    );
    const dlqArn = (await client.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl!, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
    const main = await client.send(
      new CreateQueueCommand({
        QueueName: names.queue,
        Attributes: {
          FifoQueue: 'true',
          VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? layout.visibilityTimeoutSeconds),
          MessageRetentionPeriod: String(layout.retentionSeconds),
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: layout.maxReceiveCount }),
        },
      }),
    );
    queues[queue] = { url: main.QueueUrl!, dlqUrl: dlq.QueueUrl! };
  }
  return {
    endpoint,
    queues,
    client,
    stop: async () => {
      client.destroy();
      await app.close();
    },
  };
}
