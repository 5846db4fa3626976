import { DeleteMessageBatchCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

/**
 * Feeds a worker from a queue the way Lambda's SQS event source mapping does: long-poll a
 * batch, invoke, delete what succeeded, leave the reported failures to come back after their
 * visibility timeout (and to the DLQ after maxReceiveCount). An invocation that throws leaves
 * the whole batch, as in Lambda.
 */
export class EventSource {
  private running = false;
  private loop?: Promise<void>;
  /** The invocations running now, each a batch. */
  private readonly invocations = new Set<Promise<void>>();
  private readonly abort = new AbortController();

  constructor(
    private readonly options: {
      sqs: SQSClient;
      queueUrl: string;
      queueArn?: string;
      batchSize: number;
      invoke: (event: SQSEvent) => Promise<SQSBatchResponse | void>;
      onError?: (error: unknown) => void;
      /** Invocations at once (each a batch); Lambda scales FIFO consumers per message group. */
      concurrency?: number;
    },
  ) {}

  get busy(): boolean {
    return this.invocations.size > 0;
  }

  start(): void {
    this.running = true;
    this.loop = this.receive();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    await this.loop;
  }

  /**
   * One receive at a time, whenever an invocation slot is free, as Lambda's pollers are a fleet
   * apart from the invocations they feed. Several pollers each long-polling would be woken
   * together by every message (the emulator wakes every waiting receive), and all but one would
   * come back empty: receives that cost the emulator's thread without delivering anything.
   */
  private async receive(): Promise<void> {
    const slots = this.options.concurrency ?? 2;
    const { invocations } = this;
    while (this.running) {
      if (invocations.size >= slots) {
        await Promise.race(invocations);
        continue;
      }
      let messages: Message[] = [];
      try {
        const result = await this.options.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: this.options.queueUrl,
            MaxNumberOfMessages: this.options.batchSize,
            WaitTimeSeconds: 1,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: this.abort.signal },
        );
        messages = result.Messages ?? [];
      } catch (error) {
        if (!this.running) break;
        this.options.onError?.(error);
        await new Promise((resolve) => setTimeout(resolve, 200));
        continue;
      }
      if (messages.length === 0) continue;
      const invocation: Promise<void> = this.deliver(messages)
        .catch((error: unknown) => this.options.onError?.(error))
        .finally(() => invocations.delete(invocation));
      invocations.add(invocation);
    }
    await Promise.all(invocations);
  }

  private async deliver(messages: Message[]) {
    const records = messages.map((m) => toRecord(m, this.options.queueArn ?? this.options.queueUrl));
    let failed: Set<string>;
    try {
      const response = await this.options.invoke({ Records: records });
      failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    } catch (error) {
      this.options.onError?.(error);
      return;
    }
    const done = messages.filter((m) => !failed.has(m.MessageId!));
    if (done.length === 0) return;
    await this.options.sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: this.options.queueUrl,
        Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
  }
}

function toRecord(message: Message, source: string): SQSRecord {
  const attributes = (message.Attributes ?? {}) as Record<string, string>;
  return {
    messageId: message.MessageId!,
    receiptHandle: message.ReceiptHandle!,
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? 'local',
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      ...(attributes.MessageGroupId ? { MessageGroupId: attributes.MessageGroupId } : {}),
      ...(attributes.MessageDeduplicationId ? { MessageDeduplicationId: attributes.MessageDeduplicationId } : {}),
      ...(attributes.SequenceNumber ? { SequenceNumber: attributes.SequenceNumber } : {}),
    },
    messageAttributes: Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([key, value]) => [
        key,
        { dataType: value.DataType ?? 'String', ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}) },
      ]),
    ),
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: source,
    awsRegion: 'us-east-1',
  };
}
