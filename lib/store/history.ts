import { QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LAYOUT } from '../layout/layout';
import type { IncidentStatus } from '../events';
import { attributeNames, expiryEpoch, isConditionFailure, readItem, storeCall } from './dynamo';
import type { IncidentLink } from './incident-links';

/**
 * The escalation history: one compact record per escalation, kept for HISTORY_TTL_DAYS (400 by
 * default) whatever LINK_TTL_DAYS says, so `npm run report` can answer "how did we do for this
 * customer" long after the links are gone. It holds times, outcomes and counts only: never the
 * person's words, who asked, who answered, or which other customers an incident held.
 *
 * Keys (docs/reports.md): `history#<dedupKey>` in the table, and in the sparse `history` index
 * the month asked (`2026-11`) as partition and `<channel>#<askedAt>#<dedupKey>` as sort key. A
 * customer's period is one Query per month on a sort-key range, time-ordered; all customers' is
 * one Query per month. Never a Scan.
 */

const INDEX = LAYOUT.table.historyIndex;
const TTL = LAYOUT.table.ttlAttribute;
export const HISTORY_PREFIX = 'history#';

/** Why nobody was paged for an escalation the gate refused. */
export type RefusedReason = 'unregistered' | 'paused' | 'not-approved';
/** How an escalation waiting for its click ended without paging. */
export type CancelledReason = 'cancelled' | 'expired' | 'refused';

/** What became of the escalation: set once, by the first path that knows it. */
export type Outcome = 'paged' | 'folded' | 'refused' | 'cancelled' | 'rejected';

export interface HistoryRecord {
  dedupKey: string;
  channel: string;
  /** When the person asked (the escalation's link was made). */
  askedAt: string;
  /** The channel's own number for it, once it paged. */
  ref?: number;
  outcome?: Outcome;
  /** For `refused` and `cancelled`: why. */
  reason?: RefusedReason | CancelledReason;
  /** When PagerDuty accepted the trigger. */
  pagedAt?: string;
  /** The reconciler found no incident for the accepted trigger. */
  noIncidentAt?: string;
  /** The first acknowledgement and the resolution PagerDuty reported (the earliest, whatever order they arrive in). */
  acknowledgedAt?: string;
  resolvedAt?: string;
  /** How many other escalations (of any customer) the incident that held it held: a count, never who. */
  handledWith?: number;
  /** Its alert was merged into another incident. */
  merged?: boolean;
}

/** The escalation a step belongs to: every write carries it, so any step may be the first to arrive. */
export interface HistoryIdentity {
  dedupKey: string;
  channel: string;
  askedAt: string;
}

export type HistoryStep =
  | { step: 'asked' }
  | { step: 'paged'; at: string; ref?: number }
  | { step: 'folded' }
  | { step: 'rejected' }
  | { step: 'refused'; reason: RefusedReason }
  | { step: 'cancelled'; reason: CancelledReason }
  | { step: 'no-incident'; at: string }
  | { step: 'acknowledged'; at: string }
  | { step: 'resolved'; at: string }
  | { step: 'handled-together'; count: number }
  | { step: 'merged' };

export interface HistoryQuery {
  /** Inclusive start and exclusive end of the period, by the time the person asked. */
  from: Date;
  to: Date;
  channel?: string;
  /** Called after each page read, with the number of records read so far. */
  onPage?: (read: number) => void;
}

/** The history as the functions use it: each step written by the path that sees it, and one record read (a receipt). */
export interface HistorySteps {
  /** Record one step, once: a retry or a redelivery of it changes nothing, and each time keeps its earliest value. */
  record(identity: HistoryIdentity, step: HistoryStep): Promise<void>;
  /**
   * Record what a link says of its escalation now: paged, folded, rejected, a click's decision, or
   * only that it was asked. Every path that moves a link calls it after the move, so a retry after
   * a crash between the two records it then.
   */
  recordLink(link: IncidentLink): Promise<void>;
  /** Record a status PagerDuty reported for the incident holding the link (acknowledged, resolved; others are not kept). */
  recordStatus(link: IncidentLink, status: IncidentStatus, at: string): Promise<void>;
  /** One escalation's record (for its receipt). */
  get(dedupKey: string): Promise<HistoryRecord | undefined>;
}

/** The history as the report reads it too. */
export interface History extends HistorySteps {
  /** The records asked in a period, for one customer or all, read by Query only. */
  query(query: HistoryQuery): Promise<HistoryRecord[]>;
}

/** The UTC months (`2026-11`) a period touches, first to last. */
export function monthsOf(from: Date, to: Date): string[] {
  const months: string[] = [];
  const cursor = new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), 1));
  const last = new Date(to.getTime() - 1);
  while (cursor <= last) {
    months.push(cursor.toISOString().slice(0, 7));
    cursor.setUTCMonth(cursor.getUTCMonth() + 1);
  }
  return months;
}

/** The record a link's escalation has. */
export function historyOf(link: Pick<IncidentLink, 'dedupKey' | 'channel' | 'createdAt'>): HistoryIdentity {
  return { dedupKey: link.dedupKey, channel: link.channel, askedAt: link.createdAt };
}

/** The step a link's state stands for (its outcome, else a click's decision, else only asked). */
export function linkStep(link: IncidentLink): HistoryStep {
  if (link.state === 'triggered') return { step: 'paged', at: link.acceptedAt ?? link.createdAt, ...(link.ref !== undefined ? { ref: link.ref } : {}) };
  if (link.state === 'folded' || link.state === 'rejected') return { step: link.state };
  if (link.confirmation === 'cancelled' || link.confirmation === 'expired' || link.confirmation === 'refused') return { step: 'cancelled', reason: link.confirmation };
  return { step: 'asked' };
}

/** One write's parts: what it sets, and the condition under which the step is news. */
function stepWrite(step: HistoryStep): { sets: string[]; values: Record<string, unknown>; condition?: string } {
  switch (step.step) {
    case 'asked':
      return { sets: [], values: {} };
    case 'paged':
      return {
        sets: ['#outcome = :outcome', '#pagedAt = :at', ...(step.ref !== undefined ? ['#ref = if_not_exists(#ref, :ref)'] : [])],
        values: { ':outcome': 'paged', ':at': step.at, ...(step.ref !== undefined ? { ':ref': step.ref } : {}) },
        condition: 'attribute_not_exists(#outcome)',
      };
    case 'folded':
    case 'rejected':
      return { sets: ['#outcome = :outcome'], values: { ':outcome': step.step }, condition: 'attribute_not_exists(#outcome)' };
    case 'refused':
    case 'cancelled':
      return { sets: ['#outcome = :outcome', '#reason = :reason'], values: { ':outcome': step.step, ':reason': step.reason }, condition: 'attribute_not_exists(#outcome)' };
    case 'no-incident':
      return { sets: ['#noIncidentAt = :at'], values: { ':at': step.at }, condition: 'attribute_not_exists(#noIncidentAt)' };
    case 'acknowledged':
      return { sets: ['#acknowledgedAt = :at'], values: { ':at': step.at }, condition: 'attribute_not_exists(#acknowledgedAt) OR #acknowledgedAt > :at' };
    case 'resolved':
      return { sets: ['#resolvedAt = :at'], values: { ':at': step.at }, condition: 'attribute_not_exists(#resolvedAt) OR #resolvedAt > :at' };
    case 'handled-together':
      // The largest count seen: an incident only gathers escalations, and a retry repeats one.
      return { sets: ['#handledWith = :count'], values: { ':count': step.count }, condition: 'attribute_not_exists(#handledWith) OR #handledWith < :count' };
    case 'merged':
      return { sets: ['#merged = :merged'], values: { ':merged': true }, condition: 'attribute_not_exists(#merged)' };
  }
}

const RECORD_FIELDS = ['dedupKey', 'channel', 'askedAt', 'ref', 'outcome', 'reason', 'pagedAt', 'noIncidentAt', 'acknowledgedAt', 'resolvedAt', 'handledWith', 'merged'] as const;

function toRecord(item: Record<string, unknown>): HistoryRecord {
  const record: Record<string, unknown> = {};
  for (const field of RECORD_FIELDS) if (item[field] !== undefined) record[field] = item[field];
  return record as unknown as HistoryRecord;
}

/** The functions' history on the one table, with its own TTL (the report's reads are {@link makeHistory}'s). */
export function makeHistorySteps(db: DynamoDBDocumentClient, tableName: string, options: { ttlDays: number }): HistorySteps {
  const record: HistorySteps['record'] = async (identity, step) => {
    const write = stepWrite(step);
    const asked = new Date(identity.askedAt);
    // Whoever writes first makes the record whole, so a crash before an earlier step's write loses nothing but that step.
    const sets = [
      '#dedupKey = if_not_exists(#dedupKey, :dedupKey)',
      '#channel = if_not_exists(#channel, :channel)',
      '#askedAt = if_not_exists(#askedAt, :askedAt)',
      `#${INDEX.partitionKey} = if_not_exists(#${INDEX.partitionKey}, :month)`,
      `#${INDEX.sortKey} = if_not_exists(#${INDEX.sortKey}, :sortKey)`,
      `#${TTL} = if_not_exists(#${TTL}, :expires)`,
      ...write.sets,
    ];
    const expression = `SET ${sets.join(', ')}`;
    try {
      await storeCall('update', () =>
        db.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { pk: `${HISTORY_PREFIX}${identity.dedupKey}` },
            UpdateExpression: expression,
            ...(write.condition ? { ConditionExpression: write.condition } : {}),
            ExpressionAttributeValues: {
              ':dedupKey': identity.dedupKey,
              ':channel': identity.channel,
              ':askedAt': identity.askedAt,
              ':month': identity.askedAt.slice(0, 7),
              ':sortKey': `${identity.channel}#${identity.askedAt}#${identity.dedupKey}`,
              // Kept for the period from when it was asked, not from each step's write.
              ':expires': expiryEpoch(asked, options.ttlDays),
              ...write.values,
            },
            ...attributeNames(`${expression} ${write.condition ?? ''}`),
          }),
        ),
      );
    } catch (error) {
      // The step is recorded already (a retry, a redelivery, or a later time than the one kept).
      if (!isConditionFailure(error)) throw error;
    }
  };

  return {
    record,
    recordLink: (link) => record(historyOf(link), linkStep(link)),
    async get(dedupKey) {
      const item = await readItem(db, tableName, { pk: `${HISTORY_PREFIX}${dedupKey}` });
      return item ? toRecord(item) : undefined;
    },
    async recordStatus(link, status, at) {
      if (status === 'acknowledged' || status === 'resolved') await record(historyOf(link), { step: status, at });
    },
  };
}

/** The history on the one table, with the report's reads (by Query only). */
export function makeHistory(db: DynamoDBDocumentClient, tableName: string, options: { ttlDays: number }): History {
  return {
    ...makeHistorySteps(db, tableName, options),
    async query({ from, to, channel, onPage }) {
      const fromIso = from.toISOString();
      const toIso = to.toISOString();
      const records: HistoryRecord[] = [];
      for (const month of monthsOf(from, to)) {
        let cursor: Record<string, unknown> | undefined;
        do {
          const range = channel
            ? { condition: ' AND #sortKey BETWEEN :low AND :high', values: { ':low': `${channel}#${fromIso}`, ':high': `${channel}#${toIso}` } }
            : { condition: '', values: {} };
          const result = await storeCall('query', () =>
            db.send(
              new QueryCommand({
                TableName: tableName,
                IndexName: INDEX.name,
                KeyConditionExpression: `#month = :month${range.condition}`,
                ExpressionAttributeNames: { '#month': INDEX.partitionKey, ...(channel ? { '#sortKey': INDEX.sortKey } : {}) },
                ExpressionAttributeValues: { ':month': month, ...range.values },
                ...(cursor ? { ExclusiveStartKey: cursor } : {}),
              }),
            ),
          );
          for (const item of result.Items ?? []) {
            const record = toRecord(item);
            if (record.askedAt >= fromIso && record.askedAt < toIso && (!channel || record.channel === channel)) records.push(record);
          }
          cursor = result.LastEvaluatedKey;
          onPage?.(records.length);
        } while (cursor);
      }
      return records.sort((a, b) => (a.askedAt < b.askedAt ? -1 : a.askedAt > b.askedAt ? 1 : a.dedupKey < b.dedupKey ? -1 : 1));
    },
  };
}
