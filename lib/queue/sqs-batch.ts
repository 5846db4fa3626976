import type { SQSBatchItemFailure, SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { InvalidInputError, isLimitWait, isRetryable, RateLimitedError, TransientError, WaitForTurnError } from '../errors';
import { METRIC_NAMES } from '../runtime/metrics';
import type { Logger } from '../runtime/log';
import { NOT_BEFORE_ATTRIBUTE, type QueueControl } from './queue';

export interface RecordContext {
  record: SQSRecord;
  /** 1 on the first delivery; SQS counts every receive. */
  attempt: number;
  /** True when this is the last delivery before SQS moves the message to the DLQ. */
  finalAttempt: boolean;
}

export interface BatchOptions {
  logger: Logger;
  queue: QueueControl;
  maxReceiveCount: number;
  retryBaseSeconds: number;
  /** The longest a retry waits: the queue's visibility timeout. */
  retryMaxSeconds: number;
  /** Time left in this invocation; a message is not started with less than `reserveMs` left. */
  remainingMs?: () => number;
  reserveMs?: number;
  /** The event id, channel or incident of a record, for the lines logged about it. */
  logContext?: (record: SQSRecord) => Record<string, unknown>;
  /** The source of the spread added to a 429's wait (Math.random; fixed in tests). */
  random?: () => number;
}

export function retryDelaySeconds(attempt: number, baseSeconds: number, maxSeconds: number): number {
  return Math.min(maxSeconds, baseSeconds * 2 ** Math.max(0, attempt - 1));
}

/** The longest visibility timeout SQS accepts (12 hours). */
export const SQS_MAX_VISIBILITY_SECONDS = 43_200;

/**
 * Whole seconds until a failed message is retried. When the API said how long to wait (a 429's
 * `Retry-After`), never sooner than that, rounded up, since only this message's group waits.
 * A 429 may add a random spread that grows with each refusal (up to 2^attempt − 1 s, at most
 * 30 s): hundreds of channels' posts refused by one workspace-wide limit are all told "1 s", and
 * coming back together they would be refused together again, each refusal a redelivery with its
 * reads. Otherwise exponential backoff. The message is invisible from the moment it is handed back,
 * after the refusal arrived, so the retry cannot come early.
 */
export function retryDelayFor(error: unknown, attempt: number, options: Pick<BatchOptions, 'retryBaseSeconds' | 'retryMaxSeconds' | 'random'>): number {
  const asked = error instanceof TransientError ? error.retryAfterSeconds : undefined;
  if (asked !== undefined && asked > 0) {
    const spread = error instanceof RateLimitedError ? Math.floor((options.random ?? Math.random)() * Math.min(RATE_LIMIT_MAX_SPREAD_SECONDS + 1, 2 ** Math.max(1, attempt))) : 0;
    return Math.min(SQS_MAX_VISIBILITY_SECONDS, Math.ceil(asked) + spread);
  }
  // A limit that gave no wait (PagerDuty's Events API: 120 in any 60 s) frees slots continuously:
  // backing off further than this only leaves freed slots unused.
  const max = error instanceof RateLimitedError ? Math.min(options.retryMaxSeconds, RATE_LIMIT_MAX_BACKOFF_SECONDS) : options.retryMaxSeconds;
  return Math.ceil(retryDelaySeconds(attempt, options.retryBaseSeconds, max));
}

/** The most a repeated 429 adds at random to the wait it was told. */
export const RATE_LIMIT_MAX_SPREAD_SECONDS = 30;

/** The longest backoff after a 429 that named no wait; a refused call costs the API nothing. */
export const RATE_LIMIT_MAX_BACKOFF_SECONDS = 20;

/**
 * Process one SQS batch the way a FIFO consumer must: message groups run concurrently, the
 * messages of one group in order, and a failure stops its group (the failed message and every
 * later one of that group are reported as batch item failures, so SQS keeps their order).
 *
 * - A message that can never succeed (InvalidInputError) is parked in the DLQ with its reason
 *   at once, and its group goes on: one poison message blocks nothing behind it.
 * - Any other failure is retried with exponential backoff (the message's visibility is set to
 *   the delay, or to a 429's Retry-After), and after maxReceiveCount deliveries SQS's redrive
 *   moves it to the DLQ; a rate-limited message is requeued with a fresh count instead.
 */
export async function processFifoBatch(
  records: readonly SQSRecord[],
  handle: (context: RecordContext) => Promise<void>,
  options: BatchOptions,
): Promise<SQSBatchResponse> {
  const groups = new Map<string, SQSRecord[]>();
  for (const record of records) {
    const group = record.attributes.MessageGroupId ?? record.messageId;
    groups.set(group, [...(groups.get(group) ?? []), record]);
  }
  const failures: SQSBatchItemFailure[] = [];
  await Promise.all(
    [...groups.values()].map(async (groupRecords) => {
      for (let index = 0; index < groupRecords.length; index++) {
        const record = groupRecords[index]!;
        if (options.remainingMs && options.remainingMs() < (options.reserveMs ?? 0)) {
          // Starting now could be cut off by the Lambda timeout, which would fail the whole
          // batch; hand the rest of the group back to be picked up at once by a fresh invocation.
          options.logger.warn('too little time left in this invocation; the rest of the group goes back to the queue', { left: groupRecords.length - index });
          await Promise.all(groupRecords.slice(index).map((r) => options.queue.retryAfter(r.receiptHandle, 0).catch(() => undefined)));
          for (const skipped of groupRecords.slice(index)) failures.push({ itemIdentifier: skipped.messageId });
          return;
        }
        const ok = await processRecord(record, handle, options);
        if (!ok) {
          for (const skipped of groupRecords.slice(index)) failures.push({ itemIdentifier: skipped.messageId });
          return;
        }
      }
    }),
  );
  return { batchItemFailures: failures };
}

async function processRecord(
  record: SQSRecord,
  handle: (context: RecordContext) => Promise<void>,
  options: BatchOptions,
): Promise<boolean> {
  const attempt = Number(record.attributes.ApproximateReceiveCount) || 1;
  const notBefore = Number(record.messageAttributes[NOT_BEFORE_ATTRIBUTE]?.stringValue);
  if (notBefore > Date.now()) {
    // A requeued copy arrives at once (FIFO queues have no per-message delay): it waits out the
    // rest of what the API asked before anything is called.
    await options.queue.retryAfter(record.receiptHandle, Math.ceil((notBefore - Date.now()) / 1000)).catch(() => undefined);
    return false;
  }
  try {
    await handle({ record, attempt, finalAttempt: attempt >= options.maxReceiveCount });
    return true;
  } catch (error) {
    // Built only on failure: the context comes from parsing the body a second time.
    const logger = options.logger.child({ ...options.logContext?.(record), messageId: record.messageId, attempt });
    if (error instanceof InvalidInputError) {
      logger.error('message parked in the DLQ: it can never be processed', { reason: error.message });
      logger.metric(METRIC_NAMES.messagesParked);
      try {
        await options.queue.park(
          record.body,
          record.attributes.MessageGroupId ?? '',
          record.attributes.MessageDeduplicationId ?? record.messageId,
          error.message,
        );
        return true;
      } catch (parkError) {
        logger.error('could not park the message; SQS will retry it', { error: parkError });
        return false;
      }
    }
    if (error instanceof RateLimitedError) logger.metric(error.service === 'slack' ? METRIC_NAMES.slackRateLimited : METRIC_NAMES.pagerDutyRateLimited);
    const delay = retryDelayFor(error, attempt, options);
    // Every refusal is a receive, and SQS dead-letters after maxReceiveCount: a message that
    // only waits its turn under a rate limit (a storm on one routing key, a fan-out to hundreds
    // of channels) would be lost for being patient. Near that limit it goes back to the end of its
    // group as a copy with a fresh count, still not retried before the wait it was told.
    if (isLimitWait(error) && options.queue.requeue && attempt >= options.maxReceiveCount - 1) {
      try {
        await options.queue.requeue(record.body, record.attributes.MessageGroupId ?? '', record.attributes.MessageDeduplicationId ?? record.messageId, Date.now() + delay * 1000);
        logger.info('rate-limited near the receive limit; requeued with a fresh receive count', { retryInSeconds: delay });
        return true;
      } catch (requeueError) {
        logger.warn('could not requeue the rate-limited message; SQS will retry it', { error: requeueError });
      }
    }
    if (attempt >= options.maxReceiveCount) logger.metric(METRIC_NAMES.messagesExhausted);
    const retryable = isRetryable(error);
    if (error instanceof WaitForTurnError && attempt < options.maxReceiveCount) logger.info('waiting for its turn', { reason: error.message, retryInSeconds: delay });
    else logger.warn(attempt >= options.maxReceiveCount ? 'message failed for the last time; SQS moves it to the DLQ' : 'message failed; it will be retried', {
      error,
      retryable,
      retryInSeconds: delay,
    });
    try {
      await options.queue.retryAfter(record.receiptHandle, delay);
    } catch (visibilityError) {
      logger.warn('could not set the retry delay; the visibility timeout applies', { error: visibilityError });
    }
    return false;
  }
}
