import { PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LAYOUT } from '../layout/layout';
import { RateLimitedError, WaitForTurnError } from '../errors';
import { expiryEpoch, isConditionFailure, readItem, storeCall } from './dynamo';

/**
 * Turns under a rate limit that many Lambda invocations share (Slack's chat.update, about 50 a
 * minute per workspace). Each caller reserves the next free turn before calling, so a fan-out to
 * hundreds of channels goes out at the limit's pace instead of finding it by hundreds of 429s,
 * each a redelivery that competes with the work customers are waiting for.
 */
export interface Pacer {
  /**
   * Reserve the next turn on `lane` (epoch ms, never before `nowMs`). Turns are `60000 / perMinute`
   * ms apart, after the pacer's `burst` that an idle lane gives at once (`burst: false`: this call
   * is not given one of them). A reserved turn that goes unused is lost, which only makes the pace
   * a little slower.
   */
  turn(lane: string, nowMs: number, options?: TurnOptions): Promise<number>;
  /**
   * The turn `holder` keeps on `lane`: reserved at its first ask and the same at every later one,
   * so work that waits for its turn by leaving and coming back (a queue message) finds it again
   * instead of queueing behind the turns reserved meanwhile; unless it comes back more than
   * `lateAtMostMs` after it (see TurnOptions).
   */
  keptTurn(lane: string, holder: string, nowMs: number, options?: TurnOptions): Promise<number>;
  /**
   * A first attempt's turn: as `keptTurn`, without looking for a kept one (a first attempt has
   * none), and kept only when it is more than `inPlaceMs` away: a turn waited for in place is used
   * by this attempt, and a later attempt that finds none takes a new one.
   */
  firstTurn(lane: string, holder: string, nowMs: number, inPlaceMs: number, options?: TurnOptions): Promise<number>;
  /**
   * The call made at `holder`'s turn was refused anyway: the turn is spent, and the holder's next
   * ask takes a new one instead of finding this one, passed, and going at once.
   */
  spend(lane: string, holder: string, nowMs: number): Promise<void>;
}

export interface TurnOptions {
  /**
   * False: the call is paced even on an idle lane's burst. For a retry of a call the service
   * refused: its limit was spent by calls the lane does not see, so the burst the lane believes
   * it has is not there.
   */
  burst?: boolean;
  /**
   * A kept turn passed by more than this is given up, and a new one taken: work that came back
   * this late (its queue's pollers busy) comes back with others as late, and a kept turn would
   * send them all at once, past the limit's burst, to be refused. None: kept however late.
   */
  lateAtMostMs?: number;
}

/**
 * `burst`: how many turns an idle lane gives at once, as Slack's limits are token buckets (a
 * burst, then the refill rate): a fan-out spends it first instead of starting at the refill's
 * pace. The lane keeps one number, the time its bucket would be full again were no turn reserved
 * after (the generic cell rate algorithm): a turn is that time less the burst's tolerance.
 */
export function makePacer(db: DynamoDBDocumentClient, tableName: string, options: { perMinute: number; burst?: number }): Pacer {
  const intervalMs = Math.ceil(60_000 / options.perMinute);
  const toleranceMs = (Math.max(1, options.burst ?? 1) - 1) * intervalMs;
  const key = (lane: string) => ({ pk: `pace#${lane}` });
  const heldKey = (lane: string, holder: string) => ({ pk: `turn#${lane}#${holder}` });
  const pacer: Pacer = {
    async keptTurn(lane, holder, nowMs, turnOptions) {
      const held = await heldTurn(db, tableName, heldKey(lane, holder));
      const late = held !== undefined && turnOptions?.lateAtMostMs !== undefined && nowMs - held > turnOptions.lateAtMostMs;
      if (held !== undefined && !late) return held;
      return keepTurn(db, tableName, heldKey(lane, holder), await pacer.turn(lane, nowMs, turnOptions), nowMs, late ? held : undefined);
    },
    async firstTurn(lane, holder, nowMs, inPlaceMs, turnOptions) {
      const turnAt = await pacer.turn(lane, nowMs, turnOptions);
      return turnAt - nowMs <= inPlaceMs ? turnAt : keepTurn(db, tableName, heldKey(lane, holder), turnAt, nowMs);
    },
    async spend(lane, holder, nowMs) {
      // Marked rather than deleted: one write of the kind the workers already make, and a turn
      // waited for in place (never kept) is marked as well, so an attempt racing this one finds it spent.
      await storeCall('update', () =>
        db.send(
          new UpdateCommand({
            TableName: tableName,
            Key: heldKey(lane, holder),
            UpdateExpression: `SET spent = :spent, ${LAYOUT.table.ttlAttribute} = :expires`,
            ExpressionAttributeValues: { ':spent': true, ':expires': expiryEpoch(new Date(nowMs), 1) },
          }),
        ),
      );
    },
    async turn(lane, nowMs, turnOptions) {
      // Two writes at most and no read-modify-write loop: an idle lane is claimed for now; a busy
      // one hands out the turn after the last one reserved, less the burst's tolerance (an atomic
      // add: concurrent callers each get their own turn).
      try {
        await storeCall('update', () =>
          db.send(
            new UpdateCommand({
              TableName: tableName,
              Key: key(lane),
              UpdateExpression: `SET nextAt = :next, ${LAYOUT.table.ttlAttribute} = :expires`,
              ConditionExpression: 'attribute_not_exists(nextAt) OR nextAt <= :now',
              ExpressionAttributeValues: { ':next': nowMs + intervalMs, ':now': nowMs, ':expires': expiryEpoch(new Date(nowMs), 1) },
            }),
          ),
        );
        return nowMs;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
      const taken = await storeCall('update', () =>
        db.send(
          new UpdateCommand({
            TableName: tableName,
            Key: key(lane),
            UpdateExpression: 'ADD nextAt :interval',
            ExpressionAttributeValues: { ':interval': intervalMs },
            ReturnValues: 'UPDATED_NEW',
          }),
        ),
      );
      const tolerance = turnOptions?.burst === false ? 0 : toleranceMs;
      return Math.max(nowMs, Number(taken.Attributes?.nextAt) - intervalMs - tolerance);
    },
  };
  return pacer;
}

/**
 * The chat.postMessage lane's pacer (see postTurn), as every worker that posts builds it from its
 * settings: the lane is shared, and so must be its pace and burst. None when pacing is off.
 */
export function postPacing(db: DynamoDBDocumentClient, tableName: string, settings: { slackFanOutPostsPerMinute: number; slackFanOutPostBurst: number }): { postPacer?: Pacer } {
  return settings.slackFanOutPostsPerMinute > 0 ? { postPacer: makePacer(db, tableName, { perMinute: settings.slackFanOutPostsPerMinute, burst: settings.slackFanOutPostBurst }) } : {};
}

/** The turn kept under `key` (see Pacer.keptTurn), if any and not spent. */
export async function heldTurn(db: DynamoDBDocumentClient, tableName: string, key: { pk: string }): Promise<number | undefined> {
  const held = await readItem(db, tableName, key);
  return typeof held?.turnAt === 'number' && held.spent !== true ? held.turnAt : undefined;
}

/**
 * Keep `turnAt` under `key` for its holder's later asks (replacing a spent one, or the one given
 * up as `replacing`), unless another attempt of the same holder kept one first: then that one is
 * the holder's (this one goes unused, which only slows the pace a little). True when this one was
 * kept. `kept`: what else the holder needs of the turn on its return (a window slot's number).
 */
export async function claimTurn(db: DynamoDBDocumentClient, tableName: string, key: { pk: string }, turnAt: number, nowMs: number, kept: Record<string, number> = {}, replacing?: number): Promise<boolean> {
  try {
    await storeCall('put', () =>
      db.send(
        new PutCommand({
          TableName: tableName,
          Item: { ...kept, ...key, turnAt, [LAYOUT.table.ttlAttribute]: expiryEpoch(new Date(nowMs), 1) },
          ConditionExpression: `attribute_not_exists(pk) OR spent = :spent${replacing === undefined ? '' : ' OR turnAt = :replacing'}`,
          ExpressionAttributeValues: { ':spent': true, ...(replacing === undefined ? {} : { ':replacing': replacing }) },
        }),
      ),
    );
    return true;
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    return false;
  }
}

/** The turn the holder keeps under `key` after asking to keep `turnAt` (see claimTurn). */
async function keepTurn(db: DynamoDBDocumentClient, tableName: string, key: { pk: string }, turnAt: number, nowMs: number, replacing?: number): Promise<number> {
  return (await claimTurn(db, tableName, key, turnAt, nowMs, {}, replacing)) ? turnAt : ((await heldTurn(db, tableName, key)) ?? turnAt);
}

/**
 * A post's turn under Slack's workspace-wide chat.postMessage limit, on the one lane both workers'
 * paced posts share: every post of a webhook or a fan-out, and a confirmation Slack refused once,
 * whose retry otherwise comes back at a random point after its Retry-After with hundreds of others
 * and is refused again. A turn waited for elsewhere is kept per post (`holder`, its effect key): a
 * retry finds its own, long passed, and goes at once. `firstAttempt`: the work's first delivery
 * (see Pacer.firstTurn), which makes one write on a quiet lane instead of three round trips.
 */
export async function postTurn(pacer: Pacer, team: string, holder: string, now: () => number, options?: PostTurnOptions): Promise<number> {
  const lane = postLane(team);
  const askedAt = now();
  const turnAt = await (options?.firstAttempt ? pacer.firstTurn(lane, holder, askedAt, POST_WAIT_IN_PLACE_MS, options) : pacer.keptTurn(lane, holder, askedAt, { lateAtMostMs: POST_LATE_AT_MOST_MS, ...options }));
  // The lane counts turns from the time each caller asked. An answer that comes late (a throttled
  // write the SDK retried with backoff: every post writes this one item; a busy process) holds
  // turns already passed, and every post waiting on one would go at once when it comes, past the
  // lane's burst and into Slack's 429s. Moved by the wait, the turns keep their spacing.
  return turnAt + Math.max(0, now() - askedAt);
}

export interface PostTurnOptions extends TurnOptions {
  firstAttempt?: boolean;
}

/**
 * Be at a post's turn (see postTurn): in place when it is close, otherwise by leaving and coming
 * back a second before it, so that a message the queue hands back late still finds it ahead.
 */
export function atPostTurn(turnAt: number, nowMs: number): Promise<void> {
  return awaitTurn(turnAt, nowMs, POST_WAIT_IN_PLACE_MS, "the post waits for its turn under Slack's workspace limit", POST_BACK_EARLY_S);
}

/**
 * Make a post at its turn (see postTurn, atPostTurn), or at once when it has none (not paced).
 * Slack refusing it anyway (the limit was spent by posts the lane did not see) spends the turn:
 * kept, it would send the retry at once after its Retry-After, together with every other post
 * refused at that moment, to be refused again.
 */
export async function postAtTurn<T>(pacer: Pacer | undefined, team: string, holder: string, turnAt: number | undefined, now: () => number, post: () => Promise<T>): Promise<T> {
  if (!pacer || turnAt === undefined) return post();
  await atPostTurn(turnAt, now());
  try {
    return await post();
  } catch (error) {
    if (error instanceof RateLimitedError) await pacer.spend(postLane(team), holder, now());
    throw error;
  }
}

function postLane(team: string): string {
  return `chat.postMessage#${team}`;
}

/**
 * A post's turn this close is waited for in place (message groups run side by side, so no other
 * channel waits behind it); a later one by leaving and coming back, which the queue delivers only
 * to the second and often later, so posts that came back late go out together.
 */
const POST_WAIT_IN_PLACE_MS = 3000;

/**
 * A post's kept turn passed by more than this is given up for a new one (TurnOptions.lateAtMostMs):
 * the lane's burst is 10 turns under Slack's bucket of 20, so about 10 turns' worth (1 s at the
 * lane's pace) of posts going late at once still fit in what the bucket holds back.
 */
const POST_LATE_AT_MOST_MS = 1000;

/** How much earlier than its turn a post that left comes back (atPostTurn), in the queue's whole seconds. */
const POST_BACK_EARLY_S = 1;

/**
 * Be at a reserved turn: wait in place when it is at most `inPlaceMs` away, otherwise leave (a
 * WaitForTurnError puts the message back for the whole seconds left) and come back for it.
 */
export async function awaitTurn(turnAt: number, nowMs: number, inPlaceMs: number, why: string, backEarlyS = 0): Promise<void> {
  const wait = turnAt - nowMs;
  if (wait > inPlaceMs) throw new WaitForTurnError(why, undefined, Math.max(0, Math.floor(wait / 1000) - backEarlyS));
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}
