import { ReceiveMessageCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { startLocalSqs, type LocalSqs } from './aws';
import { EventSource } from './event-source';

/** The SQS client, counting its ReceiveMessage calls: how many at once, and how many in all. */
function countingReceives(client: SQSClient) {
  const counts = { inFlight: 0, mostAtOnce: 0, total: 0 };
  const send = client.send.bind(client) as (command: unknown, options?: unknown) => Promise<unknown>;
  const counted = {
    send: async (command: unknown, options?: unknown) => {
      if (!(command instanceof ReceiveMessageCommand)) return send(command, options);
      counts.total++;
      counts.mostAtOnce = Math.max(counts.mostAtOnce, ++counts.inFlight);
      try {
        return await send(command, options);
      } finally {
        counts.inFlight--;
      }
    },
  } as unknown as SQSClient;
  return { client: counted, counts };
}

const waitFor = async (done: () => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

describe('the local event source', () => {
  let sqs: LocalSqs;
  beforeAll(async () => {
    sqs = await startLocalSqs({ stage: 'event-source-test' });
  });
  afterAll(() => sqs.stop());

  it('runs its invocations side by side while only one receive waits at a time', async () => {
    const { client, counts } = countingReceives(sqs.client);
    const queueUrl = sqs.queues.slack.url;
    let running = 0;
    let mostRunning = 0;
    const handled: string[] = [];
    const source = new EventSource({
      sqs: client,
      queueUrl,
      batchSize: 1,
      concurrency: 4,
      invoke: async (event: SQSEvent) => {
        mostRunning = Math.max(mostRunning, ++running);
        // Long enough for the other messages to be received while this one runs.
        await new Promise((resolve) => setTimeout(resolve, 300));
        handled.push(...event.Records.map((r) => r.body));
        running--;
      },
    });
    source.start();
    try {
      // Every slot idle: a message wakes one waiting receive, not one per slot.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const before = counts.total;
      await sqs.client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'alone', MessageGroupId: 'g0', MessageDeduplicationId: 'alone' }));
      await waitFor(() => handled.includes('alone'));
      expect(counts.total - before).toBeLessThanOrEqual(3);

      for (let i = 1; i <= 4; i++) {
        await sqs.client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: `m${i}`, MessageGroupId: `g${i}`, MessageDeduplicationId: `m${i}` }));
      }
      await waitFor(() => handled.length === 5);
      expect(mostRunning).toBeGreaterThan(1);
      expect(counts.mostAtOnce).toBe(1);
    } finally {
      await source.stop();
    }
  });
});
