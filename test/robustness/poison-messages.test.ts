import { createHash } from 'node:crypto';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import fc from 'fast-check';
import { TransientError } from '../../lib/errors';
import { EVENT_CONTRACT_VERSION } from '../../lib/events';
import { parsePagerDutyQueueEvent } from '../../lib/pagerduty-events';
import { parseSlackQueueEvent } from '../../lib/slack-events';
import { createLogger } from '../../lib/runtime/log';
import type { QueueControl } from '../../lib/queue/queue';
import { processFifoBatch } from '../../lib/queue/sqs-batch';
import { startStack, type LocalStack } from '../../local/stack';
import { STAND_IN_BOT_USER_ID } from '../../local/stand-ins/slack';
import { captureOutput } from '../../local/world/capture-output';
import { FIRST_INCIDENT_NUMBER, World } from '../../local/world/world';

/**
 * Malformed and unknown-version queue messages: each is parked in the DLQ at once with a logged
 * reason, and the messages behind it in its FIFO group go on as if it had not been there.
 */

const receivedAt = '2026-11-26T12:00:00.000Z';
const id = fc.stringMatching(/^[A-Za-z0-9]{1,20}$/);

const slackEvent = fc.oneof(
  fc.record({ v: fc.constant(EVENT_CONTRACT_VERSION), kind: fc.constant('slack.message'), id, via: fc.constantFrom('mention', 'command'), team: id, channel: id, user: id, text: fc.string({ maxLength: 60 }), ts: fc.constant('1700000000.000100'), receivedAt: fc.constant(receivedAt) }),
  fc.record({ v: fc.constant(EVENT_CONTRACT_VERSION), kind: fc.constant('slack.action'), id, actionId: fc.constant('check_status'), value: fc.string({ maxLength: 40 }), team: id, channel: id, user: id, receivedAt: fc.constant(receivedAt) }),
);
const pagerDutyEvent = fc.record({
  v: fc.constant(EVENT_CONTRACT_VERSION),
  kind: fc.constant('pagerduty.incident'),
  id,
  eventType: fc.constantFrom('incident.triggered', 'incident.acknowledged', 'incident.resolved'),
  occurredAt: fc.constant(receivedAt),
  agentName: fc.option(fc.string({ maxLength: 20 }), { nil: null }),
  incident: fc.record({ id, assignees: fc.array(fc.string({ maxLength: 10 }), { maxLength: 2 }) }),
  receivedAt: fc.constant(receivedAt),
});

/** Ways a message can be unreadable: not JSON, not an object, another contract version, or not the contract. */
function poisonOf(valid: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ maxLength: 30 }).map((s) => `not json ${s}`),
    fc.constantFrom('', '[]', 'null', '42', '"v"', '[{"v":1}]', '{', '{"v":1'),
    fc.tuple(valid, fc.constantFrom<unknown>(0, 2, 99, '1', null, 1.5, [1], { v: 1 })).map(([event, v]) => JSON.stringify({ ...event, v })),
    valid.map(({ v: _v, ...rest }) => JSON.stringify(rest)),
    fc.tuple(valid, fc.constantFrom('kind', 'id', 'channel', 'team', 'receivedAt', 'incident', 'eventType', 'user')).map(([event, field]) => {
      const copy: Record<string, unknown> = { ...event };
      if (!(field in copy)) copy.kind = 'slack.unknown';
      else delete copy[field];
      return JSON.stringify(copy);
    }),
    fc.tuple(valid, fc.constantFrom<unknown>(42, null, true, [], {}, 'x'.repeat(5000))).map(([event, value]) => JSON.stringify({ ...event, id: value })),
    valid.map((event) => JSON.stringify({ ...event, kind: 'slack.reaction' })),
  );
}

type Item = { group: string; body: string; poison: boolean; transient: boolean };

function batchOf(valid: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Item[]> {
  const item = fc.record({
    group: fc.constantFrom('G1', 'G2', 'G3'),
    poison: fc.boolean(),
    transient: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    valid,
    bad: poisonOf(valid),
  });
  return fc.array(item, { minLength: 1, maxLength: 10 }).map((items) =>
    items.map((i, n) => ({ group: i.group, poison: i.poison, transient: !i.poison && i.transient, body: i.poison ? i.bad : JSON.stringify({ ...i.valid, id: `m${n}` }) })),
  );
}

const record = (item: Item, n: number): SQSRecord => ({
  messageId: `msg-${n}`,
  receiptHandle: `rh-${n}`,
  body: item.body,
  attributes: { ApproximateReceiveCount: '1', SentTimestamp: '0', SenderId: 'x', ApproximateFirstReceiveTimestamp: '0', MessageGroupId: item.group, MessageDeduplicationId: `d-${n}` },
  messageAttributes: {},
  md5OfBody: '',
  eventSource: 'aws:sqs',
  eventSourceARN: 'arn',
  awsRegion: 'us-east-1',
});

describe('malformed queue messages, fuzzed through the FIFO batch processor', () => {
  it.each([
    ['slack', slackEvent, parseSlackQueueEvent],
    ['pagerduty', pagerDutyEvent, parsePagerDutyQueueEvent],
  ] as const)('%s queue: every poison message is parked with its reason and blocks nothing behind it (500 batches)', async (_name, valid, parse) => {
    await fc.assert(
      fc.asyncProperty(batchOf(valid as fc.Arbitrary<Record<string, unknown>>), async (items) => {
        const lines: string[] = [];
        const parked: { body: string; group: string; reason: string }[] = [];
        const handled: string[] = [];
        const queue: QueueControl = { retryAfter: async () => undefined, park: async (body, group, _dedup, reason) => void parked.push({ body, group, reason }) };
        const records = items.map(record);
        const result = await processFifoBatch(
          records,
          async ({ record: r }) => {
            const event = parse(r.body) as { id: string };
            if (items[Number(r.messageId.slice(4))]!.transient) throw new TransientError('PagerDuty answered 503');
            handled.push(event.id);
          },
          { logger: createLogger({ level: 'info', sink: (l) => lines.push(l) }), queue, maxReceiveCount: 5, retryBaseSeconds: 0, retryMaxSeconds: 60 },
        );

        // What a FIFO consumer must do, group by group: park poison and go on; stop at a retryable failure.
        const expectedHandled: string[] = [];
        const expectedParked: string[] = [];
        const expectedFailures: string[] = [];
        const stopped = new Set<string>();
        items.forEach((item, n) => {
          if (stopped.has(item.group)) return void expectedFailures.push(`msg-${n}`);
          if (item.poison) return void expectedParked.push(item.body);
          if (item.transient) {
            stopped.add(item.group);
            return void expectedFailures.push(`msg-${n}`);
          }
          expectedHandled.push(`m${n}`);
        });
        expect(result.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(expectedFailures.sort());
        expect(parked.map((p) => p.body).sort()).toEqual(expectedParked.sort());
        expect([...handled].sort()).toEqual([...expectedHandled].sort());
        // Order within a group is kept.
        for (const group of ['G1', 'G2', 'G3']) {
          const order = items.map((item, n) => ({ item, n })).filter(({ item }) => item.group === group).map(({ n }) => `m${n}`);
          const seen = handled.filter((h) => order.includes(h));
          expect(seen).toEqual(order.filter((m) => seen.includes(m)));
        }
        // Each parked message has a reason, and the reason is in the log.
        const logged = lines.map((l) => JSON.parse(l) as { message: string; reason?: string }).filter((l) => l.message === 'message parked in the DLQ: it can never be processed');
        expect(logged).toHaveLength(parked.length);
        for (const p of parked) {
          expect(p.reason).toMatch(/queue message/);
          expect(logged.map((l) => l.reason)).toContain(p.reason);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('malformed queue messages through the local stack', () => {
  let stack: LocalStack;
  let output: ReturnType<typeof captureOutput>;
  beforeAll(async () => {
    output = captureOutput();
    stack = await startStack({ env: {}, visibilityTimeoutSeconds: 30, retryBaseSeconds: 0, logLevel: 'info', standIns: { firstIncidentNumber: FIRST_INCIDENT_NUMBER } });
  });
  afterAll(async () => {
    await stack.stop();
    output.restore();
  });

  const poison = ['not json at all', '[1,2,3]', JSON.stringify({ v: 2, kind: 'slack.message', id: 'from-the-future' }), JSON.stringify({ v: 1, kind: 'slack.message', id: 'no-channel' }), JSON.stringify({ v: 1, kind: 'who.knows' })];
  const send = (queue: 'slack' | 'pagerduty', body: string, group: string) =>
    stack.sqs.client.send(new SendMessageCommand({ QueueUrl: stack.sqs.queues[queue].url, MessageBody: body, MessageGroupId: group, MessageDeduplicationId: createHash('sha256').update(`${queue}:${body}`).digest('hex') }));

  it('poison ahead of an escalation and of an update in the same groups: both go through on their first attempt, the poison is in the DLQs with reasons', async () => {
    const world = new World(stack);
    const first = await world.escalate('CPOISON');
    await stack.waitForIdle();
    const incident = world.incidentOf(first)!;
    const logFrom = output.records().length;

    // The channel's group (Slack queue) and the incident's group (PagerDuty queue) each get poison first.
    for (const body of poison) await send('slack', body, 'CPOISON');
    for (const body of poison) await send('pagerduty', body, incident.id);
    const second = await world.escalate('CPOISON');
    stack.pagerDuty!.acknowledge(incident.id, 'Fox Mulder');
    await stack.waitForIdle();

    const logs = output.records().slice(logFrom);
    // Nothing was retried: the messages behind the poison were not blocked.
    expect(logs.filter((l) => String(l.message).startsWith('message failed'))).toEqual([]);
    const recorded = logs.filter((l) => l.message === 'escalation recorded' && l.channel === 'CPOISON');
    expect(recorded.map((l) => l.attempt)).toEqual([1]);
    expect(stack.pagerDuty!.triggers.filter((t) => t.dedupKey === second.dedupKey)).toHaveLength(1);
    const keys = stack.slack!.channelMessages('CPOISON').filter((m) => m.user === STAND_IN_BOT_USER_ID).map((m) => String(m.metadata?.event_payload.key));
    expect(keys.filter((k) => k === `confirm:${second.dedupKey}`)).toHaveLength(1);
    const ack = stack.pagerDuty!.deliveries.find((d) => d.incidentId === incident.id && d.eventType === 'incident.acknowledged')!;
    expect(keys).toContain(`pd:${ack.eventId}:${incident.incidentKey}`);

    for (const queue of ['slack', 'pagerduty'] as const) {
      const dlq = await stack.dlq(queue);
      expect(dlq.map((d) => d.body).sort()).toEqual([...poison].sort());
      for (const entry of dlq) expect(entry.reason).toMatch(/^queue message (is not JSON|is not a JSON object|has contract version|does not match the contract)/);
    }
    const parkedLogs = logs.filter((l) => l.message === 'message parked in the DLQ: it can never be processed');
    expect(parkedLogs).toHaveLength(poison.length * 2);
    expect(parkedLogs.every((l) => typeof l.reason === 'string' && (l.reason as string).length > 10)).toBe(true);
  });
});
