import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { createHash } from 'node:crypto';
import type { LocalStack } from '../local/stack';
import { post } from '../local/events/request';
import { mentionEnvelope, signedSlackJson } from '../local/events/slack';
import { botMessages, confirmationOf, mention, slashCommand, startTestStack } from './support/stack';
import { drainQueue } from './support/queue';
import { ensureCustomer } from '../local/world/customers';
import { ADMIN_TOKEN_HEADER } from '../local/admin-routes';

describe('the escalation path, through the local stack', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startTestStack({ standIns: { channelNames: { CACME: 'customer-acme' } } });
    stack.pagerDuty!.webhook = undefined; // this file is about the escalation half only
  });
  afterAll(() => stack.stop());
  beforeEach(() => {
    stack.pagerDuty!.faults.clear();
    stack.slack!.faults.clear();
  });

  const triggersFor = (channel: string) => stack.pagerDuty!.triggers.filter((t) => (t.payload.custom_details as { channel_id: string }).channel_id === channel);

  it('a signed mention triggers exactly one incident and confirms once, in the thread of the mention', async () => {
    const slackBefore = stack.slack!.calls.length; // registration asked Slack for each sandbox channel's name
    const { ts, responses } = await mention(stack, 'CACME', 'escalate API is returning 500 errors, see <https://status.acme.test|status> and ask <@U777>');
    expect(responses[0]!.status).toBe(200);
    await stack.waitForIdle();

    const triggers = triggersFor('CACME');
    expect(triggers).toHaveLength(1);
    expect(triggers[0]!.payload).toMatchObject({
      summary: 'API is returning 500 errors, see status (https://status.acme.test) and ask @U777',
      source: '#customer-acme',
      severity: 'critical',
      custom_details: {
        team: 'T0PROVIDER',
        channel_id: 'CACME',
        channel_name: 'customer-acme',
        requested_by: 'UCUSTOMER1',
        permalink: `https://sandbox.slack.test/archives/CACME/p${ts.replace('.', '')}`,
      },
    });
    expect(triggers[0]!.dedupKey).toMatch(/^pdr-[0-9a-f]{32}$/);

    const confirmations = confirmationOf(stack, 'CACME');
    expect(confirmations).toHaveLength(1);
    expect(confirmations[0]).toMatchObject({ threadTs: ts });
    expect(confirmations[0]!.text).toContain('On-call has been paged');
    expect(stack.slack!.calls.slice(slackBefore).filter((c) => c.channel && c.channel !== 'CACME')).toEqual([]);
  });

  it('nothing is asked of Slack between a mention and its trigger, on a channel\'s first escalation too; the name comes from the registry, learned after when unknown', async () => {
    // Registered through the registry's own add (as a test fixture, so Slack was not asked): name unknown.
    await ensureCustomer(stack, 'CFIRSTNAME');
    const slackBetween = (from: number, to: number) => stack.slack!.calls.filter((c) => c.arrivedAt > from && c.arrivedAt < to && c.method !== 'chat.postMessage').map((c) => c.method);
    for (const round of [1, 2]) {
      const before = performance.now();
      await mention(stack, 'CFIRSTNAME', `escalate outage number ${round}`);
      await stack.waitForIdle();
      const trigger = triggersFor('CFIRSTNAME').at(-1)!;
      expect(slackBetween(before, trigger.arrivedAt)).toEqual([]);
      const details = trigger.payload.custom_details as { channel_name: string | null };
      // The first page names the channel by its id; the registry learns its name after, for the next.
      if (round === 1) expect([trigger.payload.source, details.channel_name]).toEqual(['CFIRSTNAME', null]);
      else expect([trigger.payload.source, details.channel_name]).toEqual(['#cfirstname', 'cfirstname']);
    }
    expect((await stack.customers.get('CFIRSTNAME'))?.channelName).toBe('cfirstname');
    // Slack was asked the name once, after the first escalation was answered; never again once the registry knew it.
    expect(stack.slack!.calls.filter((c) => c.method === 'conversations.info' && c.channel === 'CFIRSTNAME')).toHaveLength(1);
    // Registered as a provider registers (npm run customers -- add): the name is known from its first page on.
    const added = await fetch(`${stack.url}/admin/customers`, { method: 'POST', headers: { 'content-type': 'application/json', [ADMIN_TOKEN_HEADER]: stack.adminToken }, body: JSON.stringify({ channel: 'CREGNAME', name: 'Registered', pagesPerHour: 1000 }) });
    expect(added.status).toBe(201);
    await mention(stack, 'CREGNAME', 'escalate login fails');
    await stack.waitForIdle();
    expect(triggersFor('CREGNAME')[0]!.payload.source).toBe('#cregname');
  });

  it('the same event delivered three times by Slack and redelivered by SQS still gives one incident and one confirmation', async () => {
    const { envelope } = await mention(stack, 'CDUPES', 'escalate checkout is down', { retries: 2 });
    // SQS is at-least-once: the same event may come again under another de-duplication id.
    const queued = { v: 1, kind: 'slack.message', id: envelope.event_id, via: 'mention', team: envelope.team_id, channel: 'CDUPES', user: 'UCUSTOMER1', text: envelope.event.text, ts: envelope.event.ts, botUserId: envelope.authorizations[0]!.user_id, receivedAt: new Date().toISOString() };
    await stack.sqs.client.send(new SendMessageCommand({ QueueUrl: stack.sqs.queues.slack.url, MessageBody: JSON.stringify(queued), MessageGroupId: 'CDUPES', MessageDeduplicationId: createHash('sha256').update('redelivery').digest('hex') }));
    await stack.waitForIdle();
    expect(triggersFor('CDUPES')).toHaveLength(1);
    expect(stack.pagerDuty!.incidents.size).toBeGreaterThan(0);
    expect(confirmationOf(stack, 'CDUPES')).toHaveLength(1);
  });

  it('PagerDuty answering 500 then 202 gives one incident and one confirmation', async () => {
    stack.pagerDuty!.faults.failNext('events', 1, { kind: 'status', status: 500 });
    const before = stack.pagerDuty!.eventsCalls.length;
    await mention(stack, 'CRETRY', 'escalate payments failing');
    await stack.waitForIdle();
    expect(stack.pagerDuty!.eventsCalls.slice(before).map((c) => c.status)).toEqual([500, 202]);
    expect([...stack.pagerDuty!.incidents.values()].filter((i) => (i.payload.custom_details as { channel_id: string }).channel_id === 'CRETRY')).toHaveLength(1);
    expect(confirmationOf(stack, 'CRETRY')).toHaveLength(1);
  });

  it('PagerDuty answering 400 gives one clear error message in the thread and no retries', async () => {
    stack.pagerDuty!.faults.failNext('events', 5, { kind: 'status', status: 400 });
    const before = stack.pagerDuty!.eventsCalls.length;
    const { ts } = await mention(stack, 'CBADKEY', 'escalate search is slow');
    await stack.waitForIdle();
    expect(stack.pagerDuty!.eventsCalls.length - before).toBe(1);
    const messages = botMessages(stack, 'CBADKEY');
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ threadTs: ts });
    expect(messages[0]!.text).toMatch(/could not page on-call.*contact your account team/);
    expect(await stack.dlq('slack')).toEqual([]);
  });

  it('PagerDuty failing every attempt: retried, the channel is told, and the event ends in the DLQ', async () => {
    stack.pagerDuty!.faults.failNext('events', 50, { kind: 'status', status: 503 });
    const before = stack.pagerDuty!.eventsCalls.length;
    await mention(stack, 'CDOWN', 'escalate everything is down');
    await stack.waitForIdle();
    expect(stack.pagerDuty!.eventsCalls.length - before).toBe(5);
    const messages = botMessages(stack, 'CDOWN');
    expect(messages).toHaveLength(1);
    expect(messages[0]!.text).toMatch(/could not reach PagerDuty after several tries/);
    const dlq = await stack.dlq('slack');
    expect(dlq).toHaveLength(1);
    expect(JSON.parse(dlq[0]!.body)).toMatchObject({ channel: 'CDOWN' });
  });

  it('a bad signature is refused with 401 and enqueues nothing', async () => {
    const envelope = mentionEnvelope({ channel: 'CEVIL', text: 'escalate fake' });
    const response = await post(`${stack.url}/slack/events`, signedSlackJson('not-the-secret', envelope));
    expect(response.status).toBe(401);
    expect(await drainQueue(stack.sqs.client, stack.sqs.queues.slack.url)).toEqual([]);
    await stack.waitForIdle();
    expect(triggersFor('CEVIL')).toHaveLength(0);
    expect(stack.slack!.calls.filter((c) => c.channel === 'CEVIL')).toEqual([]);
  });

  it('the ping phrase gets a pong, and anything else the help, in the thread', async () => {
    const ping = await mention(stack, 'CPING', 'piiano-ping-bot');
    const other = await mention(stack, 'CPING', 'escalated last week, all good');
    const empty = await mention(stack, 'CPING', 'escalate');
    await stack.waitForIdle();
    const replies = botMessages(stack, 'CPING');
    expect(replies.map((m) => [m.threadTs, m.text.split('\n')[0]])).toEqual([
      [ping.ts, 'pong :wave: pd-router is up.'],
      [other.ts, 'Here is what I can do:'],
      [empty.ts, 'Here is what I can do:'],
    ]);
    expect(triggersFor('CPING')).toHaveLength(0);
  });

  it('the slash command escalates once and confirms in the channel, starting the thread', async () => {
    const response = await slashCommand(stack, 'CSLASH', 'escalate reports are empty', 'trigger-slash-1');
    expect(JSON.parse(response.body)).toEqual({ response_type: 'ephemeral', text: 'Escalating…' });
    await stack.waitForIdle();
    expect(triggersFor('CSLASH')).toHaveLength(1);
    const confirmations = confirmationOf(stack, 'CSLASH');
    expect(confirmations).toHaveLength(1);
    expect(confirmations[0]!.threadTs).toBeUndefined();
  });
});

describe('the channel numbers its escalations once, whatever crashes', () => {
  let stack: LocalStack;
  let arrivals = 0;
  beforeAll(async () => {
    // The worker dies once, after the channel's number was taken and before the link stored it.
    stack = await startTestStack({ checkpoint: { slack: (step) => { if (step === 'numbered' && arrivals++ === 0) throw new Error('injected crash after numbered'); } } });
    stack.pagerDuty!.webhook = undefined;
  });
  afterAll(() => stack.stop());

  it('a retry after a crash between taking the number and storing it shows the same number, and the next escalation the next one', async () => {
    await mention(stack, 'CNUMBERS', 'escalate checkout is down');
    await stack.waitForIdle();
    await mention(stack, 'CNUMBERS', 'escalate and now search is down too');
    await stack.waitForIdle();

    expect(arrivals).toBe(3); // the crash, its retry, the second escalation
    const texts = confirmationOf(stack, 'CNUMBERS').map((m) => m.text);
    expect(texts).toHaveLength(2);
    expect(texts[0]).toContain('(escalation #1)');
    expect(texts[1]).toContain('(escalation #2)');
    // The retry sent the trigger again; PagerDuty deduplicates it into the same open incident.
    const keys = stack.pagerDuty!.triggers.map((t) => t.dedupKey);
    expect(new Set(keys).size).toBe(2);
    for (const key of new Set(keys)) expect([...stack.pagerDuty!.incidents.values()].filter((i) => i.incidentKey === key)).toHaveLength(1);
  });
});
