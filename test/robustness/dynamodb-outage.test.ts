import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startStack, type LocalStack } from '../../local/stack';
import { ensureCustomer } from '../../local/world/customers';
import { STAND_IN_BOT_USER_ID } from '../../local/stand-ins/slack';
import { audit } from '../../local/world/audit';
import { captureOutput } from '../../local/world/capture-output';
import { FIRST_INCIDENT_NUMBER, World } from '../../local/world/world';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * DynamoDB unreachable for a while: the local dynalite is stopped and started again on the same
 * port (with its data on disk). Work that arrives meanwhile is retried and completes once it is
 * back; an outage longer than the retries ends in the DLQ, with a logged reason and the
 * customer told.
 */
describe('DynamoDB unreachable for a while', () => {
  let output: ReturnType<typeof captureOutput>;
  beforeAll(() => {
    output = captureOutput();
  });
  afterAll(() => output.restore());

  it('shorter than the retries: escalations, updates and clicks that came meanwhile all complete once, after it', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'pd-router-outage-'));
    // Retries 1, 2, 4, 8 s apart: a 2.5 s outage is well inside them.
    const stack: LocalStack = await startStack({ env: {}, dataDir, visibilityTimeoutSeconds: 5, retryBaseSeconds: 1, logLevel: 'info', standIns: { firstIncidentNumber: FIRST_INCIDENT_NUMBER } });
    try {
      const world = new World(stack);
      const before = await world.escalate('CDBBEFORE');
      await stack.waitForIdle(30_000);
      const incident = world.incidentOf(before)!;
      const logFrom = output.records().length;

      // Customers are registered before the outage: escalating is what happens during it.
      for (const channel of ['CDBMENTION', 'CDBCOMMAND']) await ensureCustomer(stack, channel);
      await stack.dynamo.suspend();
      const during = [await world.escalate('CDBMENTION'), await world.escalate('CDBCOMMAND', { via: 'command' })];
      // The ingress only needs SQS: Slack and PagerDuty are answered as usual.
      for (const e of during) expect(e.answers.map((a) => a.status)).toEqual([200]);
      stack.pagerDuty!.acknowledge(incident.id, 'Fox Mulder');
      await world.click('CDBBEFORE', before.dedupKey);
      await sleep(2500);
      const failures = output.records().slice(logFrom).filter((l) => l.message === 'message failed; it will be retried');
      expect(failures.length).toBeGreaterThanOrEqual(3);
      expect(failures.every((l) => JSON.stringify(l.error).includes('DynamoDB'))).toBe(true);
      expect(stack.pagerDuty!.triggers.filter((t) => during.some((e) => e.dedupKey === t.dedupKey))).toEqual([]);
      await stack.dynamo.resume();

      await stack.waitForIdle(60_000);
      const report = await audit(world);
      expect(report).toMatchObject({ duplicates: [], misroutes: [], lost: [], refusalLeaks: [], dlq: { slack: [], pagerduty: [] }, incidentsTriggered: 3 });
      for (const e of [before, ...during]) {
        const keys = stack.slack!.channelMessages(e.channel).filter((m) => m.user === STAND_IN_BOT_USER_ID).map((m) => String(m.metadata?.event_payload.key));
        expect(keys.filter((k) => k === `confirm:${e.dedupKey}`)).toHaveLength(1);
      }
      // The acknowledgement made during the outage reached the thread once (the incident's opening,
      // the other event, is what the confirmation says); the click was answered once.
      const deliveries = stack.pagerDuty!.deliveries.filter((d) => d.incidentId === incident.id);
      expect(new Set(deliveries.map((d) => d.eventId)).size).toBe(2);
      const acknowledged = deliveries.find((d) => d.eventType === 'incident.acknowledged')!;
      expect(stack.slack!.channelMessages('CDBBEFORE').filter((m) => String(m.metadata?.event_payload.key).startsWith('pd:')).map((m) => m.metadata!.event_payload.key)).toEqual([`pd:${acknowledged.eventId}:${before.dedupKey}`]);
      expect(stack.slack!.ephemerals.filter((e) => e.channel === 'CDBBEFORE')).toHaveLength(1);
    } finally {
      await stack.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('longer than the retries: the escalation is in the DLQ with a logged reason, and the customer is told', async () => {
    const stack = await startStack({ env: {}, visibilityTimeoutSeconds: 5, retryBaseSeconds: 0, logLevel: 'info', standIns: { firstIncidentNumber: FIRST_INCIDENT_NUMBER } });
    try {
      const world = new World(stack);
      const logFrom = output.records().length;
      await ensureCustomer(stack, 'CDBLONG');
      await stack.dynamo.suspend();
      const escalation = await world.escalate('CDBLONG');
      await stack.waitForIdle(60_000);
      await stack.dynamo.resume();

      const report = await audit(world);
      expect(report.lost).toEqual([]);
      expect(report.failedAndTold).toEqual([escalation.dedupKey]);
      expect(report.dlq.slack).toHaveLength(1);
      expect(JSON.parse(report.dlq.slack[0]!.body)).toMatchObject({ id: escalation.id, channel: 'CDBLONG' });
      const last = output.records().slice(logFrom).filter((l) => l.message === 'message failed for the last time; SQS moves it to the DLQ');
      expect(last).toHaveLength(1);
      expect(JSON.stringify(last[0]!.error)).toContain('DynamoDB');
      const told = stack.slack!.channelMessages('CDBLONG').filter((m) => m.user === STAND_IN_BOT_USER_ID);
      expect(told).toHaveLength(1);
      expect(told[0]!.threadTs).toBe(escalation.ts);
      expect(told[0]!.text).toMatch(/not\* been paged.*contact your account team/);
      expect(world.incidentOf(escalation)).toBeUndefined();
    } finally {
      await stack.stop();
    }
  });
});
