import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { earliestCallTimes } from '../bench/lib/storm-bounds';
import { makeDocumentClient } from '../lib/store/dynamo';
import { routingKeyLane } from '../lib/store/window-pacer';
import { startStack, type LocalStack } from '../local/stack';
import type { Rule } from '../local/stand-ins/rate-limits';
import { audit } from '../local/world/audit';
import { World } from '../local/world/world';
import { ensureCustomer } from '../local/world/customers';

/**
 * Many customers on ONE routing key escalate at once (an outage): PagerDuty's Events API takes a
 * few triggers per routing key in any window looking back and refuses the rest with a 429 and no
 * Retry-After. pd-router gives each trigger a turn under that window, so every escalation pages
 * once, none is refused, and the last goes out when the window first has room for it.
 */

const SHARED_KEY = 'RPACEDSHAREDKEY000000000';
const WINDOW = { kind: 'window', limit: 4, windowSeconds: 3 } as const satisfies Rule;
const CHANNELS = Array.from({ length: 10 }, (_, i) => `CPACED${String(i).padStart(2, '0')}`);
/** Beyond the window's bound: the queue's delivery, the worker's steps, and the pacer's margin per window. */
const SLACK_MS = 2000;

/**
 * A local stack whose customers on `channels` all page on `key`, paced and limited by WINDOW; each
 * Events API call's time is noted as the stand-in records it (it records none itself).
 */
async function pacedStack(key: string, channels: string[], retryBaseSeconds: number): Promise<{ stack: LocalStack; calls: () => { status: number; at: number; dedupKey: string }[] }> {
  const stack = await startStack({
    visibilityTimeoutSeconds: 10,
    retryBaseSeconds,
    logLevel: 'silent',
    customers: channels.map((channel, i) => ({ channel, name: `Customer ${i}`, routingKey: key, pagesPerHour: 1000 })),
    env: { PAGER_DUTY_TRIGGERS_PER_WINDOW: String(WINDOW.limit), PAGER_DUTY_TRIGGER_WINDOW_SECONDS: String(WINDOW.windowSeconds) },
    standIns: { rateLimits: { 'pagerduty.events.routingKey': WINDOW } },
  });
  const eventsCallAt: number[] = [];
  const recorded = stack.pagerDuty!.eventsCalls;
  const record = recorded.push.bind(recorded);
  recorded.push = (...items) => {
    for (const _ of items) eventsCallAt.push(Date.now());
    return record(...items);
  };
  const calls = () => recorded.map((call, i) => ({ status: call.status, at: eventsCallAt[i]!, dedupKey: (typeof call.body === 'string' ? JSON.parse(call.body) : call.body).dedup_key as string }));
  return { stack, calls };
}

describe('triggers on one shared routing key paced under its Events API window', () => {
  let stack: LocalStack;
  let eventsCalls: Awaited<ReturnType<typeof pacedStack>>['calls'];
  beforeAll(async () => {
    ({ stack, calls: eventsCalls } = await pacedStack(SHARED_KEY, CHANNELS, 0));
  });
  afterAll(() => stack.stop());

  it('every escalation pages exactly once, none is refused, the last by the window\'s bound, and each records when it went', async () => {
    const world = new World(stack);
    const started = Date.now();
    const escalations = await Promise.all(CHANNELS.map((channel) => world.escalate(channel)));
    await stack.waitForIdle(90_000);

    const calls = eventsCalls();
    expect(calls.filter((c) => c.status === 429)).toEqual([]);
    expect(stack.pagerDuty!.rateLimits!.totals['pagerduty.events.routingKey'].refused).toBe(0);
    for (const escalation of escalations) expect(calls.filter((c) => c.status === 202 && c.dedupKey === escalation.dedupKey)).toHaveLength(1);

    // All ready at once: the window lets the last one go after floor((n - 1) / limit) windows.
    const bound = Math.max(...earliestCallTimes(WINDOW, CHANNELS.map(() => 0)));
    const accepted = calls.filter((c) => c.status === 202).map((c) => c.at);
    const first = Math.min(...accepted);
    expect(first - started).toBeLessThan(SLACK_MS);
    expect(Math.max(...accepted) - first).toBeLessThanOrEqual(bound + SLACK_MS);

    // Each trigger recorded when it went, no earlier than PagerDuty had it: the slot a window
    // later waits for a window after that, should it have gone late.
    const db = makeDocumentClient({ AWS_ENDPOINT_URL_DYNAMODB: stack.dynamo.endpoint });
    const lane = routingKeyLane(SHARED_KEY);
    const went = await Promise.all(CHANNELS.map(async (_, slot) => (await db.send(new GetCommand({ TableName: stack.dynamo.tableName, Key: { pk: `window#${lane}#went#${slot}` } }))).Item?.at as number | undefined));
    expect(went.every((at) => typeof at === 'number')).toBe(true);
    expect(Math.min(...(went as number[]))).toBeGreaterThanOrEqual(first);
    db.destroy();

    const report = await audit(world);
    expect(report.duplicates).toEqual([]);
    expect(report.lost).toEqual([]);
    expect(report.dlq).toEqual({ slack: [], pagerduty: [] });
  }, 120_000);
});

describe('a paced trigger refused anyway (another sender on the key took the room)', () => {
  const KEY = 'RPACEDOTHERSENDER0000000';
  const channels = Array.from({ length: 5 }, (_, i) => `CPACEO${String(i).padStart(2, '0')}`);
  let stack: LocalStack;
  let eventsCalls: Awaited<ReturnType<typeof pacedStack>>['calls'];
  beforeAll(async () => {
    // A failure's backoff as deployed: 10 s for a first retry.
    ({ stack, calls: eventsCalls } = await pacedStack(KEY, channels, 10));
  });
  afterAll(() => stack.stop());

  it('goes again at its next turn on the key, not after a backoff: refused once, every escalation paged once, nothing dead-lettered', async () => {
    // The provider's monitoring, on the same key, takes three of the window's four just before.
    for (let i = 0; i < 3; i++) {
      const sent = await fetch(new URL('v2/enqueue', stack.pagerDuty!.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ routing_key: KEY, event_action: 'trigger', payload: { summary: `monitoring: disk ${i} full`, source: 'monitor', severity: 'warning' } }) });
      expect(sent.status).toBe(202);
    }
    const world = new World(stack);
    const escalations = await Promise.all(channels.map((channel) => world.escalate(channel)));
    await stack.waitForIdle(90_000);

    const ours = new Set(escalations.map((e) => e.dedupKey));
    const calls = eventsCalls().filter((c) => ours.has(c.dedupKey));
    // pd-router's first four turns meet a window with one place left: up to three are refused.
    const refused = calls.filter((c) => c.status === 429);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(refused.length).toBeLessThanOrEqual(3);
    for (const escalation of escalations) {
      const accepted = calls.filter((c) => c.status === 202 && c.dedupKey === escalation.dedupKey);
      expect(accepted).toHaveLength(1);
      const refusals = calls.filter((c) => c.status === 429 && c.dedupKey === escalation.dedupKey);
      expect(refusals.length).toBeLessThanOrEqual(1);
      // Its new turn is the window's next room (about 3 s on), not the 10 s backoff of a failure.
      for (const refusal of refusals) expect(accepted[0]!.at - refusal.at).toBeLessThan(8000);
    }
    const report = await audit(world);
    expect(report.duplicates).toEqual([]);
    expect(report.lost).toEqual([]);
    expect(report.dlq).toEqual({ slack: [], pagerduty: [] });
  }, 120_000);
});

describe("a customer registered with the deployment's own routing key", () => {
  let stack: LocalStack;
  let eventsCalls: Awaited<ReturnType<typeof pacedStack>>['calls'];
  const onDeploymentKey = ['CPACEDDEP0', 'CPACEDDEP1', 'CPACEDDEP2', 'CPACEDDEP3'];
  const withItAsOwn = ['CPACEDOWN0', 'CPACEDOWN1', 'CPACEDOWN2', 'CPACEDOWN3'];
  beforeAll(async () => {
    ({ stack, calls: eventsCalls } = await pacedStack('unused', [], 0));
    for (const channel of onDeploymentKey) await ensureCustomer(stack, channel);
    for (const channel of withItAsOwn) await ensureCustomer(stack, channel, { routingKey: stack.secrets.PAGER_DUTY_EVENTS_API_KEY });
  });
  afterAll(() => stack.stop());

  it('takes turns in the same lane as the customers on that key: one limit, so none of the eight is refused', async () => {
    const world = new World(stack);
    const escalations = await Promise.all([...onDeploymentKey, ...withItAsOwn].map((channel) => world.escalate(channel)));
    await stack.waitForIdle(90_000);
    const calls = eventsCalls();
    // Two lanes for one key would each let four through at once: four refusals.
    expect(calls.filter((c) => c.status === 429)).toEqual([]);
    for (const escalation of escalations) expect(calls.filter((c) => c.status === 202 && c.dedupKey === escalation.dedupKey)).toHaveLength(1);
  }, 120_000);
});
