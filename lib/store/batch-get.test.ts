import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { recordingClient, startTestDynamo } from '../../test/support/dynamo';
import { getItems } from './batch-get';

describe('reading many items by key', () => {
  let env: Awaited<ReturnType<typeof startTestDynamo>>;
  const pks = Array.from({ length: 250 }, (_, i) => `batch#${String(i).padStart(3, '0')}`);
  beforeAll(async () => {
    env = await startTestDynamo();
    await Promise.all(pks.map((pk, i) => env.db.send(new PutCommand({ TableName: env.dynamo.tableName, Item: { pk, n: i } }))));
  });
  afterAll(() => env.stop());

  it('reads 250 items in three BatchGetItem calls, leaving out keys with no item', async () => {
    const { db, calls } = recordingClient(env.db);
    const found = await getItems(db, env.dynamo.tableName, [...pks, 'batch#missing', pks[0]!]);
    expect(calls).toEqual(['BatchGet', 'BatchGet', 'BatchGet']);
    expect(found.size).toBe(250);
    expect(pks.every((pk, i) => found.get(pk)?.n === i)).toBe(true);
    expect(found.has('batch#missing')).toBe(false);
  });

  it('reads one key with one GetItem', async () => {
    const { db, calls } = recordingClient(env.db);
    expect((await getItems(db, env.dynamo.tableName, [pks[7]!])).get(pks[7]!)?.n).toBe(7);
    expect(calls).toEqual(['Get']);
  });

  it('reads the keys DynamoDB left unprocessed one by one', async () => {
    // DynamoDB answers part of a batch under throttling; dynalite never does, so the answer is altered.
    const { db, calls } = recordingClient(env.db, (operation, _input, output) => {
      if (operation !== 'BatchGet') return output;
      const items = output.Responses[env.dynamo.tableName] as { pk: string }[];
      const [kept, dropped] = [items.slice(2), items.slice(0, 2)];
      return { ...output, Responses: { [env.dynamo.tableName]: kept }, UnprocessedKeys: { [env.dynamo.tableName]: { Keys: dropped.map(({ pk }) => ({ pk })) } } };
    });
    const found = await getItems(db, env.dynamo.tableName, pks.slice(0, 5));
    expect([...found.keys()].sort()).toEqual(pks.slice(0, 5));
    expect(calls).toEqual(['BatchGet', 'Get', 'Get']);
  });
});
