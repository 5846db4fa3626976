import { startStack, type LocalStack } from '../local/stack';
import { World } from '../local/world/world';
import { confirmationOf, expectNothingLostOrDoubled, limitedStack, mergeAndResolve, postAsAnotherApp } from './support/rate-limited';
import { effectKeyOf } from './support/stack';

/**
 * Slack refusing pd-router for longer than a redelivery's wait: refused calls retried until they
 * go, one channel's wait kept from the others, and none of it dead-lettered (the shorter refusals
 * are test/rate-limits.test.ts).
 */

describe('confirmations refused by Slack although paced (a limit tighter than the pace)', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    // Paced at 120 a minute against Slack's 30: most turns meet a 429 (Retry-After 2).
    stack = await limitedStack({ 'slack.chat.update.workspace': { kind: 'bucket', burst: 1, perSecond: 0.5 } }, { SLACK_UPDATES_PER_MINUTE: '120' });
  });
  afterAll(() => stack.stop());

  it('each refused re-render is retried no earlier than Retry-After until every confirmation shows the resolution; nothing dead-lettered', async () => {
    const slack = stack.slack!;
    const world = new World(stack);
    const channels = ['CREFA', 'CREFB', 'CREFC', 'CREFD', 'CREFE', 'CREFF'];
    const escalations = await Promise.all(channels.map((channel) => world.escalate(channel)));
    await stack.waitForIdle(120_000);
    await mergeAndResolve(stack, escalations);
    await stack.waitForIdle(180_000);

    const refused = slack.calls.filter((c) => c.method === 'chat.update' && c.retryAfterSeconds !== undefined);
    expect(refused.length).toBeGreaterThan(0);
    for (const call of refused) {
      const retry = slack.calls.find((c) => c.at > call.at && c.method === 'chat.update' && c.channel === call.channel);
      expect(retry).toBeDefined();
      expect(retry!.at - call.at).toBeGreaterThanOrEqual(call.retryAfterSeconds! * 1000);
    }
    for (const escalation of escalations) {
      expect(JSON.stringify(confirmationOf(stack, escalation).blocks)).toContain('Resolved');
      expect(slack.calls.filter((c) => c.method === 'chat.update' && c.channel === escalation.channel && c.retryAfterSeconds === undefined)).toHaveLength(1);
    }
    await expectNothingLostOrDoubled(world);
  });
});

describe('one channel of many kept waiting by Slack', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    // One post at once per channel, then one every 2 s.
    stack = await limitedStack({ 'slack.chat.postMessage.channel': { kind: 'bucket', burst: 1, perSecond: 0.5 } });
  });
  afterAll(() => stack.stop());

  it('is retried alone: the others are told at once, and the event is not worked through again for its sake', async () => {
    const slack = stack.slack!;
    const pagerDuty = stack.pagerDuty!;
    const world = new World(stack);
    const channels = ['CWAITA', 'CWAITB', 'CWAITC', 'CWAITD', 'CWAITE'];
    const escalations = await Promise.all(channels.map((channel) => world.escalate(channel)));
    await stack.waitForIdle(120_000);
    const internal = pagerDuty.openInternal('INTERNAL: shared cluster down');
    for (const escalation of escalations) pagerDuty.merge(pagerDuty.byKey(escalation.dedupKey)!.id, internal.id);
    await stack.waitForIdle(120_000);
    await new Promise((resolve) => setTimeout(resolve, 4000)); // every channel's bucket full again

    // Someone else's app keeps posting in CWAITA, spending its burst before on-call resolves and
    // every token after, until pd-router's resolution post there has been refused.
    const spend = () => postAsAnotherApp(stack, 'CWAITA');
    await spend();
    await spend();
    const callsBefore = slack.calls.length;
    const restBefore = pagerDuty.restCalls.length;
    pagerDuty.resolve(internal.id);
    const refusedThere = () => slack.calls.slice(callsBefore).some((c) => c.channel === 'CWAITA' && c.retryAfterSeconds !== undefined && JSON.stringify(c.args).includes('Resolved'));
    for (const until = Date.now() + 30_000; !refusedThere() && Date.now() < until; ) {
      await spend();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await stack.waitForIdle(120_000);

    const resolutionPosts = slack.calls.slice(callsBefore).filter((c) => c.method === 'chat.postMessage' && JSON.stringify(c.args).includes('Resolved'));
    const refused = resolutionPosts.filter((c) => c.retryAfterSeconds !== undefined);
    const accepted = resolutionPosts.filter((c) => c.retryAfterSeconds === undefined);
    expect(refused.length).toBeGreaterThan(0);
    expect(new Set(refused.map((c) => c.channel))).toEqual(new Set(['CWAITA']));
    expect(accepted.map((c) => c.channel).sort()).toEqual([...channels].sort());
    // The other four were told before the one that waited.
    const waitedAt = accepted.find((c) => c.channel === 'CWAITA')!.at;
    for (const call of accepted.filter((c) => c.channel !== 'CWAITA')) expect(call.at).toBeLessThan(waitedAt);
    // The resolve was worked out once (who the incident holds: one alert listing), not once per refusal.
    const alertListings = pagerDuty.restCalls.slice(restBefore).filter((c) => c.path.startsWith(`/incidents/${internal.id}/alerts`));
    expect(alertListings.length).toBe(1);
    await expectNothingLostOrDoubled(world);
  });
});

describe('a slash command\'s confirmation held back by Slack', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    // One post per channel, then one every 12 s: longer than five deliveries of an update 2 s apart.
    stack = await limitedStack({ 'slack.chat.postMessage.channel': { kind: 'bucket', burst: 1, perSecond: 1 / 12 } });
  });
  afterAll(() => stack.stop());

  it('its incident\'s updates wait for the thread the confirmation starts, however long, and none is dead-lettered', async () => {
    const slack = stack.slack!;
    const world = new World(stack);
    // Another app has just posted in the channel: the confirmation must wait for Slack's next slot.
    await postAsAnotherApp(stack, 'CSLOWCMD');
    const escalation = await world.escalate('CSLOWCMD', { via: 'command' });
    // On-call acknowledges at once, while the confirmation still waits for Slack's next slot.
    await world.waitForIncidents([escalation.dedupKey]);
    stack.pagerDuty!.acknowledge(world.incidentOf(escalation)!.id, 'Fox Mulder');
    await stack.waitForIdle(90_000);

    const accepted = slack.calls.filter((c) => c.channel === 'CSLOWCMD' && c.method === 'chat.postMessage' && c.retryAfterSeconds === undefined && JSON.stringify(c.args).includes('pd_router_effect'));
    const confirmation = accepted.find((c) => effectKeyOf(c) === `confirm:${escalation.dedupKey}`)!;
    const acknowledged = accepted.find((c) => effectKeyOf(c)?.startsWith('pd:') && effectKeyOf(c)?.endsWith(escalation.dedupKey));
    expect(confirmation).toBeDefined();
    // The acknowledgement's webhook came long before the thread existed; it was told in it all the same.
    expect(slack.calls.some((c) => c.channel === 'CSLOWCMD' && c.retryAfterSeconds !== undefined && effectKeyOf(c) === `confirm:${escalation.dedupKey}`)).toBe(true);
    expect(acknowledged).toBeDefined();
    expect(acknowledged!.args.thread_ts).toBe(slack.channelMessages('CSLOWCMD').find((m) => m.metadata?.event_payload.key === `confirm:${escalation.dedupKey}`)!.ts);
    await expectNothingLostOrDoubled(world);
  });
});

describe('Slack refusing a confirmation more times than SQS delivers a message', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startStack({ visibilityTimeoutSeconds: 1, retryBaseSeconds: 0, logLevel: 'silent' });
  });
  afterAll(() => stack.stop());

  it('the slack-worker puts it back on its own queue with a fresh count (a send its deploy role allows): posted once, nothing dead-lettered', async () => {
    const world = new World(stack);
    // Five refusals of the confirmation: as many as SQS delivers a message before its DLQ, so only a
    // requeue saves it. No webhook posts meanwhile, to take a refusal meant for the confirmation.
    stack.pagerDuty!.setWebhooks(false);
    stack.slack!.faults.failNext('chat.postMessage', 5, { kind: 'status', status: 429, retryAfterSeconds: 1 });
    const escalation = await world.escalate('CREQUEUED');
    await stack.waitForIdle(60_000);
    expect(stack.slack!.calls.filter((c) => c.method === 'chat.postMessage' && effectKeyOf(c) === `confirm:${escalation.dedupKey}`).length).toBeGreaterThanOrEqual(6);
    expect(stack.slack!.channelMessages('CREQUEUED').filter((m) => m.metadata?.event_payload.key === `confirm:${escalation.dedupKey}`)).toHaveLength(1);
    expect(stack.iamDenials()).toEqual([]);
    await expectNothingLostOrDoubled(world);
  });
});
