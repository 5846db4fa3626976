import type { LocalStack } from '../local/stack';
import { WEBHOOK_MAX_AGE_MS } from '../lib/events';
import { botMessages, mention, sendWebhook, startTestStack } from './support/stack';
import { captureOutput } from '../local/world/capture-output';

/**
 * X-Webhook-Id is not signed: a signed body captured once (from a log, a proxy, a test
 * subscription) can be sent again under a new id, and would be a new delivery. A webhook older
 * than any delivery PagerDuty still retries is refused instead, through the local stack.
 */
describe('a replayed old webhook', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startTestStack({ logLevel: 'info' });
  });
  afterAll(() => stack.stop());

  it('a signed webhook from 2020 under a new X-Webhook-Id is refused, logged and counted, and never posted; one within the window is told', async () => {
    const output = captureOutput();
    try {
      await mention(stack, 'CREPLAY', 'escalate checkout is down');
      await stack.waitForIdle();
      const incident = [...stack.pagerDuty!.incidents.values()].find((i) => (i.payload.custom_details as { channel_id?: string } | undefined)?.channel_id === 'CREPLAY')!;
      const before = botMessages(stack, 'CREPLAY').length;

      // Genuine, signed, but from 2020 (and just past the window): answered 2xx, as PagerDuty needs, and nothing posted.
      for (const [at, id] of [['2020-03-01T09:00:00Z', 'E-REPLAY-2020'], [new Date(Date.now() - WEBHOOK_MAX_AGE_MS - 60_000).toISOString(), 'E-REPLAY-LATE']] as const) {
        expect((await sendWebhook(stack, { ...incident, status: 'resolved' }, 'incident.resolved', at, id)).status).toBe(202);
      }
      await stack.waitForIdle();
      expect(botMessages(stack, 'CREPLAY')).toHaveLength(before);
      const records = output.records();
      expect(records.filter((r) => /older than PagerDuty retries a delivery was refused/.test(String(r.message)))).toHaveLength(2);
      expect(records.filter((r) => JSON.stringify(r._aws ?? {}).includes('StaleWebhooksRefused'))).toHaveLength(2);

      // A late delivery PagerDuty still retries (a day old) is told.
      expect((await sendWebhook(stack, { ...incident, status: 'acknowledged' }, 'incident.acknowledged', new Date(Date.now() - 24 * 3_600_000).toISOString(), 'E-REPLAY-DAY', 'Dana Scully')).status).toBe(202);
      await stack.waitForIdle();
      expect(botMessages(stack, 'CREPLAY').slice(before).map((m) => m.text)).toEqual([expect.stringContaining('Acknowledged by Dana Scully')]);
      expect(await stack.dlq('pagerduty')).toEqual([]);
    } finally {
      output.restore();
    }
  });
});
