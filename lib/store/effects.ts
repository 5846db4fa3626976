import { DeleteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { attributeNames, expiryEpoch, putNew, readItem, storeCall } from './dynamo';
import { LAYOUT } from '../layout/layout';
import { RateLimitedError, TransientError } from '../errors';

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
  /** `ahead`: the claim, taken earlier beside other work ({@link Effects.claim}). */
  once(key: string, perform: () => Promise<string>, find: (claimedAt: string) => Promise<string | undefined>, ahead?: Claim): Promise<{ result: string; performed: boolean }>;
  /**
   * Take an effect's claim now, beside other work it does not depend on (a status write), so it
   * is not one more round trip in series before the effect. Hand it to `once`, or `release` it
   * when the effect turns out not to be wanted.
   */
  claim(key: string): Claim;
  /** Give back a claim taken ahead and not used (only if this attempt made it): no later attempt waits out its lease. */
  release(claim: Claim): Promise<void>;
  /** Whether the effect is recorded as done: work that only leads up to it (a paced turn) is skipped. */
  done(key: string): Promise<boolean>;
}



/** A claim as taken: made here, or found (another attempt's, perhaps already with its result). */
interface Taken {
  claimedAt: string;
  here: boolean;
  existing?: Record<string, unknown>;
}

export interface Claim {
  key: string;
  taken: Promise<Taken>;
}

/**
 * How long a claim without a result means "another attempt is performing it now" rather than "an
 * attempt crashed": longer than one post, its timeout included. Two handlers may want the same
 * effect at once (a merge and the target's own webhook each tell a channel "handled together").
 */
export const EFFECT_LEASE_MS = 15_000;

export function makeEffects(db: DynamoDBDocumentClient, tableName: string, options: { ttlDays: number; now?: () => Date; leaseMs?: number }): Effects {
  const leaseMs = options.leaseMs ?? EFFECT_LEASE_MS;
  const now = options.now ?? (() => new Date());
  const key = (effect: string) => ({ pk: `effect#${effect}` });
  const record = (effect: string, result: string) =>
    storeCall('update', () =>
      db.send(new UpdateCommand({ TableName: tableName, Key: key(effect), UpdateExpression: 'SET #result = :result', ...attributeNames('#result'), ExpressionAttributeValues: { ':result': result } })),
    );

  const drop = (effect: string) => storeCall('delete', () => db.send(new DeleteCommand({ TableName: tableName, Key: key(effect) }))).catch(() => undefined);
  const take = async (effect: string): Promise<Taken> => {
    const claimedAt = now().toISOString();
    if (await putNew(db, tableName, { ...key(effect), claimedAt, [LAYOUT.table.ttlAttribute]: expiryEpoch(now(), options.ttlDays) })) return { claimedAt, here: true };
    const existing = await readItem(db, tableName, key(effect));
    return { claimedAt, here: false, ...(existing ? { existing } : {}) };
  };

  return {
    async done(effect) {
      const item = await readItem(db, tableName, key(effect));
      return typeof item?.result === 'string';
    },
    claim: (effect) => {
      const taken = take(effect);
      // Awaited by once or release; a failure surfaces there, not as an unhandled rejection.
      taken.catch(() => undefined);
      return { key: effect, taken };
    },
    async release(ahead) {
      const taken = await ahead.taken.catch(() => undefined);
      if (taken?.here) await drop(ahead.key);
    },
    async once(effect, perform, find, ahead) {
      // Whether this attempt made the claim: only then does nothing else stand behind it.
      const { claimedAt, here: claimedHere, existing } = await (ahead && ahead.key === effect ? ahead.taken : take(effect));
      if (!claimedHere) {
        if (typeof existing?.result === 'string') return { result: existing.result, performed: false };
        // Claimed moments ago, and its attempt has not failed: it is being performed right now.
        const age = now().getTime() - Date.parse(String(existing?.claimedAt ?? claimedAt));
        if (existing && existing.failedAt === undefined && age >= 0 && age < leaseMs) {
          throw new TransientError('another attempt is performing this effect now', undefined, Math.max(1, Math.ceil((leaseMs - age) / 1000)));
        }
        const found = await find(String(existing?.claimedAt ?? claimedAt));
        if (found !== undefined) {
          await record(effect, found);
          return { result: found, performed: false };
        }
      }
      let result: string;
      try {
        result = await perform();
      } catch (error) {
        // A 429 says the call was refused before anything was done: a claim this attempt made goes,
        // and the next attempt performs without asking the outside world first (under a storm of
        // 429s, that question would be one more rate-limited call per retry). A claim an earlier,
        // unknown failure left stays: that attempt may have performed, and the next one asks again.
        if (error instanceof RateLimitedError && claimedHere) {
          await drop(effect);
          throw error;
        }
        // Not a crash: the next attempt may look (find) and perform again at once, without waiting out the lease.
        await storeCall('update', () =>
          db.send(new UpdateCommand({ TableName: tableName, Key: key(effect), UpdateExpression: 'SET failedAt = :at', ExpressionAttributeValues: { ':at': now().toISOString() } })),
        ).catch(() => undefined);
        throw error;
      }
      await record(effect, result);
      return { result, performed: true };
    },
  };
}
