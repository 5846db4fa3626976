import { DeleteCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { readItem, storeCall } from './dynamo';

/**
 * Where the reconciler stopped in the open-link index: the escalation (dedup key) of the last
 * link it examined. A run examines the links one by one and stops when its Lambda's time runs
 * short or PagerDuty keeps answering 429; the next run goes on after the link kept here. Starting
 * every run at the index's first link instead, an outage with more open links than one run can
 * examine would see the same first ones examined at every run and the rest never, for as long as
 * the first stayed open.
 */
export interface ReconcilePosition {
  /** The last link examined; undefined: start at the index's first. */
  read(): Promise<string | undefined>;
  /** Keep the last link examined; undefined when a run went through every open link. */
  keep(after: string | undefined): Promise<void>;
}

export function makeReconcilePosition(db: DynamoDBDocumentClient, tableName: string, now: () => Date = () => new Date()): ReconcilePosition {
  const key = { pk: 'reconcile#position' };
  return {
    async read() {
      const item = await readItem(db, tableName, key);
      return typeof item?.after === 'string' ? item.after : undefined;
    },
    async keep(after) {
      if (after === undefined) {
        await storeCall('delete', () => db.send(new DeleteCommand({ TableName: tableName, Key: key })));
        return;
      }
      await storeCall('put', () => db.send(new PutCommand({ TableName: tableName, Item: { ...key, after, keptAt: now().toISOString() } })));
    },
  };
}
