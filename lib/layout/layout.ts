import layout from './layout.json';

/**
 * The one definition of the table and the queues. serverless.yml reads layout.json through
 * deploy/cloudformation.js; the local stack and the tests read it through here.
 */
export const LAYOUT = layout;

export type QueueName = keyof typeof layout.queues;
export type QueueLayout = (typeof layout.queues)[QueueName];

/** Physical queue names for a stage, as the deploy creates them (FIFO names end in .fifo). */
export function queueNames(stage: string, queue: QueueName): { queue: string; dlq: string } {
  const base = `${layout.service}-${stage}-${layout.queues[queue].nameSuffix}`;
  return { queue: `${base}.fifo`, dlq: `${base}-dlq.fifo` };
}

export function tableName(stage: string): string {
  return `${layout.service}-${stage}-${layout.table.nameSuffix}`;
}
