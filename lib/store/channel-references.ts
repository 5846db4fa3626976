import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { isConditionFailure, readItem, storeCall } from './dynamo';
import { TransientError } from '../errors';

/**
 * Each channel numbers its own escalations (1, 2, 3…), so a customer can name one without
 * learning PagerDuty's account-wide incident numbers, which tell how many incidents every other
 * customer and the provider had.
 */
export interface ChannelReferences {
  /** The next number of the channel, taken once per escalation (a retry gets the same one). */
  take(channel: string, dedupKey: string): Promise<number>;
  /** The channel's most recent paged escalation, if any. */
  latest(channel: string): Promise<{ dedupKey: string; ref: number } | undefined>;
}

/** Stored as `channel#<id>` with the last number given and the escalation it went to. */
export function makeChannelReferences(db: DynamoDBDocumentClient, tableName: string): ChannelReferences {
  const key = (channel: string) => ({ pk: `channel#${channel}` });
  return {
    async latest(channel) {
      const item = await readItem(db, tableName, key(channel));
      return typeof item?.lastKey === 'string' ? { dedupKey: item.lastKey, ref: Number(item.lastRef) } : undefined;
    },
    async take(channel, dedupKey) {
      try {
        // A channel's escalations are handled one at a time (its FIFO group), so "the last taker
        // was this escalation" is all a retry after a crash needs to get its number back.
        const result = await storeCall('update', () =>
          db.send(
            new UpdateCommand({
              TableName: tableName,
              Key: key(channel),
              UpdateExpression: 'SET lastRef = if_not_exists(lastRef, :zero) + :one, lastKey = :key',
              ConditionExpression: 'attribute_not_exists(lastKey) OR lastKey <> :key',
              ExpressionAttributeValues: { ':zero': 0, ':one': 1, ':key': dedupKey },
              ReturnValues: 'ALL_NEW',
            }),
          ),
        );
        return Number(result.Attributes?.lastRef);
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        const item = await readItem(db, tableName, key(channel));
        if (item?.lastKey !== dedupKey) throw new TransientError('channel reference moved on while it was being taken');
        return Number(item.lastRef);
      }
    },
  };
}
