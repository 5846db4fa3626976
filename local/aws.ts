import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
  ScanCommand,
  type AttributeValue,
  type CreateTableCommandInput,
  type GlobalSecondaryIndex,
} from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import dynalite from 'dynalite';
import { LAYOUT, queueNames, tableName, type QueueName } from '../lib/layout/layout';

/** Credentials the emulators accept; real AWS is never reached from a local run. */
export const LOCAL_AWS_ENV = { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' } as const;

export interface LocalDynamo {
  endpoint: string;
  tableName: string;
  /**
   * An outage, for the fault-injection tests: open connections are dropped and the port refuses
   * new ones until resume(). With `path`, dynalite itself is stopped (its data closed on disk).
   */
  suspend(): Promise<void>;
  /** Listen again on the same port; with `path`, dynalite reopens its data from disk. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

const INDEXES = [LAYOUT.table.customerIndex, LAYOUT.table.openLinkIndex, LAYOUT.table.historyIndex];
const indexSpec = (index: (typeof INDEXES)[number]): GlobalSecondaryIndex => ({
  IndexName: index.name,
  KeySchema: [
    { AttributeName: index.partitionKey, KeyType: 'HASH' },
    { AttributeName: index.sortKey, KeyType: 'RANGE' },
  ],
  Projection: { ProjectionType: 'ALL' },
});

function tableDefinition(name: string): CreateTableCommandInput {
  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: LAYOUT.table.partitionKey, AttributeType: 'S' },
      ...INDEXES.map((index) => ({ AttributeName: index.partitionKey, AttributeType: 'S' as const })),
      // A sort key other than the table's own needs its type declared too.
      ...INDEXES.filter((index) => index.sortKey !== LAYOUT.table.partitionKey).map((index) => ({ AttributeName: index.sortKey, AttributeType: 'S' as const })),
    ],
    KeySchema: [{ AttributeName: LAYOUT.table.partitionKey, KeyType: 'HASH' }],
    GlobalSecondaryIndexes: INDEXES.map(indexSpec),
  };
}

/**
 * dynalite changes a table's state on a timer, even with createTableMs 0: on a busy machine a
 * request can arrive before the table is ACTIVE (or gone), and be refused.
 */
async function waitForTable(client: DynamoDBClient, name: string, want: 'ACTIVE' | 'GONE'): Promise<void> {
  for (let tries = 0; tries < 500; tries++) {
    const status = await client.send(new DescribeTableCommand({ TableName: name })).then(
      (answer) => answer.Table?.TableStatus,
      (error: { name?: string }) => {
        if (error.name === 'ResourceNotFoundException') return 'GONE';
        throw error;
      },
    );
    if (status === want) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`the local table ${name} did not become ${want}`);
}

/** Copy every item out, recreate the table as layout.json defines it, and put the items back. */
async function rebuildWithIndexes(client: DynamoDBClient, name: string): Promise<void> {
  const items: Record<string, AttributeValue>[] = [];
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: name, ConsistentRead: true, ...(startKey ? { ExclusiveStartKey: startKey } : {}) }));
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  await client.send(new DeleteTableCommand({ TableName: name }));
  await waitForTable(client, name, 'GONE');
  await client.send(new CreateTableCommand(tableDefinition(name)));
  await waitForTable(client, name, 'ACTIVE');
  for (const item of items) await client.send(new PutItemCommand({ TableName: name, Item: item }));
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
    await client.send(new CreateTableCommand(tableDefinition(name)));
    await waitForTable(client, name, 'ACTIVE');
  } catch (error) {
    // A table kept on disk from an earlier run is the point of `path`.
    if ((error as { name?: string }).name !== 'ResourceInUseException') throw error;
    // A table kept from before the customer registry or the reconciler lacks an index, and dynalite
    // cannot add one to an existing table: rebuild it with the indexes and the same items.
    const table = await client.send(new DescribeTableCommand({ TableName: name }));
    const present = new Set((table.Table?.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName));
    if (INDEXES.some((index) => !present.has(index.name))) await rebuildWithIndexes(client, name);
  } finally {
    client.destroy();
  }
  const port = (server.address() as AddressInfo).port;
  let listening = true;
  const close = (keepData: boolean) =>
    new Promise<void>((resolve) => {
      listening = false;
      server.closeAllConnections();
      // In memory, a suspended dynalite stops only its HTTP side: its own close would drop the data.
      if (keepData && !options.path) http.Server.prototype.close.call(server, () => resolve());
      else server.close(() => resolve());
    });
  return {
    endpoint,
    tableName: name,
    suspend: async () => {
      if (listening) await close(true);
    },
    resume: async () => {
      if (listening) return;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
      listening = true;
    },
    stop: async () => {
      if (listening) await close(false);
    },
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
  // fauxqs's export map has no `require` condition; Node 20.19+ loads its ES module by path.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
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
          // As the template has them (high-throughput FIFO). fauxqs accepts both and still
          // de-duplicates queue-wide, which is stricter: test/fifo-deduplication-scope.test.ts
          // shows per-group de-duplication loses nothing.
          DeduplicationScope: 'messageGroup',
          FifoThroughputLimit: 'perMessageGroupId',
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
