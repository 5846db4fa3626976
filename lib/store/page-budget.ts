import { PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { getItems } from './batch-get';
import { LAYOUT } from '../layout/layout';
import { TransientError } from '../errors';
import { expiryEpoch, isConditionFailure, putNew, readItem, storeCall } from './dynamo';

/** The budget's window: a page counts against the channel for one rolling hour. */
export const BUDGET_WINDOW_MS = 60 * 60 * 1000;

/** How many times one take re-reads after losing a race before it gives up (as a retryable error). */
const MAX_ATTEMPTS = 25;

export interface BudgetAnswer {
  /** True when the page fits the budget (and now counts against it). */
  granted: boolean;
  /** Pages counted in the rolling hour, this one included when granted. */
  used: number;
}

/** Each customer channel's rolling-hour page budget. */
export interface PageBudget {
  /**
   * Count one page for `escalationId` if fewer than `limit` were counted in the hour before
   * `nowMs`. The first answer for an escalation is its answer: a Slack retry or SQS redelivery
   * with the same id is never counted a second time within the window, and a refusal stays a
   * refusal for good (a grant is answered again as granted, with the count as it stands).
   */
  take(channel: string, escalationId: string, nowMs: number, limit: number, readAhead?: Promise<BudgetRead>): Promise<BudgetAnswer>;
  /**
   * What `take` reads first (the escalation's answer, if any, and the channel's budget), read
   * ahead: an escalation starts it beside its own first writes, so it is not one more round trip
   * in series before the page. Any state may follow it: `take` writes only on the version read.
   */
  read(channel: string, escalationId: string): Promise<BudgetRead>;
  /** Pages counted in the hour before `nowMs` (for showing how much budget is left). */
  used(channel: string, nowMs: number): Promise<number>;
}

interface BudgetItem {
  /** escalation id → when its page was counted (epoch ms); entries older than the window are dropped on the next write. */
  grants: Record<string, number>;
  /** Bumped by every write: the condition that makes concurrent takes count exactly. */
  version: number;
}

/** What `take` reads before it decides (see PageBudget.read). */
export interface BudgetRead {
  answer: Record<string, unknown> | undefined;
  budget: BudgetItem | undefined;
}

const liveIn = (windowMs: number) => (grants: Record<string, number>, nowMs: number) => Object.entries(grants).filter(([, at]) => at > nowMs - windowMs);

export interface BudgetOptions {
  ttlDays: number;
  /**
   * The same counting for another rolling budget (the notes of an incident): its own item prefix
   * and window. Defaults: the page budget's (`budget`, one hour).
   */
  prefix?: string;
  windowMs?: number;
}

/** The notes one escalation's thread may add to its incident: at most this many per window (counted per escalation, so customers sharing an incident do not share it). */
export const NOTE_BUDGET = { prefix: 'notes', windowMs: 10 * 60 * 1000, limit: 10 } as const;

/**
 * The budget on the DynamoDB table: one item per channel holding the hour's grants, written
 * only with a condition on the version read (optimistic concurrency: a lost race re-reads), and
 * one answer item per refused escalation, written once, so that repeats are refused too.
 */
export function makePageBudget(db: DynamoDBDocumentClient, tableName: string, options: BudgetOptions): PageBudget {
  const prefix = options.prefix ?? 'budget';
  const live = liveIn(options.windowMs ?? BUDGET_WINDOW_MS);
  const budgetKey = (channel: string) => ({ pk: `${prefix}#${channel}` });
  const answerKey = (channel: string, escalationId: string) => ({ pk: `${prefix}#${channel}#answer#${escalationId}` });
  const read = (pk: { pk: string }) => readItem(db, tableName, pk);

  const toBudget = (item: Record<string, unknown> | undefined): BudgetItem | undefined =>
    item ? { grants: (item.grants ?? {}) as Record<string, number>, version: Number(item.version ?? 0) } : undefined;
  const readBudget = async (channel: string) => toBudget(await read(budgetKey(channel)));

  /**
   * The escalation's recorded answer and the channel's budget in one round trip (both strongly
   * consistent): a first take is on the way to PagerDuty, and reads nothing else.
   */
  const readAnswerAndBudget = async (channel: string, escalationId: string): Promise<BudgetRead> => {
    const [answerPk, budgetPk] = [answerKey(channel, escalationId), budgetKey(channel)];
    const found = await getItems(db, tableName, [answerPk.pk, budgetPk.pk]);
    return { answer: found.get(answerPk.pk), budget: toBudget(found.get(budgetPk.pk)) };
  };

  /**
   * Count the page, or find that it was counted or does not fit; loops only on lost races.
   * `first`: the budget as just read, for the first attempt.
   */
  const decide = async (channel: string, escalationId: string, nowMs: number, limit: number, first: BudgetItem | undefined): Promise<BudgetAnswer> => {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const budget = attempt === 0 ? first : await readBudget(channel);
      const current = live(budget?.grants ?? {}, nowMs);
      // Counted by an earlier attempt that stopped before it recorded its answer.
      if (budget && escalationId in budget.grants) return { granted: true, used: current.length };
      // Grants leave the window only with time, so a full window read now is full now.
      if (current.length >= limit) return { granted: false, used: current.length };
      const grants = Object.fromEntries([...current, [escalationId, nowMs]]);
      try {
        await storeCall('put', () =>
          db.send(
            new PutCommand({
              TableName: tableName,
              Item: { ...budgetKey(channel), grants, version: (budget?.version ?? 0) + 1 },
              ...(budget
                ? { ConditionExpression: '#version = :version', ExpressionAttributeNames: { '#version': 'version' }, ExpressionAttributeValues: { ':version': budget.version } }
                : { ConditionExpression: 'attribute_not_exists(pk)' }),
            }),
          ),
        );
        return { granted: true, used: current.length + 1 };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
    }
    throw new TransientError(`page budget of ${channel} stayed contended`);
  };

  return {
    read: readAnswerAndBudget,
    async take(channel, escalationId, nowMs, limit, readAhead) {
      const { answer: recorded, budget } = await (readAhead ?? readAnswerAndBudget(channel, escalationId));
      if (recorded) return { granted: Boolean(recorded.granted), used: Number(recorded.used) };
      const answer = await decide(channel, escalationId, nowMs, limit, budget);
      // A grant is its own record: the budget's item holds it for the window, where every repeat
      // finds it (decide), so only a refusal, which the budget does not hold, is written down.
      // One write less in series before a page.
      if (answer.granted) return answer;
      if (await putNew(db, tableName, { ...answerKey(channel, escalationId), ...answer, [LAYOUT.table.ttlAttribute]: expiryEpoch(new Date(nowMs), options.ttlDays) })) return answer;
      // A concurrent attempt for the same escalation answered first: its answer is the answer.
      const first = await read(answerKey(channel, escalationId));
      return { granted: Boolean(first?.granted), used: Number(first?.used) };
    },
    async used(channel, nowMs) {
      return live((await readBudget(channel))?.grants ?? {}, nowMs).length;
    },
  };
}
