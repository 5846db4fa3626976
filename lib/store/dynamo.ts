import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { awsEndpoint } from '../runtime/config';
import { TransientError } from '../errors';

/** A document client that drops undefined attributes (optional fields of our records). */
export function makeDocumentClient(env: Record<string, string | undefined>): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient(awsEndpoint(env, 'DYNAMODB')), { marshallOptions: { removeUndefinedValues: true } });
}

export function isConditionFailure(error: unknown): boolean {
  return error instanceof ConditionalCheckFailedException || (error as { name?: string })?.name === 'ConditionalCheckFailedException';
}

/** DynamoDB errors other than a failed condition are worth retrying (throttling, an outage). */
export async function storeCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (isConditionFailure(error)) throw error;
    throw new TransientError(`DynamoDB ${what} failed`, error);
  }
}

/** One item, read strongly consistent (every read of ours decides a write or what a channel is told); undefined when absent. */
export async function readItem(db: DynamoDBDocumentClient, tableName: string, key: { pk: string }): Promise<Record<string, unknown> | undefined> {
  return (await storeCall('get', () => db.send(new GetCommand({ TableName: tableName, Key: key, ConsistentRead: true })))).Item;
}

/** Write an item only where none has its key: false when one had (an earlier attempt's, or another's). */
export async function putNew(db: DynamoDBDocumentClient, tableName: string, item: { pk: string } & Record<string, unknown>): Promise<boolean> {
  try {
    await storeCall('put', () => db.send(new PutCommand({ TableName: tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' })));
    return true;
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    return false;
  }
}

/** `#status` in an expression stands for the attribute `status` (many plain words are reserved in DynamoDB). */
export function attributeNames(expression: string): { ExpressionAttributeNames?: Record<string, string> } {
  const names = [...new Set(expression.match(/#\w+/g) ?? [])];
  return names.length ? { ExpressionAttributeNames: Object.fromEntries(names.map((n) => [n, n.slice(1)])) } : {};
}

/** Epoch seconds at which DynamoDB's TTL may remove a record written now. */
export function expiryEpoch(now: Date, ttlDays: number): number {
  return Math.floor(now.getTime() / 1000) + ttlDays * 86400;
}

/**
 * One page of a sparse index whose items all share one partition value (the open links, the
 * listed customers): never a scan. Pass `cursor` back for the next page.
 */
export async function queryIndexPage(
  db: DynamoDBDocumentClient,
  tableName: string,
  index: { name: string; partitionKey: string },
  value: string,
  { limit, cursor }: { limit: number; cursor?: Record<string, unknown> },
): Promise<{ items: Record<string, unknown>[]; lastKey?: Record<string, unknown> }> {
  const result = await storeCall('query', () =>
    db.send(
      new QueryCommand({
        TableName: tableName,
        IndexName: index.name,
        KeyConditionExpression: '#partition = :value',
        ExpressionAttributeNames: { '#partition': index.partitionKey },
        ExpressionAttributeValues: { ':value': value },
        Limit: Math.max(1, Math.min(limit, 1000)),
        ...(cursor ? { ExclusiveStartKey: cursor } : {}),
      }),
    ),
  );
  return { items: result.Items ?? [], ...(result.LastEvaluatedKey ? { lastKey: result.LastEvaluatedKey } : {}) };
}
