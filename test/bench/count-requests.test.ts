import { Client } from '@smithy/core/client';
import { countAwsRequests, difference } from '../../bench/lib/count-requests';
import { startStack } from '../../local/stack';
import { mentionEnvelope, signedSlackJson } from '../../local/events/slack';

// The Document client's commands and the low-level client's, by the operation they send.
const OPERATION: Record<string, string> = {
  GetCommand: 'GetItem',
  GetItemCommand: 'GetItem',
  PutCommand: 'PutItem',
  PutItemCommand: 'PutItem',
  UpdateCommand: 'UpdateItem',
  UpdateItemCommand: 'UpdateItem',
  DeleteCommand: 'DeleteItem',
  DeleteItemCommand: 'DeleteItem',
  BatchGetCommand: 'BatchGetItem',
  BatchGetItemCommand: 'BatchGetItem',
  QueryCommand: 'Query',
  TransactWriteCommand: 'TransactWriteItems',
  TransactWriteItemsCommand: 'TransactWriteItems',
};

describe("the benchmark's count of AWS calls", () => {
  it('counts each DynamoDB call the code makes once, though it passes the local IAM check and then the emulator', async () => {
    const made: Record<string, number> = {};
    const send = Client.prototype.send;
    const sendSpy = jest.spyOn(Client.prototype, 'send').mockImplementation(function (this: Client<never, never, never, never>, ...args: Parameters<typeof send>) {
      const operation = OPERATION[(args[0] as object).constructor.name];
      if (operation) made[`DynamoDB.${operation}`] = (made[`DynamoDB.${operation}`] ?? 0) + 1;
      return send.apply(this, args);
    } as typeof send);
    const counter = countAwsRequests();
    const stack = await startStack({ env: {}, logLevel: 'silent', visibilityTimeoutSeconds: 30, retryBaseSeconds: 1, standIns: { latencyMs: 0 }, customers: [{ channel: 'C0COUNTS1', name: 'Counted', pagesPerHour: 1000 }] });
    try {
      await stack.waitForIdle();
      const before = { counted: counter.snapshot(), made: { ...made } };
      const request = signedSlackJson(stack.secrets.SLACK_SIGNING_SECRET, mentionEnvelope({ channel: 'C0COUNTS1', text: 'escalate counted once' }));
      expect((await fetch(`${stack.url}/slack/events`, { method: 'POST', headers: request.headers, body: request.body })).status).toBe(200);
      await stack.waitForIdle();
      expect(stack.pagerDuty!.incidents.size).toBe(1);

      const counted = Object.fromEntries(Object.entries(difference(counter.snapshot(), before.counted)).filter(([name]) => name.startsWith('DynamoDB.')));
      const madeInStep = difference(made, before.made);
      expect(Object.values(madeInStep).reduce((a, b) => a + b, 0)).toBeGreaterThan(5);
      expect(counted).toEqual(madeInStep);
    } finally {
      await stack.stop();
      counter.stop();
      sendSpy.mockRestore();
    }
  });
});
