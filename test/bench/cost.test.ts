import { costPerMillionEscalations, type CostStep } from '../../bench/lib/cost';

describe('the cost per million escalations', () => {
  it("reproduces docs/performance.md's hand-made estimate from its calls per step ($38.9)", () => {
    // The three steps of the full run of 16:34 (bench/results/latest.md, "Calls per step").
    const steps: CostStep[] = [
      { webhooks: 1, aws: { 'DynamoDB.PutItem': 6, 'SQS.SendMessage': 2, 'DynamoDB.GetItem': 4, 'DynamoDB.BatchGetItem': 1, 'DynamoDB.UpdateItem': 8, 'SQS.DeleteMessageBatch': 2 } },
      { webhooks: 1, aws: { 'DynamoDB.PutItem': 1, 'SQS.SendMessage': 2, 'DynamoDB.GetItem': 4, 'DynamoDB.UpdateItem': 4, 'SQS.DeleteMessageBatch': 2 } },
      { webhooks: 1, aws: { 'DynamoDB.PutItem': 1, 'SQS.SendMessage': 2, 'DynamoDB.GetItem': 4, 'DynamoDB.UpdateItem': 4, 'SQS.DeleteMessageBatch': 2 } },
    ];
    const estimate = costPerMillionEscalations(steps);
    const item = (name: string) => estimate.items.find((i) => i.item.startsWith(name))!;
    // By hand: 4 ingress + 6 worker invocations; 4 × 0.25 × 0.03 + 0.5 × 0.5 + 3 × 0.5 × 0.3 + 2 × 0.5 × 0.1 GB-s.
    expect(item('Lambda requests').perEscalation).toBe(10);
    expect(item('Lambda compute').perEscalation).toBeCloseTo(0.83, 10);
    expect(item('SQS').perEscalation).toBe(18);
    expect(item('DynamoDB write').perEscalation).toBe(24);
    expect(item('DynamoDB read').perEscalation).toBe(14);
    expect(estimate.dollarsPerMillion).toBeCloseTo(2 + 11.067 + 9 + 15 + 1.75 + 0.07, 2);
  });
});
