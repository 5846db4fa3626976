import { createHash } from 'node:crypto';
import { DeleteCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LAYOUT } from '../layout/layout';
import { expiryEpoch, isConditionFailure, readItem, storeCall } from './dynamo';
import { claimTurn } from './pacer';

/**
 * Turns under a sliding-window limit that many Lambda invocations share: PagerDuty's Events API
 * takes about 120 triggers per routing key in any 60 s looking back, and answers 429 without a
 * Retry-After past that. When an outage makes every customer on one key escalate at once, each
 * trigger reserves a slot and goes out when the window has room for it, instead of finding the
 * limit by refusals and sleeping in backoff while slots that freed up go unused.
 *
 * Slot n may go once slot n - limit went a window ago (the window then holds at most `limit`
 * calls). Each lane keeps one counter and `limit` residue items, each the {slot, at} of the
 * latest slot with that residue: a reservation is one atomic add, plus, once the first `limit`
 * slots are taken, one read and one conditional write.
 */
export interface WindowPacer {
  /**
   * The turn `holder` keeps on `lane` (epoch ms, never before `nowMs` at its first ask): reserved
   * at its first ask and the same at every later one, so work that leaves to wait for its turn
   * (a queue message) finds it again instead of queueing behind the slots reserved meanwhile.
   */
  keptTurn(lane: string, holder: string, nowMs: number): Promise<number>;
  /** The same, with the slot it is (for `clearAt` and `went`). */
  kept(lane: string, holder: string, nowMs: number): Promise<WindowTurn>;
  /**
   * A first ask's turn (a queue message's first delivery keeps none), for less on the way to the
   * call: nothing is looked up, a turn within `inPlaceMs` is not kept (it is used at once), and the
   * slot's record, which only the slot a window later reads, is written beside the caller's call:
   * await `recorded` after it (it never fails; a record missing makes that later slot wait for it,
   * then assume the latest this one could go).
   */
  firstTurn(lane: string, holder: string, nowMs: number, inPlaceMs: number): Promise<WindowTurn & { recorded: Promise<void> }>;
  /**
   * When a slot may go now that its turn has come: its turn, or later when the slot a window
   * before it went late (its call's time, as `went` recorded it, plus the window). A turn is
   * planned from the earlier slot's turn, not from when its call went; this is the one read that
   * closes the gap, and it is made only while that earlier slot may still be in the window.
   */
  clearAt(lane: string, turn: WindowTurn, nowMs: number): Promise<number>;
  /** Record when a slot's call went (after it: the latest the service can have counted it). */
  went(lane: string, slot: number, atMs: number): Promise<void>;
  /** Drop the turn `holder` keeps: the limit refused it anyway (another sender), its next ask takes a new one. */
  forget(lane: string, holder: string): Promise<void>;
}

/** A reserved turn: when it goes, its slot, and the turn of the slot a window before it that it follows (if any). */
export interface WindowTurn {
  turnAt: number;
  slot: number;
  follows?: number;
}

export interface WindowPacerOptions {
  limit: number;
  windowMs: number;
  /**
   * Room between a slot's turn and the call's arrival: the clocks, the network, and a trigger that
   * goes late (a redelivery that comes back after its turn, a busy event loop), which a slot's
   * record cannot know. Default: a 60th of the window, from 250 ms to 1 s (1 s for PagerDuty's 60 s: the
   * lateness the 300-customer storm showed past the 250 ms it had, for 1.7 % of the window's room).
   */
  marginMs?: number;
  /** How long to wait for the slot `limit` earlier to record its turn (reserved a moment ago) before assuming the worst. */
  settleMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * The lane of a routing key: a hash, never the key itself (routing keys are readable by the
 * function that pages only; pacing items are readable by every function). The deployment's key has
 * its lane by the same hash, so a customer registered with that same key shares it: one limit.
 */
export function routingKeyLane(routingKey: string): string {
  return `events#${createHash('sha256').update(routingKey).digest('hex').slice(0, 24)}`;
}

const SETTLE_POLL_MS = 50;

export function makeWindowPacer(db: DynamoDBDocumentClient, tableName: string, options: WindowPacerOptions): WindowPacer {
  const { limit, windowMs } = options;
  const marginMs = options.marginMs ?? Math.max(250, Math.min(1000, windowMs / 60));
  const settleMs = options.settleMs ?? 1000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const counterKey = (lane: string) => ({ pk: `window#${lane}` });
  const residueKey = (lane: string, residue: number) => ({ pk: `window#${lane}#${residue}` });
  const heldKey = (lane: string, holder: string) => ({ pk: `wturn#${lane}#${holder}` });
  const wentKey = (lane: string, slot: number) => ({ pk: `window#${lane}#went#${slot}` });
  // Kept a day past last use; the counter is refreshed by every reservation, so it outlives its residues.
  const expires = (nowMs: number) => expiryEpoch(new Date(nowMs), 1);
  const get = (key: { pk: string }) => readItem(db, tableName, key);

  /** Reserve a slot and say when it goes; `record` writes the slot's turn for the slot a window later. */
  async function reserve(lane: string, nowMs: number): Promise<WindowTurn & { record: () => Promise<void> }> {
    const taken = await storeCall('update', () =>
      db.send(
        new UpdateCommand({
          TableName: tableName,
          Key: counterKey(lane),
          UpdateExpression: `ADD #count :one SET ${LAYOUT.table.ttlAttribute} = :expires`,
          ExpressionAttributeNames: { '#count': 'count' },
          ExpressionAttributeValues: { ':one': 1, ':expires': expires(nowMs) },
          ReturnValues: 'UPDATED_NEW',
        }),
      ),
    );
    const slot = Number(taken.Attributes?.count) - 1;
    const before = slot - limit;
    let turnAt = nowMs;
    let follows: number | undefined;
    if (before >= 0) {
      const residue = residueKey(lane, slot % limit);
      let waited = 0;
      for (;;) {
        const item = await get(residue);
        const recorded = typeof item?.slot === 'number' ? item.slot : -1;
        const at = Number(item?.at);
        if (recorded === before || recorded > slot) {
          // Its turn a window ago; a residue newer than this slot is a counter that expired and started again: nothing to follow.
          if (recorded === before) {
            turnAt = Math.max(nowMs, at + windowMs + marginMs);
            follows = at;
          }
          break;
        }
        if (waited >= settleMs) {
          // Slot `before` was reserved but has not said when it goes (its caller is slow or gone):
          // follow the latest it would go, now (it was reserved before this one) or a window after
          // the slot known before it with its residue.
          const known = recorded >= 0 ? at + ((slot - recorded) / limit) * windowMs : 0;
          turnAt = Math.max(nowMs + windowMs, known) + marginMs;
          break;
        }
        await sleep(SETTLE_POLL_MS);
        waited += SETTLE_POLL_MS;
      }
    }
    const record = async () => {
      if (slot < 0) return;
      try {
        await storeCall('put', () =>
          db.send(
            new PutCommand({
              TableName: tableName,
              Item: { ...residueKey(lane, slot % limit), slot, at: turnAt, [LAYOUT.table.ttlAttribute]: expires(nowMs) },
              ConditionExpression: 'attribute_not_exists(pk) OR #slot < :slot',
              ExpressionAttributeNames: { '#slot': 'slot' },
              ExpressionAttributeValues: { ':slot': slot },
            }),
          ),
        );
      } catch (error) {
        // A later slot with this residue already wrote (it gave up waiting for this one): it is the one to follow.
        if (!isConditionFailure(error)) throw error;
      }
    };
    return { turnAt, slot, ...(follows !== undefined ? { follows } : {}), record };
  }

  /** The turn kept under `key`, with its slot (a turn kept before slots were kept has none: -1, never checked). */
  const held = async (key: { pk: string }): Promise<WindowTurn | undefined> => {
    const item = await get(key);
    if (typeof item?.turnAt !== 'number') return undefined;
    return { turnAt: item.turnAt, slot: typeof item.slot === 'number' ? item.slot : -1, ...(typeof item.follows === 'number' ? { follows: item.follows } : {}) };
  };

  /** Keep `turn` for its holder; another attempt of the same holder that kept one first wins. */
  const keep = async (key: { pk: string }, turn: WindowTurn, nowMs: number): Promise<WindowTurn> => {
    const mine = await claimTurn(db, tableName, key, turn.turnAt, nowMs, { slot: turn.slot, ...(turn.follows !== undefined ? { follows: turn.follows } : {}) });
    return mine ? turn : ((await held(key)) ?? turn);
  };

  const pacer: WindowPacer = {
    async keptTurn(lane, holder, nowMs) {
      return (await pacer.kept(lane, holder, nowMs)).turnAt;
    },
    async kept(lane, holder, nowMs) {
      const key = heldKey(lane, holder);
      const found = await held(key);
      if (found) return found;
      const { record, ...turn } = await reserve(lane, nowMs);
      await record();
      return keep(key, turn, nowMs);
    },
    async firstTurn(lane, holder, nowMs, inPlaceMs) {
      const { record, ...turn } = await reserve(lane, nowMs);
      if (turn.turnAt - nowMs <= inPlaceMs) return { ...turn, recorded: record().catch(() => undefined) };
      await record();
      return { ...(await keep(heldKey(lane, holder), turn, nowMs)), recorded: Promise.resolve() };
    },
    async clearAt(lane, turn, nowMs) {
      // Only while the slot it follows may still be in the window: an earlier slot that went more
      // than a window late is past what any redelivery or busy moment makes of a turn.
      if (turn.follows === undefined || nowMs >= turn.follows + 2 * windowMs) return turn.turnAt;
      const earlier = await get(wentKey(lane, turn.slot - limit));
      return typeof earlier?.at === 'number' ? Math.max(turn.turnAt, earlier.at + windowMs + marginMs) : turn.turnAt;
    },
    async went(lane, slot, atMs) {
      await storeCall('put', () => db.send(new PutCommand({ TableName: tableName, Item: { ...wentKey(lane, slot), at: atMs, [LAYOUT.table.ttlAttribute]: expires(atMs) } })));
    },
    async forget(lane, holder) {
      await storeCall('delete', () => db.send(new DeleteCommand({ TableName: tableName, Key: heldKey(lane, holder) })));
    },
  };
  return pacer;
}
