import { createReconcilerHandler } from '../functions/reconciler/wiring';
import { type LocalStack } from '../local/stack';
import { lambdaContext } from '../local/lambda-context';
import type { RecordedMessage } from '../local/stand-ins/slack';
import { ensureCustomer } from '../local/world/customers';
import { startTestStack, shownStatus } from './support/stack';
import { audit } from '../local/world/audit';
import { captureOutput } from '../local/world/capture-output';
import { World, type SentEscalation } from '../local/world/world';
import { crashPlan } from './support/crash-plan';
import { makeDocumentClient } from '../lib/store/dynamo';
import { makePacer, postTurn } from '../lib/store/pacer';
import { STAND_IN_TEAM_ID } from '../local/stand-ins/slack';

const INTERVAL_SECONDS = 1;

const keyOf = (m: RecordedMessage) => String(m.metadata?.event_payload.key ?? '');
/** The bot's thread posts about one escalation that tell a status change, whoever posted them (webhook `pd:` or reconciler `caught:`). */
function statusPosts(stack: LocalStack, channel: string, dedupKey: string, word: RegExp) {
  return stack.slack!.channelMessages(channel).filter((m) => (keyOf(m).startsWith(`caught:${dedupKey}:`) || (keyOf(m).startsWith('pd:') && keyOf(m).endsWith(`:${dedupKey}`))) && word.test(m.text ?? ''));
}

/** One escalation on a stack, its incident acknowledged while PagerDuty's webhooks are off: what only the reconciler can tell. */
async function acknowledgedUnheard(stack: LocalStack, channel: string) {
  const world = new World(stack);
  const e = await world.escalate(channel);
  await world.waitForIncidents([e.dedupKey]);
  await stack.waitForIdle();
  stack.pagerDuty!.setWebhooks(false);
  stack.pagerDuty!.acknowledge(world.incidentOf(e)!.id, 'Dana Scully');
  return e;
}

/** One escalation in each channel, each held by its own incident. */
async function escalateEach(world: World, channels: string[]): Promise<SentEscalation[]> {
  const escalations: SentEscalation[] = [];
  for (const channel of channels) escalations.push(await world.escalate(channel));
  await world.waitForIncidents(escalations.map((e) => e.dedupKey));
  return escalations;
}

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return Date.now() - started;
}

/** A stack whose reconciler runs only when a test runs it, its logs captured; stopped after `test`, whatever it threw. */
async function onQuietStack(test: (stack: LocalStack, output: ReturnType<typeof captureOutput>) => Promise<void>, env: Record<string, string> = {}): Promise<void> {
  const stack = await startTestStack({ reconcileEverySeconds: 3600, logLevel: 'info', env });
  const output = captureOutput();
  try {
    await test(stack, output);
  } finally {
    output.restore();
    await stack.stop();
  }
}

describe('the reconciler: what the webhooks did not deliver reaches each channel once', () => {
  let stack: LocalStack;
  let world: World;
  const output = captureOutput();
  beforeAll(async () => {
    stack = await startTestStack({ reconcileEverySeconds: INTERVAL_SECONDS, logLevel: 'info' });
    world = new World(stack);
  });
  afterAll(async () => {
    await stack.stop();
    output.restore();
  });

  it('with webhooks off, several customers see their final status within two intervals, once; redelivering every lost webhook later posts nothing more', async () => {
    const channels = ['CRECACME', 'CRECGLOBEX', 'CRECINITECH'];
    const escalations = await escalateEach(world, channels);
    await stack.waitForIdle();

    stack.pagerDuty!.setWebhooks(false);
    const [acme, globex, initech] = escalations.map((e) => world.incidentOf(e)!);
    stack.pagerDuty!.acknowledge(acme!.id, 'Dana Scully');
    stack.pagerDuty!.resolve(acme!.id, 'Dana Scully');
    stack.pagerDuty!.acknowledge(globex!.id, 'Fox Mulder');
    stack.pagerDuty!.resolve(initech!.id, null);
    const final = { CRECACME: /Resolved/, CRECGLOBEX: /Acknowledged/, CRECINITECH: /Resolved/ } as const;

    const took = await waitFor(
      'every channel shows its final status',
      () => escalations.every((e) => statusPosts(stack, e.channel, e.dedupKey, final[e.channel as keyof typeof final]).length > 0),
      2 * INTERVAL_SECONDS * 1000 + 1500,
    );
    expect(took).toBeLessThanOrEqual(2 * INTERVAL_SECONDS * 1000 + 1500);
    await stack.waitForIdle();

    // Webhooks back on, and everything they lost delivered late: nothing is told twice.
    stack.pagerDuty!.setWebhooks(true);
    expect(stack.pagerDuty!.redeliverLost()).toBe(4);
    await stack.waitForIdle();
    await stack.reconcile();
    await stack.waitForIdle();

    for (const e of escalations) {
      const expected = final[e.channel as keyof typeof final];
      expect(statusPosts(stack, e.channel, e.dedupKey, expected)).toHaveLength(1);
      // Acme's acknowledgement happened before its resolution: the reconciler summed both up in
      // "Resolved", and the late webhook of the acknowledgement is older than what the channel shows.
      if (e.channel === 'CRECACME') expect(statusPosts(stack, e.channel, e.dedupKey, /Acknowledged by/)).toEqual([]);
      const confirmation = stack.slack!.channelMessages(e.channel).find((m) => keyOf(m) === `confirm:${e.dedupKey}`)!;
      expect(shownStatus(confirmation)).toBe(e.channel === 'CRECGLOBEX' ? 'acknowledged' : 'resolved');
    }
    const report = await audit(world, { escalations });
    expect(report.duplicates).toEqual([]);
    expect(report.misroutes).toEqual([]);
    expect(report.lost).toEqual([]);
    // Counted, so the WebhooksQuiet alarm can tell the provider the webhooks went quiet.
    const catchUps = output.records().filter((r) => (r._aws as { CloudWatchMetrics?: { Metrics: { Name: string }[] }[] } | undefined)?.CloudWatchMetrics?.[0]?.Metrics.some((m) => m.Name === 'ReconcilerCatchUps'));
    expect(catchUps.length).toBeGreaterThanOrEqual(3);
  });

  it('a change a webhook told is not told again by the reconciler; a merge it missed is told as "handled together", once', async () => {
    const first = await world.escalate('CRECMERGEA');
    const second = await world.escalate('CRECMERGEB');
    await world.waitForIncidents([first.dedupKey, second.dedupKey]);
    await stack.waitForIdle();
    const a = world.incidentOf(first)!;
    const b = world.incidentOf(second)!;
    stack.pagerDuty!.acknowledge(a.id, 'Dana Scully');
    await stack.waitForIdle();
    await stack.reconcile();
    // Told once, by the webhook (or by the stack's own timed run, if it read the change first).
    expect(statusPosts(stack, 'CRECMERGEA', first.dedupKey, /Acknowledged/)).toHaveLength(1);

    stack.pagerDuty!.setWebhooks(false);
    stack.pagerDuty!.merge(b.id, a.id);
    await waitFor('the merge is told', () => stack.slack!.channelMessages('CRECMERGEB').some((m) => keyOf(m).startsWith(`joined:${second.dedupKey}:`)), 10_000);
    stack.pagerDuty!.setWebhooks(true);
    stack.pagerDuty!.redeliverLost();
    await stack.waitForIdle();
    await stack.reconcile();
    const joined = stack.slack!.channelMessages('CRECMERGEB').filter((m) => /handled together/.test(m.text ?? ''));
    expect(joined).toHaveLength(1);
    // B now follows A's incident, which is acknowledged: told once.
    expect(statusPosts(stack, 'CRECMERGEB', second.dedupKey, /Acknowledged/)).toHaveLength(1);
    const report = await audit(world, { escalations: [first, second] });
    expect(report.duplicates).toEqual([]);
    expect(report.lost).toEqual([]);
  });
});

describe('the reconciler within PagerDuty\'s rate limit and the Lambda\'s time', () => {
  it('waits as a 429 asks (Retry-After), then goes on; and stops before the function would time out, leaving the rest for the next run', async () => {
    await onQuietStack(async (stack, output) => {
    const e = await acknowledgedUnheard(stack, 'CREC429');

    // Too little time left for one link's calls: nothing is read, nothing posted, the run says it stopped.
    const reconciler = createReconcilerHandler(stack.functionEnv('reconciler'));
    const restBefore = stack.pagerDuty!.restCalls.length;
    await expect(reconciler.handler({} as never, lambdaContext('reconciler', 1_000))).resolves.toMatchObject({ examined: 0, stoppedEarly: true });
    expect(stack.pagerDuty!.restCalls.length).toBe(restBefore);

    // PagerDuty answers 429 (its client hands a 429 straight back): the reconciler waits the second it was told, then reads again.
    stack.pagerDuty!.faults.failNext('rest', 1, { kind: 'status', status: 429, retryAfterSeconds: 1 });
    await expect(reconciler.handler({} as never, lambdaContext('reconciler', 60_000))).resolves.toMatchObject({ examined: 1, caughtUp: 1, stoppedEarly: false });
    expect(statusPosts(stack, 'CREC429', e.dedupKey, /Acknowledged/)).toHaveLength(1);
    const records = output.records();
    expect(records.some((r) => r.message === 'PagerDuty rate limit: waiting as it asked' && r.waitMs === 1000)).toBe(true);
    expect(records.some((r) => JSON.stringify(r._aws ?? {}).includes('PagerDutyRateLimited'))).toBe(true);

    // Resolved, its incident is no longer listed as open: it is found in the listing of resolved incidents, whose 429 is waited out the same way.
    const incident = stack.pagerDuty!.byKey(e.dedupKey)!;
    stack.pagerDuty!.resolve(incident.id, 'Dana Scully');
    stack.pagerDuty!.faults.failNext('rest:/incidents?statuses[]=resolved', 1, { kind: 'status', status: 429, retryAfterSeconds: 1 });
    await expect(reconciler.handler({} as never, lambdaContext('reconciler', 60_000))).resolves.toMatchObject({ examined: 1, caughtUp: 1, stoppedEarly: false });
    expect(statusPosts(stack, 'CREC429', e.dedupKey, /Resolved/)).toHaveLength(1);
    expect(output.records().filter((r) => r.message === 'PagerDuty rate limit: waiting as it asked')).toHaveLength(2);
    });
  });
});

describe('the reconciler when one run cannot examine every open link', () => {
  it('goes on where the last run stopped, so every open link is examined within a few runs, not the same first ones at every run', async () => {
    await onQuietStack(async (stack) => {
    const world = new World(stack);
    const channels = ['CROUND1', 'CROUND2', 'CROUND3', 'CROUND4', 'CROUND5', 'CROUND6'];
    const escalations = await escalateEach(world, channels);
    await stack.waitForIdle();
    stack.pagerDuty!.setWebhooks(false);
    for (const e of escalations) stack.pagerDuty!.acknowledge(world.incidentOf(e)!.id, 'Dana Scully');

    // One link at a time, so that the run's time can run short between two links.
    const reconciler = createReconcilerHandler(stack.functionEnv('reconciler'), { linksAtOnce: 1 });
    /** A Lambda whose time runs short after `links` links: the run asks before each, middy once as the invocation starts. */
    const timeFor = (links: number) => {
      let asked = 0;
      return { ...lambdaContext('reconciler'), getRemainingTimeInMillis: () => (++asked <= links + 1 ? 60_000 : 1_000) };
    };
    const acknowledged = () => escalations.filter((e) => statusPosts(stack, e.channel, e.dedupKey, /Acknowledged/).length > 0).length;

    // Two links a run: three runs tell all six, each run two others.
    for (let run = 1; run <= 3; run++) {
      await expect(reconciler.handler({} as never, timeFor(2))).resolves.toEqual({ examined: 2, caughtUp: 2, stoppedEarly: true });
      expect(acknowledged()).toBe(2 * run);
    }
    // A run with time for all goes round once from where the last stopped: six examined, not twelve, nothing told again;
    // and one listing of the open incidents is all it asks PagerDuty, not a read per link.
    const restBefore = stack.pagerDuty!.restCalls.length;
    await expect(reconciler.handler({} as never, timeFor(100))).resolves.toEqual({ examined: 6, caughtUp: 0, stoppedEarly: false });
    expect(stack.pagerDuty!.restCalls.slice(restBefore).map((call) => call.path.split('?')[0])).toEqual(['/incidents']);
    // Stopped in the middle, the next run goes past the index's end and round to where it began.
    await expect(reconciler.handler({} as never, timeFor(4))).resolves.toMatchObject({ examined: 4, stoppedEarly: true });
    await expect(reconciler.handler({} as never, timeFor(100))).resolves.toEqual({ examined: 6, caughtUp: 0, stoppedEarly: false });
    for (const e of escalations) expect(statusPosts(stack, e.channel, e.dedupKey, /Acknowledged/)).toHaveLength(1);
    });
  });
});

describe('the reconciler when the next run is due', () => {
  it('starts no more links, so two runs never examine the same links at once; the next goes on from there', async () => {
    await onQuietStack(async (stack, output) => {
      const escalations: SentEscalation[] = [];
      for (const channel of ['CDUE1', 'CDUE2', 'CDUE3', 'CDUE4', 'CDUE5', 'CDUE6']) escalations.push(await acknowledgedUnheard(stack, channel));
      // A post takes 400 ms, one link at a time, and the next run is due a second after this one starts.
      stack.slack!.latencyMs = 400;
      const reconciler = createReconcilerHandler({ ...stack.functionEnv('reconciler'), RECONCILE_EVERY_SECONDS: '1' }, { linksAtOnce: 1 });
      const first = await reconciler.handler({} as never, lambdaContext('reconciler'));
      expect(first).toMatchObject({ stoppedEarly: true });
      expect(first.examined).toBeGreaterThan(0);
      expect(first.examined).toBeLessThan(6);
      expect(output.records().some((r) => r.message === 'reconciler stopped as the next run is due; it goes on from here')).toBe(true);
      stack.slack!.latencyMs = 0;
      await expect(createReconcilerHandler(stack.functionEnv('reconciler')).handler({} as never, lambdaContext('reconciler'))).resolves.toMatchObject({ caughtUp: 6 - first.caughtUp, stoppedEarly: false });
      for (const e of escalations) expect(statusPosts(stack, e.channel, e.dedupKey, /Acknowledged/)).toHaveLength(1);
    });
  });
});

describe('the reconciler when an outage merged into one incident is resolved unheard', () => {
  it('reads that incident once for every channel it holds, and tells each channel once', async () => {
    await onQuietStack(async (stack) => {
    const world = new World(stack);
    const escalations = await escalateEach(world, ['CMERGE1', 'CMERGE2', 'CMERGE3', 'CMERGE4']);
    const [first, ...rest] = escalations.map((e) => world.incidentOf(e)!);
    for (const incident of rest) stack.pagerDuty!.merge(incident.id, first!.id);
    await stack.waitForIdle();
    stack.pagerDuty!.setWebhooks(false);
    stack.pagerDuty!.resolve(first!.id, 'Dana Scully');

    const before = stack.pagerDuty!.restCalls.length;
    await expect(createReconcilerHandler(stack.functionEnv('reconciler')).handler({} as never, lambdaContext('reconciler'))).resolves.toMatchObject({ examined: 4, caughtUp: 4 });
    // The listing of open incidents, then one page of the resolved ones, which holds it: no incident is read by itself.
    expect(stack.pagerDuty!.restCalls.slice(before).map((call) => call.path)).toEqual([expect.stringMatching(/^\/incidents\?statuses%5B%5D=triggered/), expect.stringMatching(/^\/incidents\?statuses%5B%5D=resolved/)]);
    for (const e of escalations) expect(statusPosts(stack, e.channel, e.dedupKey, /Resolved/)).toHaveLength(1);
    });
  });
});

describe('the reconciler when an outage\'s separate incidents are resolved unheard', () => {
  it('finds them in PagerDuty\'s listing of resolved incidents, a page for a hundred, reading none by itself but one merged into another; each channel is told once', async () => {
    await onQuietStack(async (stack) => {
      const world = new World(stack);
      const escalations = await escalateEach(world, ['CSEP1', 'CSEP2', 'CSEP3', 'CSEP4', 'CSEP5']);
      await stack.waitForIdle();
      stack.pagerDuty!.setWebhooks(false);
      const [merged, ...separate] = escalations;
      for (const e of separate) stack.pagerDuty!.resolve(world.incidentOf(e)!.id, 'Dana Scully');
      // One merged, unheard, into an incident on-call opened: its channel is told it is handled together.
      const internal = stack.pagerDuty!.openInternal('INTERNAL: database failover');
      stack.pagerDuty!.merge(world.incidentOf(merged!)!.id, internal.id, 'Dana Scully');
      // The account resolves other services' incidents after them (a later millisecond: resolved_at
      // is PagerDuty's order): the customers' are on the listing's second page.
      await new Promise((resolve) => setTimeout(resolve, 20));
      for (let i = 0; i < 110; i++) stack.pagerDuty!.resolve(stack.pagerDuty!.openInternal(`other service incident ${i}`).id, null);

      const restBefore = stack.pagerDuty!.restCalls.length;
      await expect(createReconcilerHandler(stack.functionEnv('reconciler')).handler({} as never, lambdaContext('reconciler'))).resolves.toMatchObject({ examined: 5, stoppedEarly: false });
      for (const e of separate) expect(statusPosts(stack, e.channel, e.dedupKey, /Resolved/)).toHaveLength(1);
      expect(stack.slack!.channelMessages(merged!.channel).filter((m) => keyOf(m).startsWith(`joined:${merged!.dedupKey}:`))).toHaveLength(1);
      const calls = stack.pagerDuty!.restCalls.slice(restBefore).map((call) => decodeURIComponent(call.path));
      expect(calls.filter((path) => path.includes('statuses[]=resolved')).map((path) => /offset=(\d+)/.exec(path)?.[1])).toEqual(['0', '100']);
      // Read by itself: only the merged incident, whose merge is followed to the incident it went into.
      expect(calls.filter((path) => /^\/incidents\/[^/?]+$/.test(path))).toEqual([`/incidents/${world.incidentOf(merged!)!.id}`, `/incidents/${internal.id}`]);

      // Redelivered late, the lost webhooks tell nothing twice.
      stack.pagerDuty!.setWebhooks(true);
      stack.pagerDuty!.redeliverLost();
      await stack.waitForIdle();
      for (const e of separate) expect(statusPosts(stack, e.channel, e.dedupKey, /Resolved/)).toHaveLength(1);
      expect(stack.iamDenials()).toEqual([]);
    });
  });
});

describe('the reconciler with many channels to catch up', () => {
  it('examines links side by side, their posts in flight together, each channel told once; its own reads of PagerDuty (the listing failed) come no faster than five a second', async () => {
    await onQuietStack(async (stack) => {
      const world = new World(stack);
      const escalations = await escalateEach(world, ['CWIDE1', 'CWIDE2', 'CWIDE3', 'CWIDE4', 'CWIDE5', 'CWIDE6']);
      await stack.waitForIdle();
      // Each incident resolved unheard, and PagerDuty fails the listing of open incidents: the run
      // cannot tell a resolved incident from one left out of it, so each is read by itself.
      stack.pagerDuty!.setWebhooks(false);
      stack.pagerDuty!.faults.failNext('rest:/incidents?statuses[]=triggered,acknowledged', 1, { kind: 'status', status: 503 });
      for (const e of escalations) stack.pagerDuty!.resolve(world.incidentOf(e)!.id, 'Dana Scully');
      stack.slack!.latencyMs = 300;
      stack.slack!.peakInFlight.clear();
      const restBefore = stack.pagerDuty!.restCalls.length;
      await expect(createReconcilerHandler(stack.functionEnv('reconciler')).handler({} as never, lambdaContext('reconciler'))).resolves.toMatchObject({ examined: 6, caughtUp: 6, stoppedEarly: false });
      for (const e of escalations) expect(statusPosts(stack, e.channel, e.dedupKey, /Resolved/)).toHaveLength(1);
      // One at a time, no two of its posts would be answered at once.
      expect(stack.slack!.peakInFlight.get('chat.postMessage')).toBeGreaterThan(1);
      const reads = stack.pagerDuty!.restCalls.slice(restBefore).filter((call) => /^\/incidents\/[^/?]+$/.test(call.path.split('?')[0]!));
      expect(reads).toHaveLength(6);
      // 200 ms apart, less a little for the two clocks (the run's and the stand-in's arrival).
      for (let i = 1; i < reads.length; i++) expect(reads[i]!.arrivedAt - reads[i - 1]!.arrivedAt).toBeGreaterThanOrEqual(180);
      expect(stack.iamDenials()).toEqual([]);
    });
  });
});

describe('the reconciler when a channel is gone', () => {
  it('skips the link, says Slack\'s reason and counts the channel as unavailable', async () => {
    await onQuietStack(async (stack, output) => {
    const e = await acknowledgedUnheard(stack, 'CRECGONE');
    stack.slack!.archived.add('CRECGONE');
    const reconciler = createReconcilerHandler(stack.functionEnv('reconciler'));
    await expect(reconciler.handler({} as never, lambdaContext('reconciler', 60_000))).resolves.toMatchObject({ examined: 1, caughtUp: 0 });
    expect(statusPosts(stack, 'CRECGONE', e.dedupKey, /Acknowledged/)).toHaveLength(0);
    const records = output.records();
    expect(records.some((r) => r.message === 'Slack or PagerDuty refused for good; this link is skipped' && r.reason === 'is_archived')).toBe(true);
    expect(records.some((r) => JSON.stringify(r._aws ?? {}).includes('SlackChannelUnavailable'))).toBe(true);
    });
  });
});

describe('the reconciler\'s re-renders (chat.update, 50 a minute per workspace)', () => {
  it('go through the pagerduty-worker\'s paced refresh: one run tells every channel and closes every resolved link; the worker re-renders each at its turn and waits out a 429', async () => {
    // Updates paced at 120 a minute: a turn each 500 ms.
    await onQuietStack(async (stack) => {
      const escalations: SentEscalation[] = [];
      for (const channel of ['CRERENDER1', 'CRERENDER2', 'CRERENDER3']) escalations.push(await acknowledgedUnheard(stack, channel));
      for (const e of escalations) stack.pagerDuty!.resolve(stack.pagerDuty!.byKey(e.dedupKey)!.id, 'Dana Scully');
      const updates = () => stack.slack!.calls.filter((c) => c.method === 'chat.update');
      const shown = (e: SentEscalation) => shownStatus(stack.slack!.channelMessages(e.channel).find((m) => keyOf(m) === `confirm:${e.dedupKey}`)!);
      const reconciler = createReconcilerHandler(stack.functionEnv('reconciler'));
      stack.slack!.faults.failNext('chat.update', 1, { kind: 'status', status: 429, retryAfterSeconds: 1 });
      const before = updates().length;
      await expect(reconciler.handler({} as never, lambdaContext('reconciler'))).resolves.toMatchObject({ examined: 3, caughtUp: 3, stoppedEarly: false });
      for (const e of escalations) expect(statusPosts(stack, e.channel, e.dedupKey, /Resolved/)).toHaveLength(1);
      // No second run: the refused update is the worker's to retry, after the second Slack asked for.
      await waitFor('every confirmation shows Resolved', () => escalations.every((e) => shown(e) === 'resolved'), 15_000);
      const made = updates().slice(before);
      const refused = made.filter((c) => c.retryAfterSeconds !== undefined);
      expect(refused).toHaveLength(1);
      expect(made.filter((c) => c.retryAfterSeconds === undefined)).toHaveLength(3);
      const retry = made.find((c) => c.channel === refused[0]!.channel && c.retryAfterSeconds === undefined)!;
      expect(retry.at - refused[0]!.at).toBeGreaterThanOrEqual(1000);
      // Each at its own turn of the pace, not all at once.
      const accepted = made.filter((c) => c.retryAfterSeconds === undefined).map((c) => c.at).sort((a, b) => a - b);
      for (let i = 1; i < accepted.length; i++) expect(accepted[i]! - accepted[i - 1]!).toBeGreaterThanOrEqual(450);
      // Told and its re-render queued, each resolved link left the open links in that one run.
      await expect(reconciler.handler({} as never, lambdaContext('reconciler'))).resolves.toMatchObject({ examined: 0 });
      expect(stack.iamDenials()).toEqual([]);
    }, { SLACK_UPDATES_PER_MINUTE: '120' });
  });
});

describe('the reconciler while a fan-out is paced under the workspace\'s post limit', () => {
  it('takes its turn on the same lane: with turns spoken for seconds ahead it posts nothing, gives the turn up and leaves the channel for the next run, which posts once at a turn of its own', async () => {
    // Paced posts at 600 a minute (a turn each 100 ms), no burst.
    const stack = await startTestStack({ reconcileEverySeconds: 3600, env: { SLACK_FANOUT_POSTS_PER_MINUTE: '600', SLACK_FANOUT_POST_BURST: '1' } });
    const db = makeDocumentClient(stack.functionEnv('reconciler'));
    try {
      const e = await acknowledgedUnheard(stack, 'CRECPACED');
      // A fan-out's posts hold the lane's next 5 s.
      const lane = makePacer(db, stack.functionEnv('reconciler').TABLE_NAME!, { perMinute: 600, burst: 1 });
      for (let n = 0; n < 50; n++) await postTurn(lane, STAND_IN_TEAM_ID, `fan-out-${n}`, Date.now);
      const reconciler = createReconcilerHandler(stack.functionEnv('reconciler'));
      await expect(reconciler.handler({} as never, lambdaContext('reconciler'))).resolves.toMatchObject({ caughtUp: 0, stoppedEarly: true });
      expect(statusPosts(stack, 'CRECPACED', e.dedupKey, /Acknowledged/)).toHaveLength(0);
      // Its turn passed while no run was looking, and another fan-out holds the lane now: the
      // next run does not post at that long-passed turn, outside the lane's count; it asks again.
      await new Promise((resolve) => setTimeout(resolve, 5500));
      for (let n = 0; n < 50; n++) await postTurn(lane, STAND_IN_TEAM_ID, `second-fan-out-${n}`, Date.now);
      await expect(reconciler.handler({} as never, lambdaContext('reconciler'))).resolves.toMatchObject({ caughtUp: 0, stoppedEarly: true });
      expect(statusPosts(stack, 'CRECPACED', e.dedupKey, /Acknowledged/)).toHaveLength(0);
      // The lane free again, the next run posts, and only once.
      await new Promise((resolve) => setTimeout(resolve, 5500));
      await expect(reconciler.handler({} as never, lambdaContext('reconciler'))).resolves.toMatchObject({ caughtUp: 1, stoppedEarly: false });
      await expect(reconciler.handler({} as never, lambdaContext('reconciler'))).resolves.toMatchObject({ caughtUp: 0 });
      expect(statusPosts(stack, 'CRECPACED', e.dedupKey, /Acknowledged/)).toHaveLength(1);
      expect(stack.iamDenials()).toEqual([]);
    } finally {
      db.destroy();
      await stack.stop();
    }
  });
});

describe('the reconciler when Slack answers its catch-up with a 429', () => {
  it('posts nothing more in that run (the limit is the workspace\'s, and Retry-After asks it to wait), and the next run tells every channel once', async () => {
    // The three links are examined side by side; paced posts 200 ms apart put the other two posts after the refusal.
    await onQuietStack(async (stack, output) => {
      const channels = ['CREC429A', 'CREC429B', 'CREC429C'];
      const escalations: SentEscalation[] = [];
      for (const channel of channels) escalations.push(await acknowledgedUnheard(stack, channel));
      // acknowledgedUnheard turns webhooks off after each escalation: the later ones were acknowledged unheard too.
      const reconciler = createReconcilerHandler(stack.functionEnv('reconciler'));
      stack.slack!.faults.failNext('chat.postMessage', 1, { kind: 'status', status: 429, retryAfterSeconds: 1 });
      const postsBefore = stack.slack!.calls.filter((c) => c.method === 'chat.postMessage').length;
      await expect(reconciler.handler({} as never, lambdaContext('reconciler'))).resolves.toMatchObject({ examined: 0, caughtUp: 0, stoppedEarly: true });
      expect(stack.slack!.calls.filter((c) => c.method === 'chat.postMessage').length - postsBefore).toBe(1);
      expect(output.records().some((r) => r.message === 'Slack rate limits the reconciler\'s posts; the rest waits for the next run')).toBe(true);
      await expect(reconciler.handler({} as never, lambdaContext('reconciler'))).resolves.toMatchObject({ caughtUp: 3, stoppedEarly: false });
      for (const e of escalations) expect(statusPosts(stack, e.channel, e.dedupKey, /Acknowledged/)).toHaveLength(1);
    }, { SLACK_FANOUT_POSTS_PER_MINUTE: '300', SLACK_FANOUT_POST_BURST: '1' });
  });

  it('drops the claim its refused post made (a delete its deploy role allows), and the next run posts once without asking Slack first', async () => {
    const stack = await startTestStack({ reconcileEverySeconds: 3600 });
    try {
      const e = await acknowledgedUnheard(stack, 'CREC429SLACK');
      stack.slack!.faults.failNext('chat.postMessage', 1, { kind: 'status', status: 429, retryAfterSeconds: 1 });
      await stack.reconcile();
      expect(statusPosts(stack, 'CREC429SLACK', e.dedupKey, /Acknowledged/)).toHaveLength(0);
      const historyBefore = stack.slack!.calls.filter((c) => c.method === 'conversations.replies' || c.method === 'conversations.history').length;
      await stack.reconcile();
      expect(statusPosts(stack, 'CREC429SLACK', e.dedupKey, /Acknowledged/)).toHaveLength(1);
      // The claim is gone, so the retry did not have to ask Slack whether the refused post landed.
      expect(stack.slack!.calls.filter((c) => c.method === 'conversations.replies' || c.method === 'conversations.history').length).toBe(historyBefore);
      expect(stack.iamDenials()).toEqual([]);
    } finally {
      await stack.stop();
    }
  });
});

describe('the reconciler crashing between its read and its post', () => {
  it('loses nothing and posts nothing twice', async () => {
    // Every first arrival at each step crashes the run (the process dies there); the next run goes on.
    const plan = crashPlan({ read: [1], 'status-recorded': [1, 2], posted: [1] });
    const stack = await startTestStack({ reconcileEverySeconds: 3600, checkpoint: { reconciler: (step) => plan.hook(step) } });
    const errors = captureOutput();
    try {
      const world = new World(stack);
      const e = await world.escalate('CRECCRASH');
      await world.waitForIncidents([e.dedupKey]);
      await stack.waitForIdle();
      stack.pagerDuty!.setWebhooks(false);
      stack.pagerDuty!.resolve(world.incidentOf(e)!.id, 'Dana Scully');
      for (let run = 0; run < 5; run++) await stack.reconcile();
      expect(plan.crashes).toEqual(['read#1', 'status-recorded#1', 'status-recorded#2', 'posted#1']);
      await stack.waitForIdle();
      stack.pagerDuty!.setWebhooks(true);
      stack.pagerDuty!.redeliverLost();
      await stack.waitForIdle();
      expect(statusPosts(stack, 'CRECCRASH', e.dedupKey, /Resolved/)).toHaveLength(1);
      const report = await audit(world, { escalations: [e] });
      expect(report.duplicates).toEqual([]);
      expect(report.lost).toEqual([]);
    } finally {
      errors.restore();
      await stack.stop();
    }
  });
});

describe('an escalation PagerDuty accepts but opens no incident for (maintenance)', () => {
  it('tells the channel within NO_INCIDENT_AFTER_SECONDS, once, logs an error and counts it; an incident that appears later still confirms', async () => {
    const stack = await startTestStack({ reconcileEverySeconds: INTERVAL_SECONDS, noIncidentAfterSeconds: 2, logLevel: 'info', standIns: { } });
    const output = captureOutput();
    try {
      const world = new World(stack);
      stack.pagerDuty!.setMaintenance(true);
      const e = await world.escalate('CRECMAINT');
      await waitFor('the trigger is accepted', () => stack.pagerDuty!.suppressed.has(e.dedupKey), 10_000);
      await stack.waitForIdle();
      const told = () => stack.slack!.channelMessages('CRECMAINT').filter((m) => keyOf(m) === `noincident:${e.dedupKey}`);
      const took = await waitFor('the channel is told', () => told().length > 0, 2_000 + 2 * INTERVAL_SECONDS * 1000 + 1500);
      expect(took).toBeGreaterThan(1000);
      expect(told()[0]!.text).toMatch(/PagerDuty received escalation #1 but has not opened an incident.*contact your account team/);
      expect(told()[0]!.threadTs).toBe(e.ts);
      await stack.reconcile();
      await stack.reconcile();
      expect(told()).toHaveLength(1);
      const records = output.records();
      expect(records.some((r) => r.level === 'error' && /no incident holds it/.test(String(r.message)) && !JSON.stringify(r).includes(stack.secrets.PAGER_DUTY_REST_API_KEY))).toBe(true);
      expect(records.some((r) => JSON.stringify(r._aws ?? {}).includes('EscalationsWithoutIncident'))).toBe(true);

      // On-call opens an incident for the suppressed alert later, with webhooks lost too: the reconciler confirms it.
      stack.pagerDuty!.setMaintenance(false);
      stack.pagerDuty!.setWebhooks(false);
      stack.pagerDuty!.openSuppressed(e.dedupKey);
      await waitFor('the incident is told', () => statusPosts(stack, 'CRECMAINT', e.dedupKey, /Incident opened/).length > 0, 10_000);
      stack.pagerDuty!.setWebhooks(true);
      stack.pagerDuty!.redeliverLost();
      await stack.waitForIdle();
      await stack.reconcile();
      expect(statusPosts(stack, 'CRECMAINT', e.dedupKey, /Incident opened/)).toHaveLength(1);
      const report = await audit(world, { escalations: [e] });
      expect(report.duplicates).toEqual([]);
      expect(report.lost).toEqual([]);
    } finally {
      output.restore();
      await stack.stop();
    }
  });

  it('names the customer\'s own contact (registry `contact`), not the deployment\'s', async () => {
    const stack = await startTestStack({ reconcileEverySeconds: 3600, noIncidentAfterSeconds: 0 });
    try {
      const world = new World(stack);
      await ensureCustomer(stack, 'CRECCONTACT', { contact: 'Acme\'s account manager, +1 555 0100' });
      stack.pagerDuty!.setMaintenance(true);
      const e = await world.escalate('CRECCONTACT');
      await stack.waitForIdle();
      await stack.reconcile();
      const told = stack.slack!.channelMessages('CRECCONTACT').filter((m) => keyOf(m) === `noincident:${e.dedupKey}`);
      expect(told).toHaveLength(1);
      expect(told[0]!.text).toContain('Please contact Acme\'s account manager, +1 555 0100 directly');
      expect(told[0]!.text).not.toContain('your account team');
    } finally {
      await stack.stop();
    }
  });

  it('calls neither PagerDuty nor Slack when nothing is open (one empty index query)', async () => {
    const stack = await startTestStack({ reconcileEverySeconds: 3600 });
    try {
      const before = stack.pagerDuty!.restCalls.length;
      const slackBefore = stack.slack!.calls.length; // registering the sandbox's customers asked Slack their channels' names
      await stack.reconcile();
      expect(stack.pagerDuty!.restCalls.length).toBe(before);
      expect(stack.slack!.calls.length).toBe(slackBefore);
    } finally {
      await stack.stop();
    }
  });
});
