import { createHash } from 'node:crypto';
import { ChangeMessageVisibilityCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { EVENT_CONTRACT_VERSION, type QueueRouting } from '../events';
import { TransientError } from '../errors';

/** SQS FIFO limits de-duplication ids to 128 characters of a narrow alphabet: hash whatever Slack gave us. */
function fifoId(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Group ids share that alphabet; channel and incident ids already fit, anything else is hashed. */
function fifoGroupId(value: string): string {
  return /^[A-Za-z0-9_.-]{1,128}$/.test(value) ? value : fifoId(value);
}

/**
 * JSON that SQS accepts whatever text it carries. SQS refuses U+FFFE and U+FFFF (and the local
 * emulator refuses every character beyond U+FFFF, such as emoji): as `\uXXXX` escapes they are
 * plain ASCII, and JSON.parse gives the same text back.
 */
export function toSqsJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\uD800-\uDFFF\uFFFE\uFFFF]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

type Attributes = Record<string, { DataType: 'Number' | 'String'; StringValue: string }>;

/** What an event on a work queue carries beside its body: the contract version it was written to. */
const CONTRACT_ATTRIBUTES: Attributes = { contractVersion: { DataType: 'Number', StringValue: String(EVENT_CONTRACT_VERSION) } };

/** One message to a FIFO queue, its group and de-duplication ids made safe for SQS. */
function fifoMessage(queueUrl: string, body: string, groupId: string, deduplicationId: string, attributes: Attributes): SendMessageCommand {
  return new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body, MessageGroupId: fifoGroupId(groupId || 'unknown'), MessageDeduplicationId: fifoId(deduplicationId), MessageAttributes: attributes });
}

/** Sends normalized events to one FIFO queue. */
export interface EventQueue {
  send(event: object, routing: QueueRouting): Promise<void>;
}

export function makeEventQueue(sqs: SQSClient, queueUrl: string): EventQueue {
  return {
    async send(event, routing) {
      try {
        await sqs.send(fifoMessage(queueUrl, toSqsJson(event), routing.groupId, routing.deduplicationId, CONTRACT_ATTRIBUTES));
      } catch (error) {
        throw new TransientError('could not enqueue the event', error);
      }
    },
  };
}

/** What a worker does with a message it must give back or set aside. */
export interface QueueControl {
  /** Make a failed message visible again after `seconds` (the retry backoff). */
  retryAfter(receiptHandle: string, seconds: number): Promise<void>;
  /** Put a message that can never succeed straight into the DLQ, with the reason beside it. */
  park(body: string, groupId: string, deduplicationId: string, reason: string): Promise<void>;
  /**
   * Send a copy of a rate-limited message to the end of its group, not to be worked on before
   * `notBefore` (epoch ms, in the `notBefore` attribute): the copy starts with a fresh receive count.
   */
  requeue?(body: string, groupId: string, deduplicationId: string, notBefore: number): Promise<void>;
}

/** The message attribute a requeued copy carries: the epoch ms before which it is not worked on. */
export const NOT_BEFORE_ATTRIBUTE = 'notBefore';

export function makeQueueControl(sqs: SQSClient, queueUrl: string, dlqUrl: string): QueueControl {
  return {
    async retryAfter(receiptHandle, seconds) {
      await sqs.send(
        new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle, VisibilityTimeout: Math.ceil(seconds) }),
      );
    },
    async requeue(body, groupId, deduplicationId, notBefore) {
      // Unique per requeue: the original's id would be dropped as a duplicate for 5 minutes.
      await sqs.send(fifoMessage(queueUrl, body, groupId, `requeued:${notBefore}:${deduplicationId}`, { ...CONTRACT_ATTRIBUTES, [NOT_BEFORE_ATTRIBUTE]: { DataType: 'Number', StringValue: String(notBefore) } }));
    },
    async park(body, groupId, deduplicationId, reason) {
      // A reason may quote the message itself: characters SQS refuses become U+FFFD.
      await sqs.send(fifoMessage(dlqUrl, body, groupId, `parked:${deduplicationId}`, { reason: { DataType: 'String', StringValue: reason.slice(0, 1000).replace(/[^\t\n\r\x20-\uD7FF\uE000-\uFFFD]/g, '\uFFFD') } }));
    },
  };
}
