import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { startStack, type LocalStack } from '../../local/stack';
import { audit, pool, World, type SentEscalation } from './support/world';

/**
 * Isolation under load, as a property: random schedules of many customers (channels),
 * escalations (mentions and slash commands, delivered up to three times), PagerDuty updates in
 * any order and duplicated, and Check Status clicks from the right channel, another customer's
 * channel, or with a forged value. After each schedule: no Slack call carries one channel's
 * incident (title, number, dedup key, incident id or URL) to another channel, a refusal carries
 * nothing, nothing is doubled or lost, and a refused click never asks PagerDuty.
 *
 * One stack serves every schedule; each schedule's channels are its own. A failure prints the
 * seed: ISOLATION_SEED=<seed> npx jest test/robustness/isolation replays it.
 */

const UPDATE_TYPES = ['incident.acknowledged', 'incident.unacknowledged', 'incident.reassigned', 'incident.escalated', 'incident.resolved', 'incident.reopened', 'incident.priority_updated'] as const;
const STATUS_AFTER: Record<(typeof UPDATE_TYPES)[number], 'triggered' | 'acknowledged' | 'resolved' | undefined> = {
  'incident.acknowledged': 'acknowledged',
  'incident.unacknowledged': 'triggered',
  'incident.reassigned': 'triggered',
  'incident.escalated': 'triggered',
  'incident.resolved': 'resolved',
  'incident.reopened': 'triggered',
  'incident.priority_updated': undefined,
};

const schedule = fc.record({
  channels: fc.integer({ min: 2, max: 5 }),
  escalations: fc.array(fc.record({ channel: fc.nat(), via: fc.constantFrom('mention', 'mention', 'mention', 'command'), deliveries: fc.constantFrom(1, 1, 1, 2, 3) }), { minLength: 1, maxLength: 3 }),
  updates: fc.array(fc.record({ escalation: fc.nat(), type: fc.constantFrom(...UPDATE_TYPES), minute: fc.nat(600), copies: fc.constantFrom(1, 1, 1, 2, 3) }), { maxLength: 5 }),
  clicks: fc.array(fc.record({ escalation: fc.nat(), from: fc.constantFrom('own', 'own', 'other-channel', 'earlier-customer', 'forged-key', 'garbage'), deliveries: fc.constantFrom(1, 1, 2) }), { maxLength: 3 }),
  /** How updates and clicks interleave. */
  order: fc.array(fc.nat(), { minLength: 16, maxLength: 16 }),
});
type Schedule = typeof schedule extends fc.Arbitrary<infer T> ? T : never;
/** Schedules played at the same time, each on its own channels: load, and a chance for them to mix. */
const SCHEDULES_AT_ONCE = 5;

describe('isolation under load', () => {
  let stack: LocalStack;
  let world: World;
  let run = 0;

  beforeAll(async () => {
    stack = await startStack({ env: {}, visibilityTimeoutSeconds: 5, retryBaseSeconds: 0, logLevel: 'silent', concurrency: 3 });
    stack.pagerDuty!.webhook = undefined; // updates are sent by hand, in the order each schedule chooses
    world = new World(stack);
  });
  afterAll(() => stack.stop());

  /** Play one schedule on its own channels; returns its escalations and how many clicks came from the right channel. */
  async function play(s: Schedule, prefix: string, index: number) {
    const channels = Array.from({ length: s.channels }, (_, n) => `${prefix}${n}`);
    const earlier = [...world.escalations.values()];
    const sent: SentEscalation[] = await pool(s.escalations, 4, (e) => world.escalate(channels[e.channel % channels.length]!, { via: e.via as 'mention' | 'command', deliveries: e.deliveries }));
    await world.waitForIncidents(sent.map((e) => e.dedupKey));

    const actions: (() => Promise<unknown>)[] = [];
    const base = Date.parse('2026-11-26T10:00:00Z') + index * 3_600_000;
    s.updates.forEach((u, n) => {
      const escalation = sent[u.escalation % sent.length]!;
      const incident = world.incidentOf(escalation)!;
      const status = STATUS_AFTER[u.type];
      const eventId = `E${prefix}${n}`;
      const at = new Date(base + u.minute * 60_000 + n).toISOString();
      for (let copy = 0; copy < u.copies; copy++) actions.push(() => world.webhook({ ...incident, ...(status ? { status } : {}) }, u.type, at, eventId));
    });
    let rightClicks = 0;
    s.clicks.forEach((c) => {
      const target = sent[c.escalation % sent.length]!;
      let channel = target.channel;
      let value = target.dedupKey;
      if (c.from === 'own') rightClicks++;
      if (c.from === 'other-channel') channel = channels.find((ch) => ch !== target.channel) ?? `${prefix}Z`;
      if (c.from === 'earlier-customer') value = earlier.length ? earlier[c.escalation % earlier.length]!.dedupKey : `pdr-${randomBytes(16).toString('hex')}`;
      if (c.from === 'forged-key') value = `pdr-${randomBytes(16).toString('hex')}`;
      if (c.from === 'garbage') value = `${target.dedupKey} OR 1=1 <script>`;
      actions.push(() => world.click(channel, value, c.deliveries));
    });
    // Any order: a shuffle the schedule itself chose.
    const shuffled = actions.map((action, n) => ({ action, key: s.order[n % s.order.length]! * 31 + n })).sort((a, b) => a.key - b.key);
    for (const { action } of shuffled) await action();
    return { sent, rightClicks };
  }

  it('a few hundred random schedules, several at once: no Slack call carries one channel’s incident to another, refusals carry nothing', async () => {
    const seed = Number(process.env.ISOLATION_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const runs = Number(process.env.ISOLATION_RUNS ?? 40);
    let schedules = 0;
    const property = fc.asyncProperty(fc.array(schedule, { minLength: SCHEDULES_AT_ONCE, maxLength: SCHEDULES_AT_ONCE }), async (batch) => {
      run++;
      const callsFrom = stack.slack!.calls.length;
      const restFrom = stack.pagerDuty!.restCalls.length;
      const played = await Promise.all(batch.map((s, n) => play(s, `CI${run.toString(36).toUpperCase()}X${n}Y`, run * SCHEDULES_AT_ONCE + n)));
      await stack.waitForIdle(60_000);
      schedules += batch.length;

      const report = await audit(world, { fromCall: callsFrom, escalations: played.flatMap((p) => p.sent) });
      expect(report.misroutes).toEqual([]);
      expect(report.refusalLeaks).toEqual([]);
      expect(report.duplicates).toEqual([]);
      expect(report.lost).toEqual([]);
      expect(report.dlq).toEqual({ slack: [], pagerduty: [] });
      // Only a click from the incident's own channel asks PagerDuty anything, once.
      expect(stack.pagerDuty!.restCalls.length - restFrom).toBe(played.reduce((sum, p) => sum + p.rightClicks, 0));
    });
    try {
      await fc.assert(property, { numRuns: runs, seed, endOnFailure: true });
    } catch (error) {
      throw new Error(`isolation property failed; replay with ISOLATION_SEED=${seed}\n${(error as Error).message}`, { cause: (error as Error).cause ?? error });
    }
    expect(schedules).toBeGreaterThanOrEqual(Math.min(200, runs * SCHEDULES_AT_ONCE));
  }, 300_000);
});
