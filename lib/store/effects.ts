import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { attributeNames, expiryEpoch, isConditionFailure, storeCall } from './dynamo';
import { LAYOUT } from '../layout/layout';

/**
 * Effects that must happen once (a Slack message posted) although the work that causes them
 * may run several times (Slack retries, SQS redelivery, a crash between two steps).
 *
 * An effect is claimed in DynamoDB before it is performed and its result recorded after. A
 * claim found without a result means an earlier attempt stopped somewhere between the two:
 * `find` then asks the outside world whether the effect happened, and only if it did not is it
 * performed again.
 */
export interface Effects {
  once(key: string, perform: () => Promise<string>, find: (claimedAt: string) => Promise<string | undefined>): Promise<{ result: string; performed: boolean }>;
}



export function makeEffects(db: DynamoDBDocumentClient, tableName: string, options: { ttlDays: number; now?: () => Date }): Effects {
  const now = options.now ?? (() => new Date());
  const key = (effect: string) => ({ pk: `effect#${effect}` });
  const record = (effect: string, result: string) =>
    storeCall('update', () =>
      db.send(new UpdateCommand({ TableName: tableName, Key: key(effect), UpdateExpression: 'SET #result = :result', ...attributeNames('#result'), ExpressionAttributeValues: { ':result': result } })),
    );

  return {
    async once(effect, perform, find) {
      const claimedAt = now().toISOString();
      try {
        await storeCall('put', () =>
          db.send(
            new PutCommand({
              TableName: tableName,
              Item: { ...key(effect), claimedAt, [LAYOUT.table.ttlAttribute]: expiryEpoch(now(), options.ttlDays) },
              ConditionExpression: 'attribute_not_exists(pk)',
            }),
          ),
        );
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        const existing = (await storeCall('get', () => db.send(new GetCommand({ TableName: tableName, Key: key(effect), ConsistentRead: true })))).Item;
        if (typeof existing?.result === 'string') return { result: existing.result, performed: false };
        const found = await find(String(existing?.claimedAt ?? claimedAt));
        if (found !== undefined) {
          await record(effect, found);
          return { result: found, performed: false };
        }
      }
      const result = await perform();
      await record(effect, result);
      return { result, performed: true };
    },
  };
}
