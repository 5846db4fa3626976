import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';

/** Take every message out of a queue (received and deleted, so FIFO groups are not left locked). */
export async function drainQueue(sqs: SQSClient, queueUrl: string): Promise<{ body: Record<string, unknown>; groupId?: string }[]> {
  const out: { body: Record<string, unknown>; groupId?: string }[] = [];
  for (;;) {
    const result = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 300, MessageSystemAttributeNames: ['MessageGroupId'] }),
    );
    const messages = result.Messages ?? [];
    if (!messages.length) return out;
    await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
    for (const m of messages) out.push({ body: JSON.parse(m.Body ?? '{}') as Record<string, unknown>, ...(m.Attributes?.MessageGroupId ? { groupId: m.Attributes.MessageGroupId } : {}) });
  }
}
