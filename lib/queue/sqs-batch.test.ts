import type { SQSRecord } from 'aws-lambda';
import { InvalidInputError, RateLimitedError, TransientError, WaitForTurnError } from '../errors';
import { createLogger, type Logger } from '../runtime/log';
import { makeQueueControl } from './queue';
import { processFifoBatch, retryDelayFor, retryDelaySeconds, SQS_MAX_VISIBILITY_SECONDS } from './sqs-batch';
import { startLocalSqs, type LocalSqs } from '../../local/aws';
import { drainQueue } from '../../test/support/queue';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';

function record(id: string, group: string, body = id, receiveCount = 1, receiptHandle = `rh-${id}`): SQSRecord {
  return {
    messageId: id,
    receiptHandle,
    body,
    attributes: { ApproximateReceiveCount: String(receiveCount), SentTimestamp: '0', SenderId: 'x', ApproximateFirstReceiveTimestamp: '0', MessageGroupId: group, MessageDeduplicationId: `d-${id}` },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn',
    awsRegion: 'us-east-1',
  };
}

describe('processFifoBatch', () => {
  let sqs: LocalSqs;
  beforeAll(async () => {
    sqs = await startLocalSqs({ stage: 'batch-test' });
  });
  afterAll(() => sqs.stop());

  const options = () => ({
    logger: createLogger({ level: 'silent' }),
    queue: makeQueueControl(sqs.client, sqs.queues.slack.url, sqs.queues.slack.dlqUrl),
    maxReceiveCount: 5,
    retryBaseSeconds: 0,
    retryMaxSeconds: 360,
  });

  it('a failure stops its group (that message and the later ones are failed) while other groups go on', async () => {
    const handled: string[] = [];
    const result = await processFifoBatch(
      [record('a1', 'A'), record('b1', 'B'), record('a2', 'A'), record('a3', 'A'), record('b2', 'B')],
      async ({ record: r }) => {
        handled.push(r.messageId);
        if (r.messageId === 'a2') throw new TransientError('PagerDuty answered 503');
      },
      options(),
    );
    expect(result.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(['a2', 'a3']);
    expect(handled.sort()).toEqual(['a1', 'a2', 'b1', 'b2']);
  });

  it('a message that can never succeed is parked in the DLQ with its reason and does not block its group', async () => {
    const handled: string[] = [];
    const result = await processFifoBatch(
      [record('p1', 'P', 'garbage'), record('p2', 'P')],
      async ({ record: r }) => {
        handled.push(r.messageId);
        if (r.body === 'garbage') throw new InvalidInputError('queue message is not JSON');
      },
      options(),
    );
    expect(result.batchItemFailures).toEqual([]);
    expect(handled).toEqual(['p1', 'p2']);
    const parked = await sqs.client.send(new ReceiveMessageCommand({ QueueUrl: sqs.queues.slack.dlqUrl, MessageAttributeNames: ['All'], MaxNumberOfMessages: 10 }));
    expect(parked.Messages?.map((m) => [m.Body, m.MessageAttributes?.reason?.StringValue])).toEqual([['garbage', 'queue message is not JSON']]);
    await drainQueue(sqs.client, sqs.queues.slack.dlqUrl);
  });

  it('does not start a message without the time its worst case needs, and hands it back', async () => {
    const handled: string[] = [];
    let left = 30_000;
    const result = await processFifoBatch(
      [record('t1', 'T'), record('t2', 'T'), record('u1', 'U')],
      async ({ record: r }) => {
        handled.push(r.messageId);
        left -= 20_000; // a slow Slack: each message takes 20 s
      },
      { ...options(), remainingMs: () => left, reserveMs: 26_000 },
    );
    expect(handled).toHaveLength(1);
    expect(result.batchItemFailures).toHaveLength(2);
  });

  it('tells the handler when a delivery is the last before the DLQ', async () => {
    const seen: boolean[] = [];
    await processFifoBatch([record('f1', 'F', 'x', 4), record('g1', 'G', 'x', 5)], async ({ finalAttempt }) => void seen.push(finalAttempt), options());
    expect(seen.sort()).toEqual([false, true]);
  });

  it('a failed message becomes visible again after the backoff', async () => {
    await sqs.client.send(new SendMessageCommand({ QueueUrl: sqs.queues.slack.url, MessageBody: 'retry-me', MessageGroupId: 'R', MessageDeduplicationId: 'retry-me' }));
    const received = (await sqs.client.send(new ReceiveMessageCommand({ QueueUrl: sqs.queues.slack.url, VisibilityTimeout: 300, MessageSystemAttributeNames: ['All'] }))).Messages![0]!;
    await processFifoBatch([record(received.MessageId!, 'R', 'retry-me', 1, received.ReceiptHandle!)], async () => {
      throw new Error('boom');
    }, options());
    // Backoff 0 s: it is back at once instead of after the 300 s visibility timeout.
    const again = await sqs.client.send(new ReceiveMessageCommand({ QueueUrl: sqs.queues.slack.url, WaitTimeSeconds: 1 }));
    expect(again.Messages?.[0]?.Body).toBe('retry-me');
  });
  describe('a rate-limited message never walks into the DLQ for waiting its turn', () => {
    it('near the receive limit, a 429 requeues a copy with a fresh count, not to be tried before Retry-After', async () => {
      await drainQueue(sqs.client, sqs.queues.slack.url);
      const body = JSON.stringify({ n: 1 });
      const before = Date.now();
      const result = await processFifoBatch(
        [record('r1', 'RQ', body, 4)],
        async () => {
          throw new RateLimitedError('slack', 'chat.update answered 429', undefined, 7);
        },
        options(),
      );
      // The original is done with (deleted by the event source); its copy carries the wait.
      expect(result.batchItemFailures).toEqual([]);
      const copies = (await sqs.client.send(new ReceiveMessageCommand({ QueueUrl: sqs.queues.slack.url, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'], MaxNumberOfMessages: 10, VisibilityTimeout: 300 }))).Messages ?? [];
      expect(copies.map((m) => [m.Body, m.Attributes?.MessageGroupId, m.Attributes?.ApproximateReceiveCount])).toEqual([[body, 'RQ', '1']]);
      const notBefore = Number(copies[0]!.MessageAttributes?.notBefore?.StringValue);
      expect(notBefore).toBeGreaterThanOrEqual(before + 7000);
      await drainQueue(sqs.client, sqs.queues.slack.url);
    });

    it('earlier in its life, a 429 is an ordinary retry (no copy); past the limit, other failures still go to the DLQ', async () => {
      await drainQueue(sqs.client, sqs.queues.slack.url);
      const rateLimited = await processFifoBatch([record('r2', 'RS', 'x', 2)], async () => {
        throw new RateLimitedError('pagerduty', 'Events API answered 429');
      }, options());
      expect(rateLimited.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(['r2']);
      const failing = await processFifoBatch([record('r3', 'RT', 'x', 5)], async () => {
        throw new TransientError('PagerDuty answered 503');
      }, options());
      expect(failing.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(['r3']);
      expect(await drainQueue(sqs.client, sqs.queues.slack.url)).toEqual([]);
    });

    it('a message waiting for its paced turn is handed back for exactly that long, requeued near the limit, and never counted as a refusal', async () => {
      await drainQueue(sqs.client, sqs.queues.slack.url);
      const seen: { level: string; message: string }[] = [];
      const metrics: string[] = [];
      const logger: Logger = {
        debug: (message) => void seen.push({ level: 'debug', message }),
        info: (message) => void seen.push({ level: 'info', message }),
        warn: (message) => void seen.push({ level: 'warn', message }),
        error: (message) => void seen.push({ level: 'error', message }),
        child: () => logger,
        metric: (name) => void metrics.push(name),
      };
      const waits: number[] = [];
      const waiting = async () => {
        throw new WaitForTurnError('the confirmation waits for its turn', undefined, 95);
      };
      const early = await processFifoBatch([record('w1', 'W', 'x', 1)], waiting, { ...options(), logger, queue: { ...options().queue, retryAfter: async (_handle, seconds) => void waits.push(seconds) } });
      expect(early.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(['w1']);
      expect(waits).toEqual([95]);
      const late = await processFifoBatch([record('w2', 'W', 'late', 4)], waiting, { ...options(), logger });
      expect(late.batchItemFailures).toEqual([]);
      const copies = (await sqs.client.send(new ReceiveMessageCommand({ QueueUrl: sqs.queues.slack.url, MessageAttributeNames: ['All'], MaxNumberOfMessages: 10, VisibilityTimeout: 300 }))).Messages ?? [];
      expect(copies.map((m) => m.Body)).toEqual(['late']);
      expect(Number(copies[0]!.MessageAttributes?.notBefore?.StringValue)).toBeGreaterThanOrEqual(Date.now() + 90_000);
      await drainQueue(sqs.client, sqs.queues.slack.url);
      // Waiting its turn is not a failure: no warning, and no 429 counted against Slack or PagerDuty.
      expect(seen.filter((l) => l.level === 'warn' || l.level === 'error')).toEqual([]);
      expect(metrics).toEqual([]);
    });

    it('a copy received before its time is handed back without being worked on, and worked on after it', async () => {
      const handled: string[] = [];
      const handle = async ({ record: r }: { record: SQSRecord }) => void handled.push(r.messageId);
      const early = { ...record('c1', 'C'), messageAttributes: { notBefore: { dataType: 'Number', stringValue: String(Date.now() + 60_000) } } };
      const result = await processFifoBatch([early, record('c2', 'C')], handle, { ...options(), queue: { ...options().queue, retryAfter: async () => undefined } });
      expect(handled).toEqual([]);
      expect(result.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(['c1', 'c2']);
      const due = { ...record('c3', 'C'), messageAttributes: { notBefore: { dataType: 'Number', stringValue: String(Date.now() - 1) } } };
      expect((await processFifoBatch([due], handle, options())).batchItemFailures).toEqual([]);
      expect(handled).toEqual(['c3']);
    });
  });
});

describe('retryDelaySeconds', () => {
  it('doubles per attempt up to the cap', () => {
    expect([1, 2, 3, 4, 5, 10].map((n) => retryDelaySeconds(n, 10, 360))).toEqual([10, 20, 40, 80, 160, 360]);
  });
});

describe('retryDelayFor', () => {
  const options = { retryBaseSeconds: 10, retryMaxSeconds: 360 };
  const rateLimited = (seconds: number) => new TransientError('another attempt is performing this effect now', undefined, seconds);

  it('waits exactly what the error names (a lease, a thread not yet posted), rounded up to SQS’s whole seconds, whatever the attempt', () => {
    expect(retryDelayFor(rateLimited(1), 1, options)).toBe(1);
    expect(retryDelayFor(rateLimited(1), 4, options)).toBe(1);
    expect(retryDelayFor(rateLimited(1.2), 1, options)).toBe(2);
  });

  it('a repeated 429 comes back no sooner than asked, spread at random over a window that doubles per refusal', () => {
    const refused = new RateLimitedError('slack', 'Slack chat.postMessage was rate limited', undefined, 1);
    expect([1, 2, 3, 4].map((attempt) => retryDelayFor(refused, attempt, { ...options, random: () => 0 }))).toEqual([1, 1, 1, 1]);
    expect([1, 2, 3, 4].map((attempt) => retryDelayFor(refused, attempt, { ...options, random: () => 0.999 }))).toEqual([2, 4, 8, 16]);
    expect(retryDelayFor(refused, 12, { ...options, random: () => 0.999 })).toBe(1 + 30);
    // Drawn for real: never below Retry-After, and hundreds refused together do not come back together.
    const delays = Array.from({ length: 300 }, () => retryDelayFor(refused, 3, options));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...delays)).toBeLessThanOrEqual(8);
    expect(new Set(delays).size).toBeGreaterThan(4);
  });

  it('never retries earlier than asked, even past the queue’s own visibility timeout (up to SQS’s 12 hours)', () => {
    expect(retryDelayFor(rateLimited(900), 1, options)).toBe(900);
    expect(retryDelayFor(rateLimited(86_400), 1, options)).toBe(SQS_MAX_VISIBILITY_SECONDS);
  });

  it('backs off exponentially when the API did not say (PagerDuty’s Events API 429, a 5xx, a crash)', () => {
    expect([1, 2, 3].map((attempt) => retryDelayFor(new TransientError('PagerDuty Events API answered 429'), attempt, options))).toEqual([10, 20, 40]);
    expect(retryDelayFor(new Error('boom'), 2, options)).toBe(20);
  });

  it('after a 429 that named no wait, backs off no further than a rate limit refills (20 s), not as for an outage', () => {
    const throttled = new RateLimitedError('pagerduty', 'PagerDuty Events API answered 429');
    expect([1, 2, 3, 4].map((attempt) => retryDelayFor(throttled, attempt, options))).toEqual([10, 20, 20, 20]);
    expect(retryDelayFor(new TransientError('PagerDuty answered 503'), 4, options)).toBe(80);
  });
});
