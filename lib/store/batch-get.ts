import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { readItem, storeCall } from './dynamo';

/** DynamoDB's limit of keys per BatchGetItem. */
const KEYS_PER_BATCH = 100;

/**
 * Items by partition key, strongly consistent, in as few round trips as DynamoDB allows: one
 * GetItem for one key, BatchGetItem for more (100 keys a call, the calls side by side). An
 * incident an outage merged into holds hundreds of escalations, and one GetItem each made every
 * read of its followers hundreds of round trips. Keys DynamoDB leaves unread (throttling) are
 * read one by one; a key with no item is absent from the map.
 */
export async function getItems(db: DynamoDBDocumentClient, tableName: string, pks: readonly string[]): Promise<Map<string, Record<string, unknown>>> {
  const unique = [...new Set(pks)];
  const found = new Map<string, Record<string, unknown>>();
  const getOne = async (pk: string) => {
    const item = await readItem(db, tableName, { pk });
    if (item) found.set(pk, item);
  };
  if (unique.length <= 1) {
    await Promise.all(unique.map(getOne));
    return found;
  }
  const batches: string[][] = [];
  for (let i = 0; i < unique.length; i += KEYS_PER_BATCH) batches.push(unique.slice(i, i + KEYS_PER_BATCH));
  await Promise.all(
    batches.map(async (batch) => {
      const result = await storeCall('batch get', () => db.send(new BatchGetCommand({ RequestItems: { [tableName]: { Keys: batch.map((pk) => ({ pk })), ConsistentRead: true } } })));
      for (const item of result.Responses?.[tableName] ?? []) found.set(item.pk as string, item);
      await Promise.all((result.UnprocessedKeys?.[tableName]?.Keys ?? []).map((key) => getOne(key.pk as string)));
    }),
  );
  return found;
}
