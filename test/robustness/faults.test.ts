import type { Fault } from '../../local/stand-ins/http-util';
import { startStack, type LocalStack } from '../../local/stack';
import { eventsToldOf } from '../support/stack';
import { STAND_IN_BOT_USER_ID } from '../../local/stand-ins/slack';
import { audit } from '../../local/world/audit';
import { captureOutput } from '../../local/world/capture-output';
import { FIRST_INCIDENT_NUMBER, World, type SentEscalation } from '../../local/world/world';

/**
 * Fault injection: PagerDuty and Slack answering 500, 429 with Retry-After, ok:false or not in
 * time, and a worker crashing after each step. Once the fault clears, the end state must be:
 * one incident per escalation, one thread message per PagerDuty event, nothing lost or stuck
 * (done, or in the DLQ with a logged reason), and the customer told when an escalation fails.
 */
describe('fault injection through the local stack', () => {
  let stack: LocalStack;
  let output: ReturnType<typeof captureOutput>;
  /** The crash to inject: the next arrival at `step` of `worker` throws, once. */
  let crash: { worker: 'slack' | 'pagerDuty'; step: string } | undefined;
  const crashed: string[] = [];
  const checkpoint = (worker: 'slack' | 'pagerDuty') => (step: string) => {
    if (crash?.worker === worker && crash.step === step) {
      crash = undefined;
      crashed.push(`${worker}:${step}`);
      throw new Error(`injected crash after ${step}`);
    }
  };

  beforeAll(async () => {
    output = captureOutput();
    stack = await startStack({
      // A short HTTP deadline, so a stand-in that does not answer in time is a timeout.
      env: { HTTP_TIMEOUT_MS: '300' },
      visibilityTimeoutSeconds: 5,
      retryBaseSeconds: 0,
      logLevel: 'info',
      checkpoint: { slack: checkpoint('slack'), pagerDuty: checkpoint('pagerDuty') },
    });
  });
  afterAll(async () => {
    await stack.stop();
    output.restore();
  });
  afterEach(() => {
    stack.pagerDuty!.faults.clear();
    stack.slack!.faults.clear();
    crash = undefined;
  });

  const pdFault = (target: 'events' | 'rest', count: number, fault: Fault) => stack.pagerDuty!.faults.failNext(target, count, fault);
  const slackFault = (method: string, count: number, fault: Fault) => stack.slack!.faults.failNext(method, count, fault);
  const botMessages = (channel: string) => stack.slack!.channelMessages(channel).filter((m) => m.user === STAND_IN_BOT_USER_ID);
  const keysIn = (channel: string) => botMessages(channel).map((m) => String(m.metadata?.event_payload.key ?? m.text.slice(0, 30)));

  /** Escalate in a fresh channel, let the world settle, and return what happened. */
  async function escalateThrough(channel: string, via: 'mention' | 'command' = 'mention') {
    const world = new World(stack);
    const escalation = await world.escalate(channel, { via });
    expect(escalation.answers.map((a) => a.status)).toEqual([200]);
    await stack.waitForIdle(60_000);
    return { world, escalation };
  }

  /** Acknowledge and resolve the escalation's incident through the stand-in (signed webhooks to the router). */
  async function acknowledgeAndResolve(world: World, escalation: SentEscalation) {
    const incident = world.incidentOf(escalation)!;
    stack.pagerDuty!.acknowledge(incident.id, 'Fox Mulder');
    await new Promise((resolve) => setTimeout(resolve, 3)); // a later occurred_at
    stack.pagerDuty!.resolve(incident.id, 'Dana Scully');
    await stack.waitForIdle(60_000);
  }

  /** The end state every scenario must reach once its fault has cleared. */
  async function expectCleanEndState(world: World, expected: { pagerDutyEvents: number }) {
    const report = await audit(world);
    expect(report.duplicates).toEqual([]);
    expect(report.misroutes).toEqual([]);
    expect(report.lost).toEqual([]);
    expect(report.dlq).toEqual({ slack: [], pagerduty: [] });
    for (const escalation of world.escalations.values()) {
      expect([...stack.pagerDuty!.incidents.values()].filter((i) => i.incidentKey === escalation.dedupKey)).toHaveLength(1);
      const keys = keysIn(escalation.channel);
      expect(keys.filter((k) => k === `confirm:${escalation.dedupKey}`)).toHaveLength(1);
      const incident = world.incidentOf(escalation)!;
      const events = new Set(stack.pagerDuty!.deliveries.filter((d) => d.incidentId === incident.id).map((d) => d.eventId));
      expect(events.size).toBe(expected.pagerDutyEvents);
      // Exactly one thread message per PagerDuty event but the opening (the confirmation says it), and nothing else.
      const told = eventsToldOf(stack, incident.id);
      expect(told).toHaveLength(expected.pagerDutyEvents - 1);
      expect(keys.filter((k) => k.startsWith('pd:')).sort()).toEqual(told.map((id) => `pd:${id}:${escalation.dedupKey}`).sort());
      expect(keys).toHaveLength(1 + told.length);
    }
    return report;
  }

  function expectLiveStatus(answers: { channel: string; blocks?: unknown[] }[], channel: string) {
    expect(answers).toHaveLength(1);
    expect(answers[0]!.channel).toBe(channel);
    expect(JSON.stringify(answers[0]!.blocks)).toMatch(/\*Status:\* :[a-z_]+: Triggered/);
  }

  /** Log lines (JSON) written since `from`. */
  const logsSince = (from: number) => output.records().slice(from);

  describe('PagerDuty Events API', () => {
    it('answering 500 three times: retried, then one incident and one confirmation', async () => {
      pdFault('events', 3, { kind: 'status', status: 500 });
      const before = stack.pagerDuty!.eventsCalls.length;
      const logFrom = output.records().length;
      const { world, escalation } = await escalateThrough('CPD500');
      const calls = stack.pagerDuty!.eventsCalls.slice(before).map((c) => c.status);
      expect(calls.slice(0, 4)).toEqual([500, 500, 500, 202]);
      // An accepted trigger goes again only when its answer reached the worker after the 300 ms
      // deadline (a busy machine): the worker cannot tell it from a lost call, and the dedup_key
      // keeps it one incident. Any other second trigger is a bug.
      const late = logsSince(logFrom).filter((l) => l.message === 'message failed; it will be retried' && l.service === 'pd-router.slack-worker' && JSON.stringify(l.error).includes('PagerDuty Events API could not be reached'));
      expect(calls.slice(4)).toEqual(calls.slice(4).map(() => 202));
      expect(late.length).toBeGreaterThanOrEqual(calls.length - 4);
      await acknowledgeAndResolve(world, escalation);
      await expectCleanEndState(world, { pagerDutyEvents: 3 });
    });

    it('answering 429 with Retry-After: the wait it asks for is honoured, then one incident', async () => {
      pdFault('events', 1, { kind: 'status', status: 429, retryAfterSeconds: 1 });
      const logFrom = output.records().length;
      const { world, escalation } = await escalateThrough('CPD429');
      const retries = logsSince(logFrom).filter((l) => l.message === 'message failed; it will be retried' && l.service === 'pd-router.slack-worker');
      // No sooner than asked; a first refusal adds at most one second of spread (lib/queue/sqs-batch.ts).
      expect(retries).toHaveLength(1);
      expect([1, 2]).toContain(retries[0]!.retryInSeconds);
      await acknowledgeAndResolve(world, escalation);
      await expectCleanEndState(world, { pagerDutyEvents: 3 });
    });

    it('not answering in time (the trigger lands late): retried with the same dedup_key, still one incident', async () => {
      pdFault('events', 2, { kind: 'timeout', ms: 900 });
      const { world, escalation } = await escalateThrough('CPDSLOW');
      // PagerDuty did get the two slow calls in the end (while its incident was open): every
      // trigger carried the same dedup_key, and all three merged into one incident.
      const triggers = () => stack.pagerDuty!.triggers.filter((t) => t.dedupKey === escalation.dedupKey);
      for (let waited = 0; triggers().length < 3 && waited < 5000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(triggers()).toHaveLength(3);
      expect([...stack.pagerDuty!.incidents.values()].filter((i) => i.incidentKey === escalation.dedupKey)).toHaveLength(1);
      await acknowledgeAndResolve(world, escalation);
      await expectCleanEndState(world, { pagerDutyEvents: 3 });
    });

    it('failing every attempt: the customer is told once, in the thread, and the event is in the DLQ with a logged reason', async () => {
      pdFault('events', 50, { kind: 'status', status: 502 });
      const logFrom = output.records().length;
      const { world, escalation } = await escalateThrough('CPDDOWN');
      const messages = botMessages('CPDDOWN');
      expect(messages).toHaveLength(1);
      expect(messages[0]!.threadTs).toBe(escalation.ts);
      expect(messages[0]!.text).toMatch(/could not reach PagerDuty.*not\* been paged.*contact your account team/);
      const report = await audit(world);
      expect(report.failedAndTold).toEqual([escalation.dedupKey]);
      expect(report.lost).toEqual([]);
      expect(report.duplicates).toEqual([]);
      expect(report.dlq.slack).toHaveLength(1);
      expect(JSON.parse(report.dlq.slack[0]!.body)).toMatchObject({ id: escalation.id, channel: 'CPDDOWN' });
      const last = logsSince(logFrom).filter((l) => l.message === 'message failed for the last time; SQS moves it to the DLQ' && l.service === 'pd-router.slack-worker');
      expect(last).toHaveLength(1);
      expect(JSON.stringify(last[0]!.error)).toContain('PagerDuty Events API answered 502');
      expect(world.incidentOf(escalation)).toBeUndefined();
    });
  });

  describe('PagerDuty REST API (Check Status, alerts lookup)', () => {
    async function clickAndAnswer(channel: string, faults: () => void) {
      const { world, escalation } = await escalateThrough(channel);
      faults();
      const restBefore = stack.pagerDuty!.restCalls.length;
      const click = await world.click(channel, escalation.dedupKey);
      await stack.waitForIdle(60_000);
      const answers = stack.slack!.ephemerals.filter((e) => e.user === click.user);
      return { answers, restCalls: stack.pagerDuty!.restCalls.slice(restBefore), world };
    }

    it('answering 500: retried through SQS, then the click is answered once, with the live status', async () => {
      const { answers, restCalls, world } = await clickAndAnswer('CREST500', () => pdFault('rest', 3, { kind: 'status', status: 500 }));
      expect(restCalls.map((c) => c.status)).toEqual([500, 500, 500, 200]);
      expectLiveStatus(answers, 'CREST500');
      await expectCleanEndState(world, { pagerDutyEvents: 1 });
    });

    it('answering 429 with Retry-After: waited out, then the click is answered once, with the live status', async () => {
      const { answers, restCalls, world } = await clickAndAnswer('CREST429', () => pdFault('rest', 1, { kind: 'status', status: 429, retryAfterSeconds: 1 }));
      expect(restCalls.map((c) => c.status)).toEqual([429, 200]);
      expectLiveStatus(answers, 'CREST429');
      await expectCleanEndState(world, { pagerDutyEvents: 1 });
    });

    it('not answering in time: the lookup is abandoned and retried, then the click is answered once', async () => {
      const logFrom = output.records().length;
      const { answers, world } = await clickAndAnswer('CRESTSLOW', () => pdFault('rest', 2, { kind: 'timeout', ms: 900 }));
      const retries = logsSince(logFrom).filter((l) => l.message === 'message failed; it will be retried' && l.service === 'pd-router.slack-worker');
      expect(retries.map((l) => (l.error as { message: string }).message)).toEqual(['PagerDuty incident lookup could not be reached', 'PagerDuty incident lookup could not be reached']);
      expectLiveStatus(answers, 'CRESTSLOW');
      await expectCleanEndState(world, { pagerDutyEvents: 1 });
    });

    it('down for every attempt: the click is told PagerDuty cannot be reached, once, and nothing is stuck', async () => {
      const { answers, world } = await clickAndAnswer('CRESTDOWN', () => pdFault('rest', 50, { kind: 'status', status: 503 }));
      expect(answers).toHaveLength(1);
      expect(answers[0]!.text).toMatch(/couldn't reach PagerDuty/);
      await expectCleanEndState(world, { pagerDutyEvents: 1 });
    });

    it('failing while an update without incident_key is routed through the alerts: retried, then posted once', async () => {
      // PagerDuty leaves incident_key out for incidents with several alerts; the link is found through the REST API.
      const alertsStack = await startStack({ env: { HTTP_TIMEOUT_MS: '300' }, visibilityTimeoutSeconds: 5, retryBaseSeconds: 0, logLevel: 'silent', standIns: { firstIncidentNumber: FIRST_INCIDENT_NUMBER, omitIncidentKey: true } });
      try {
        alertsStack.pagerDuty!.faults.failNext('rest', 3, { kind: 'status', status: 500 });
        const world = new World(alertsStack);
        const escalation = await world.escalate('CALERTS');
        await alertsStack.waitForIdle(60_000);
        const incident = world.incidentOf(escalation)!;
        alertsStack.pagerDuty!.acknowledge(incident.id, 'Fox Mulder');
        await alertsStack.waitForIdle(60_000);
        alertsStack.pagerDuty!.resolve(incident.id, 'Dana Scully');
        await alertsStack.waitForIdle(60_000);
        // Every webhook reads the incident's alerts (that is how grouping is discovered): three failures, then one answer per event.
        expect(alertsStack.pagerDuty!.restCalls.filter((c) => c.path.includes('/alerts')).map((c) => c.status)).toEqual([500, 500, 500, 200, 200, 200]);
        const report = await audit(world);
        expect(report).toMatchObject({ duplicates: [], misroutes: [], lost: [], dlq: { slack: [], pagerduty: [] }, incidentsTriggered: 1, pagerDutyEventsAccepted: 3 });
        // The acknowledgement and the resolution (the opening is what the confirmation says).
        const posts = alertsStack.slack!.channelMessages('CALERTS').filter((m) => String(m.metadata?.event_payload.key).startsWith('pd:'));
        expect(posts).toHaveLength(2);
        expect(posts.every((m) => m.threadTs === escalation.ts)).toBe(true);
      } finally {
        await alertsStack.stop();
      }
    });
  });

  describe('Slack Web API', () => {
    it.each([
      ['429 with Retry-After', 'chat.postMessage', 1, { kind: 'status', status: 429, retryAfterSeconds: 1 } as Fault],
      ['500 (more often than the SDK retries)', 'chat.postMessage', 4, { kind: 'status', status: 500 } as Fault],
      ['ok:false internal_error', 'chat.postMessage', 2, { kind: 'slack-error', error: 'internal_error' } as Fault],
      ['ok:false ratelimited on chat.update', 'chat.update', 2, { kind: 'slack-error', error: 'ratelimited' } as Fault],
      ['500 on every method', '*', 6, { kind: 'status', status: 500 } as Fault],
    ])('answering %s: one confirmation and one post per PagerDuty event once it clears', async (name, method, count, fault) => {
      const channel = `CSLACK${name.replace(/\W/g, '').slice(0, 8).toUpperCase()}`;
      slackFault(method, count, fault);
      const world = new World(stack);
      const escalation = await world.escalate(channel);
      await stack.waitForIdle(60_000);
      await acknowledgeAndResolve(world, escalation);
      await expectCleanEndState(world, { pagerDutyEvents: 3 });
      // The confirmation ends up showing the last status.
      const confirmation = botMessages(channel).find((m) => m.metadata?.event_payload.key === `confirm:${escalation.dedupKey}`)!;
      expect(confirmation.text).toContain('(resolved)');
    });

  });

  describe('PagerDuty faster than Slack', () => {
    it('an update that arrives before the slash command’s confirmation (which starts its thread) waits for it, then is posted there once', async () => {
      // Slack refuses the confirmation for 2 s (a 429); on-call acknowledges at once.
      slackFault('chat.postMessage', 1, { kind: 'status', status: 429, retryAfterSeconds: 2 });
      const world = new World(stack);
      const escalation = await world.escalate('CPDFIRST', { via: 'command' });
      await world.waitForIncidents([escalation.dedupKey]);
      const incident = world.incidentOf(escalation)!;
      expect(botMessages('CPDFIRST')).toEqual([]); // the thread does not exist yet
      stack.pagerDuty!.acknowledge(incident.id, 'Fox Mulder');
      await stack.waitForIdle(60_000);
      const confirmation = botMessages('CPDFIRST').find((m) => m.metadata?.event_payload.key === `confirm:${escalation.dedupKey}`)!;
      const posts = botMessages('CPDFIRST').filter((m) => String(m.metadata?.event_payload.key).startsWith('pd:'));
      expect(posts.map((m) => m.text)).toEqual([expect.stringContaining('Acknowledged by Fox Mulder')]);
      expect(posts[0]!.threadTs).toBe(confirmation.ts);
      stack.pagerDuty!.resolve(incident.id, 'Dana Scully');
      await stack.waitForIdle(60_000);
      await expectCleanEndState(world, { pagerDutyEvents: 3 });
      expect(incident.status).toBe('resolved');
    });
  });

  describe('Slack Web API answering too late (it posts after the worker gave up)', () => {
    // Retries come a second later here, as they do in production (10 s): by then the late post
    // has landed, and the retry must find it instead of posting again. Each case has its own
    // stack (its own fault plan), so the cases wait out their retries side by side.
    it.concurrent.each([
      ['chat.postMessage in a thread', 'CLATETHREAD', 'mention', [['chat.postMessage', 1, 'timeout']]],
      ['chat.postMessage at the top of the channel (slash command)', 'CLATETOP', 'command', [['chat.postMessage', 1, 'timeout']]],
      ['chat.postMessage, then the lookup that looks for it', 'CLATELOOKUP', 'mention', [['chat.postMessage', 1, 'timeout'], ['conversations.replies', 1, 'error']]],
    ] as const)('%s: posted once', async (_name, channel, via, faults) => {
      const slow = await startStack({ env: { HTTP_TIMEOUT_MS: '300' }, visibilityTimeoutSeconds: 5, retryBaseSeconds: 1, logLevel: 'silent', standIns: { firstIncidentNumber: FIRST_INCIDENT_NUMBER } });
      try {
        for (const [method, count, kind] of faults) slow.slack!.faults.failNext(method, count, kind === 'timeout' ? { kind: 'timeout', ms: 600 } : { kind: 'slack-error', error: 'internal_error' });
        const world = new World(slow);
        const escalation = await world.escalate(channel, { via });
        await slow.waitForIdle(60_000);
        const incident = world.incidentOf(escalation)!;
        slow.slack!.faults.failNext('chat.postMessage', 1, { kind: 'timeout', ms: 600 });
        slow.pagerDuty!.acknowledge(incident.id, 'Fox Mulder');
        await slow.waitForIdle(60_000);
        const report = await audit(world);
        expect(report).toMatchObject({ duplicates: [], misroutes: [], lost: [], dlq: { slack: [], pagerduty: [] }, incidentsTriggered: 1, pagerDutyEventsAccepted: 2 });
        const keys = slow.slack!.channelMessages(channel).filter((m) => m.user === STAND_IN_BOT_USER_ID).map((m) => String(m.metadata?.event_payload.key));
        expect(keys.filter((k) => k.startsWith('confirm:'))).toHaveLength(1);
        expect(keys.filter((k) => k.startsWith('pd:'))).toHaveLength(1); // the acknowledgement
        // Each post was sent once, landed late, and the retry found it by its metadata.
        expect(slow.slack!.calls.filter((c) => c.method === 'chat.postMessage' && c.channel === channel)).toHaveLength(keys.length);
        expect(slow.slack!.calls.filter((c) => c.method.startsWith('conversations.') && c.method !== 'conversations.info' && c.channel === channel).length).toBeGreaterThanOrEqual(2);
      } finally {
        await slow.stop();
      }
    });
  });

  describe('a worker crashing right after each step', () => {
    it.each(['link-created', 'triggered', 'confirmed'])('slack-worker after %s: one incident, one confirmation', async (step) => {
      crash = { worker: 'slack', step };
      const { world, escalation } = await escalateThrough(`CCRASH${step.replace(/\W/g, '').toUpperCase()}`.slice(0, 20));
      expect(crashed).toContain(`slack:${step}`);
      await acknowledgeAndResolve(world, escalation);
      await expectCleanEndState(world, { pagerDutyEvents: 3 });
    });

    it.each(['link-created', 'triggered', 'confirmed'])('slack-worker after %s of a slash command: one incident, one confirmation', async (step) => {
      crash = { worker: 'slack', step };
      const { world, escalation } = await escalateThrough(`CCMD${step.replace(/\W/g, '').toUpperCase()}`.slice(0, 20), 'command');
      expect(crashed).toContain(`slack:${step}`);
      await acknowledgeAndResolve(world, escalation);
      await expectCleanEndState(world, { pagerDutyEvents: 3 });
    });

    it.each(['incident-attached', 'status-recorded', 'posted'])('pagerduty-worker after %s: one post per event', async (step) => {
      // Armed before the escalation: its incident.triggered update is the first to pass every step.
      crash = { worker: 'pagerDuty', step };
      const { world, escalation } = await escalateThrough(`CPDCRASH${step.replace(/\W/g, '').toUpperCase()}`.slice(0, 20));
      expect(crashed).toContain(`pagerDuty:${step}`);
      const incident = world.incidentOf(escalation)!;
      crash = { worker: 'pagerDuty', step };
      stack.pagerDuty!.acknowledge(incident.id, 'Fox Mulder');
      await stack.waitForIdle(60_000);
      crash = { worker: 'pagerDuty', step };
      stack.pagerDuty!.resolve(incident.id, 'Dana Scully');
      await stack.waitForIdle(60_000);
      await expectCleanEndState(world, { pagerDutyEvents: 3 });
    });
  });
});
