import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient, DescribeTableCommand, PutItemCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import { LOCAL_AWS_ENV, startLocalDynamo } from '../local/aws';
import { LAYOUT, tableName } from '../lib/layout/layout';
import { makeIncidentLinks } from '../lib/store/incident-links';
import { makeCustomers } from '../lib/store/customers';
import { makeDocumentClient } from '../lib/store/dynamo';

describe('the local table kept on disk (PD_ROUTER_DATA_DIR)', () => {
  let dir: string;
  beforeAll(() => {
    for (const [name, value] of Object.entries(LOCAL_AWS_ENV)) process.env[name] ??= value;
    dir = mkdtempSync(path.join(tmpdir(), 'pd-router-old-table-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gets the customer index when it was made before the registry, and keeps its items', async () => {
    // The table as earlier versions created it: no index, one link in it.
    const old = dynalite({ createTableMs: 0, path: dir });
    await new Promise<void>((resolve) => old.listen(0, '127.0.0.1', () => resolve()));
    const client = new DynamoDBClient({ endpoint: `http://127.0.0.1:${(old.address() as AddressInfo).port}`, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    const name = tableName('local');
    await client.send(new CreateTableCommand({ TableName: name, BillingMode: 'PAY_PER_REQUEST', AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }] }));
    // dynalite makes a table ACTIVE on a timer, even at createTableMs 0: a busy machine can put first.
    for (let tries = 0; (await client.send(new DescribeTableCommand({ TableName: name }))).Table?.TableStatus !== 'ACTIVE' && tries < 200; tries++) await new Promise((r) => setTimeout(r, 10));
    await client.send(new PutItemCommand({ TableName: name, Item: { pk: { S: 'link#kept' }, channel: { S: 'CACME' } } }));
    client.destroy();
    await new Promise<void>((resolve) => old.close(() => resolve()));

    const dynamo = await startLocalDynamo({ stage: 'local', path: dir });
    const db = makeDocumentClient({ AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint });
    try {
      const customers = makeCustomers(db, dynamo.tableName);
      await customers.add({ channel: 'CACME', name: 'Acme' });
      expect((await customers.all()).map((c) => c.channel)).toEqual(['CACME']);
      expect((await db.send(new GetCommand({ TableName: name, Key: { pk: 'link#kept' } }))).Item).toEqual({ pk: 'link#kept', channel: 'CACME' });
    } finally {
      db.destroy();
      await dynamo.stop();
    }
  });

  it('gets the open-link index when it was made before the reconciler (customer index only), and keeps its items', async () => {
    const dir2 = mkdtempSync(path.join(tmpdir(), 'pd-router-pre-reconciler-'));
    try {
      const old = dynalite({ createTableMs: 0, path: dir2 });
      await new Promise<void>((resolve) => old.listen(0, '127.0.0.1', () => resolve()));
      const client = new DynamoDBClient({ endpoint: `http://127.0.0.1:${(old.address() as AddressInfo).port}`, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
      const name = tableName('local');
      const index = LAYOUT.table.customerIndex;
      await client.send(
        new CreateTableCommand({
          TableName: name,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: 'pk', AttributeType: 'S' },
            { AttributeName: index.partitionKey, AttributeType: 'S' },
          ],
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
          GlobalSecondaryIndexes: [{ IndexName: index.name, KeySchema: [{ AttributeName: index.partitionKey, KeyType: 'HASH' }, { AttributeName: index.sortKey, KeyType: 'RANGE' }], Projection: { ProjectionType: 'ALL' } }],
        }),
      );
      // dynalite creates a table asynchronously even with createTableMs 0: on a busy machine a write can come first.
      await waitUntilTableExists({ client, maxWaitTime: 30, minDelay: 0.05, maxDelay: 0.2 }, { TableName: name });
      await client.send(new PutItemCommand({ TableName: name, Item: { pk: { S: 'link#kept' }, dedupKey: { S: 'kept' }, [LAYOUT.table.openLinkIndex.partitionKey]: { S: 'open' } } }));
      client.destroy();
      await new Promise<void>((resolve) => old.close(() => resolve()));

      const dynamo = await startLocalDynamo({ stage: 'local', path: dir2 });
      const db = makeDocumentClient({ AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint });
      try {
        const links = makeIncidentLinks(db, dynamo.tableName, { ttlDays: 1 });
        expect((await links.listOpen()).links.map((l) => l.dedupKey)).toEqual(['kept']);
      } finally {
        db.destroy();
        await dynamo.stop();
      }
    } finally {
      rmSync(dir2, { recursive: true, force: true });
    }
  });
});
