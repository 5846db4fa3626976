/**
 * The AWS bill per million escalations, from the calls one escalation's life makes ("Calls per
 * step": the Slack request with its incident.triggered webhook, then an acknowledgement and a
 * resolution) at us-east-1 on-demand list prices. docs/performance.md ("Cost per million
 * escalations") states the prices and the durations assumed.
 */
export const PRICES = {
  lambdaRequest: 0.2 / 1e6,
  lambdaGbSecond: 0.0000133334,
  sqsFifoRequest: 0.5 / 1e6,
  dynamoWriteUnit: 0.625 / 1e6,
  dynamoReadUnit: 0.125 / 1e6,
  /** ~5 functions × 4 fetches an hour × 730 h at $0.05 per 10,000, whatever the volume. */
  secretsManagerPerMonth: 0.07,
} as const;

/** Lambda bills wall time, mostly waiting on Slack and PagerDuty: the durations assumed, in seconds, and memory in GB. */
export const DURATIONS = {
  ingress: { seconds: 0.03, gb: 0.25 },
  slackWorker: { seconds: 0.5, gb: 0.5 },
  webhook: { seconds: 0.3, gb: 0.5 },
  refresh: { seconds: 0.1, gb: 0.5 },
} as const;

export interface CostStep {
  aws: Record<string, number>;
  webhooks: number;
}

export interface CostEstimate {
  items: { item: string; perEscalation: number; dollarsPerMillion: number }[];
  dollarsPerMillion: number;
}

/** The estimate for one escalation made of `steps` (one Slack request in all, each step's webhooks). */
export function costPerMillionEscalations(steps: readonly CostStep[]): CostEstimate {
  const sum = (name: string) => steps.reduce((total, step) => total + (step.aws[name] ?? 0), 0);
  const webhooks = steps.reduce((total, step) => total + step.webhooks, 0);
  const ingress = 1 + webhooks;
  // Every message sent is one worker invocation (no batching counted): the Slack request's, each
  // webhook's, and the rest the workers' own (confirmation refreshes).
  const messages = sum('SQS.SendMessage');
  const refreshes = Math.max(0, messages - ingress);
  const gbSeconds =
    ingress * DURATIONS.ingress.gb * DURATIONS.ingress.seconds +
    DURATIONS.slackWorker.gb * DURATIONS.slackWorker.seconds +
    webhooks * DURATIONS.webhook.gb * DURATIONS.webhook.seconds +
    refreshes * DURATIONS.refresh.gb * DURATIONS.refresh.seconds;
  const sqs = messages + messages + sum('SQS.DeleteMessageBatch') + sum('SQS.DeleteMessage') + sum('SQS.ChangeMessageVisibility');
  const writes = sum('DynamoDB.PutItem') + sum('DynamoDB.UpdateItem') + sum('DynamoDB.DeleteItem');
  // A BatchGetItem here reads two items (the escalation's recorded answer and the channel's budget).
  const reads = sum('DynamoDB.GetItem') + sum('DynamoDB.Query') + 2 * sum('DynamoDB.BatchGetItem');
  const million = 1e6;
  const items = [
    { item: 'Lambda requests', perEscalation: ingress + messages, dollarsPerMillion: (ingress + messages) * PRICES.lambdaRequest * million },
    { item: 'Lambda compute (GB-s)', perEscalation: gbSeconds, dollarsPerMillion: gbSeconds * PRICES.lambdaGbSecond * million },
    { item: 'SQS FIFO requests (send, receive, delete)', perEscalation: sqs, dollarsPerMillion: sqs * PRICES.sqsFifoRequest * million },
    { item: 'DynamoDB write units', perEscalation: writes, dollarsPerMillion: writes * PRICES.dynamoWriteUnit * million },
    { item: 'DynamoDB read units', perEscalation: reads, dollarsPerMillion: reads * PRICES.dynamoReadUnit * million },
    { item: 'Secrets Manager (per month, not per escalation)', perEscalation: 0, dollarsPerMillion: PRICES.secretsManagerPerMonth },
  ];
  return { items, dollarsPerMillion: items.reduce((total, i) => total + i.dollarsPerMillion, 0) };
}
