import type { LocalStack } from '../local/stack';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { post } from '../local/events/request';
import { checkStatusPayload, mentionEnvelope, signedSlackForm, signedSlackJson } from '../local/events/slack';
import { makeDocumentClient } from '../lib/store/dynamo';
import { STAND_IN_BOT_USER_ID } from '../local/stand-ins/slack';
import { drainQueue } from './support/queue';
import { ensureCustomer } from '../local/world/customers';
import { botMessages, mention, slackSends, slashCommand, startTestStack } from './support/stack';
import { fixture } from './fixtures';
import { captureOutput } from '../local/world/capture-output';

/**
 * Customers, through the local stack: only registered channels page, each with its own routing
 * key and severity, within its page budget; bots never page; the slash command's text is the
 * description; a channel shared with an organization nobody approved is paused.
 */

const NOT_SET_UP = "This channel isn't set up for escalations, so I can't page on-call from here. Please ask your account team.";
const KEY_A = 'a'.repeat(32);
const KEY_B = 'b'.repeat(32);
const capture = (name: string) => fixture<{ event: Record<string, unknown> }>(`slack/${name}`);

describe('customers, through the local stack', () => {
  let stack: LocalStack;
  const output = captureOutput();
  beforeAll(async () => {
    stack = await startTestStack({ logLevel: 'info' });
  });
  afterAll(async () => {
    await stack.stop();
    output.restore();
  });

  const triggersFrom = (channel: string) => stack.pagerDuty!.triggers.filter((t) => (t.payload.custom_details as { channel_id?: string }).channel_id === channel);
  const keysIn = (channel: string) => botMessages(stack, channel).map((m) => String(m.metadata?.event_payload.key));

  describe('who can page', () => {
    it('an unregistered channel gets a data-free answer in the thread, nothing reaches PagerDuty, and the provider gets a log line and a metric', async () => {
      const logFrom = output.records().length;
      await mention(stack, 'CNOTACUST1', 'escalate the database is down', { unregistered: true });
      await stack.waitForIdle();
      expect(triggersFrom('CNOTACUST1')).toEqual([]);
      expect(botMessages(stack, 'CNOTACUST1').map((m) => m.text)).toEqual([NOT_SET_UP]);
      const logs = output.records().slice(logFrom);
      expect(logs.filter((l) => l.message === 'escalation refused: the channel is not a registered customer' && l.channel === 'CNOTACUST1')).toHaveLength(1);
      expect(logs.filter((l) => (l as { EscalationsRefused?: number }).EscalationsRefused === 1 && l.channel === 'CNOTACUST1')).toHaveLength(1);
    });

    it.each([
      ['a DM', 'D0DMCHAN01'],
      ['a group DM', 'G0MPIMCH01'],
      ['a channel of another workspace', 'C0OTHERWS1'],
    ])('a slash command from %s is answered through its response_url, only to the person, and pages no one', async (_what, channel) => {
      await slashCommand(stack, channel, 'the database is down', `trig-${channel}`, { unregistered: true, user: 'UPERSON1' });
      await stack.waitForIdle();
      expect(triggersFrom(channel)).toEqual([]);
      const answers = stack.slack!.ephemerals.filter((e) => e.channel === channel);
      expect(answers).toEqual([expect.objectContaining({ user: 'UPERSON1', text: NOT_SET_UP, viaResponseUrl: true })]);
      expect(botMessages(stack, channel)).toEqual([]);
    });

    it.each([
      ['a bot (bot_id and bot_message, as Slack sends them)', 'message_bot_message_subtype.json'],
      ['an app posting with its bot token (bot_id, no subtype)', 'message_changed_or_bot_message.json'],
    ])('a mention posted by %s never pages and gets no answer', async (_what, file) => {
      await ensureCustomer(stack, 'CBOTMENTION');
      const real = capture(file).event;
      const envelope = mentionEnvelope({ channel: 'CBOTMENTION', text: 'escalate everything is on fire' });
      const event = { ...real, ...envelope.event, bot_id: real.bot_id, ...(real.subtype ? { subtype: real.subtype } : {}) };
      const response = await post(`${stack.url}/slack/events`, signedSlackJson(stack.secrets.SLACK_SIGNING_SECRET, { ...envelope, event }));
      expect(response.status).toBe(200);
      expect(await drainQueue(stack.sqs.client, stack.sqs.queues.slack.url)).toEqual([]);
      expect(triggersFrom('CBOTMENTION')).toEqual([]);
      expect(botMessages(stack, 'CBOTMENTION')).toEqual([]);
    });

    it('finds its own mention with the bot id from auth.test, not the event\'s authorizations (another organization\'s in Slack Connect)', async () => {
      await ensureCustomer(stack, 'CCONNECT01');
      const envelope = mentionEnvelope({ channel: 'CCONNECT01', text: 'unused' });
      envelope.authorizations = [{ team_id: 'T0CUSTOMER', user_id: 'UTHEIRBOT', is_bot: true }];
      envelope.event.text = `<@UTHEIRBOT> fyi <@${STAND_IN_BOT_USER_ID}> escalate checkout fails in EU`;
      await post(`${stack.url}/slack/events`, signedSlackJson(stack.secrets.SLACK_SIGNING_SECRET, envelope));
      await stack.waitForIdle();
      expect(triggersFrom('CCONNECT01').map((t) => t.payload.summary)).toEqual(['checkout fails in EU']);
    });
  });

  describe('the slash command', () => {
    it('pages with its text as the description; `escalate <desc>` still works; help, nothing and the ping phrase page no one', async () => {
      const channel = 'CSLASHCMD1';
      await slashCommand(stack, channel, 'database is down', 'trig-slash-1');
      await slashCommand(stack, channel, 'escalate queue is stuck', 'trig-slash-2');
      for (const [text, n] of [['help', 3], ['', 4], ['escalate', 5], ['piiano-ping-bot', 6]] as const) await slashCommand(stack, channel, text, `trig-slash-${n}`);
      await stack.waitForIdle();
      expect(triggersFrom(channel).map((t) => t.payload.summary)).toEqual(['database is down', 'queue is stuck']);
      const answers = stack.slack!.ephemerals.filter((e) => e.channel === channel).map((e) => e.text);
      expect(answers.filter((t) => t.startsWith('Here is what I can do'))).toHaveLength(3);
      expect(answers.filter((t) => t.startsWith('pong'))).toHaveLength(1);
    });
  });

  describe('routing', () => {
    it('each customer pages with its own routing key and severity; a 429 on one key delays only that customer', async () => {
      stack.pagerDuty!.routingKeys.add(KEY_A).add(KEY_B);
      await ensureCustomer(stack, 'CROUTEACME', { routingKey: KEY_A, severity: 'warning', contact: 'acme-desk@provider.example' });
      await ensureCustomer(stack, 'CROUTEGLOB', { routingKey: KEY_B, severity: 'info' });
      stack.pagerDuty!.faults.failNext(`events:${KEY_A}`, 1, { kind: 'status', status: 429 });
      const started = Date.now();
      await Promise.all([mention(stack, 'CROUTEACME', 'escalate orders are stuck'), mention(stack, 'CROUTEGLOB', 'escalate search is slow')]);
      // Globex is confirmed while Acme still waits out its key's limit.
      while (!keysIn('CROUTEGLOB').some((k) => k.startsWith('confirm:')) && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 20));
      expect(keysIn('CROUTEGLOB').some((k) => k.startsWith('confirm:'))).toBe(true);
      expect(keysIn('CROUTEACME').some((k) => k.startsWith('confirm:'))).toBe(false);
      await stack.waitForIdle(30_000);
      const accepted = stack.pagerDuty!.eventsCalls.filter((c) => c.status === 202).map((c) => c.body as { routing_key: string; payload: { severity: string; custom_details: { channel_id: string } } });
      const routed = (channel: string) => accepted.filter((b) => b.payload.custom_details.channel_id === channel).map((b) => [b.routing_key, b.payload.severity]);
      expect(routed('CROUTEACME')).toEqual([[KEY_A, 'warning']]);
      expect(routed('CROUTEGLOB')).toEqual([[KEY_B, 'info']]);
      // A routing key is a credential: it is in no log line.
      expect(output.lines.join('')).not.toContain(KEY_A);
    });
  });

  describe('the page budget', () => {
    it('10 escalations in the same second with a budget of 3 page exactly 3 times; the other 7 are added to the open incident and each is answered once', async () => {
      const channel = 'CBUDGET001';
      await ensureCustomer(stack, channel, { pagesPerHour: 3 });
      // Slack retries some of them: a retry never counts twice.
      await Promise.all(Array.from({ length: 10 }, (_, n) => mention(stack, channel, `escalate outage report ${n}`, { retries: n % 3 === 0 ? 1 : 0 })));
      await stack.waitForIdle(30_000);
      const incidents = [...stack.pagerDuty!.incidents.values()].filter((i) => (i.payload.custom_details as { channel_id?: string } | undefined)?.channel_id === channel);
      expect(incidents).toHaveLength(3);
      // The 7 folded triggers carry the open incident's key: PagerDuty adds them to its alert, paging no one again.
      const triggers = triggersFrom(channel);
      expect(triggers).toHaveLength(10);
      expect(new Set(triggers.map((t) => t.dedupKey)).size).toBe(3);
      const keys = keysIn(channel);
      expect(keys.filter((k) => k.startsWith('confirm:'))).toHaveLength(3);
      expect(keys.filter((k) => k.startsWith('folded:'))).toHaveLength(7);
      expect(new Set(keys).size).toBe(keys.length);
      expect(botMessages(stack, channel).filter((m) => m.text.startsWith('On-call is already working on escalation #3'))).toHaveLength(7);
      expect(await stack.pageBudget.used(channel, Date.now())).toBe(3);

      // Over the budget with nothing open (all resolved): it pages anyway, and the provider is warned.
      for (const incident of incidents) stack.pagerDuty!.resolve(incident.id);
      await stack.waitForIdle();
      const logFrom = output.records().length;
      await mention(stack, channel, 'escalate it is down again');
      await stack.waitForIdle();
      expect([...stack.pagerDuty!.incidents.values()].filter((i) => (i.payload.custom_details as { channel_id?: string } | undefined)?.channel_id === channel)).toHaveLength(4);
      expect(output.records().slice(logFrom).filter((l) => l.message === 'over the page budget with nothing open: paging anyway')).toHaveLength(1);
    });
  });

  describe('paging after a confirmation click, for a customer who asked for it', () => {
    const click = (channel: string, value: string, actionId: string, user = 'UCLICKER1') =>
      post(`${stack.url}/slack/events`, signedSlackForm(stack.secrets.SLACK_SIGNING_SECRET, { payload: JSON.stringify(checkStatusPayload({ channel, value, user, actionId })) }));
    const promptOf = (channel: string) => botMessages(stack, channel).find((m) => String(m.metadata?.event_payload.key).startsWith('prompt:'))!;

    it('asks first; a click from the same channel pages once, whoever clicks and however often; a click from another channel is refused', async () => {
      const channel = 'CCONFIRM01';
      await ensureCustomer(stack, channel, { confirm: true });
      await mention(stack, channel, 'escalate payments are failing <!channel>', { retries: 1 });
      await stack.waitForIdle();
      expect(triggersFrom(channel)).toEqual([]);
      const prompt = promptOf(channel);
      expect(prompt.text).toBe('Page on-call about: payments are failing @channel?');
      const dedupKey = String(prompt.metadata!.event_payload.key).slice('prompt:'.length);

      await click('CINTRUDER2', dedupKey, 'page_oncall', 'UOTHER');
      await stack.waitForIdle();
      expect(triggersFrom(channel)).toEqual([]);
      expect(stack.slack!.ephemerals.filter((e) => e.channel === 'CINTRUDER2').map((e) => e.text)).toEqual([expect.stringMatching(/doesn't belong to this channel/)]);

      await Promise.all([click(channel, dedupKey, 'page_oncall', 'UCLICKER1'), click(channel, dedupKey, 'page_oncall', 'UCLICKER2'), click(channel, dedupKey, 'page_oncall', 'UCLICKER1')]);
      await stack.waitForIdle();
      expect(triggersFrom(channel)).toHaveLength(1);
      expect(keysIn(channel).filter((k) => k.startsWith('confirm:'))).toHaveLength(1);
      expect(promptOf(channel).text).toMatch(/^:white_check_mark: Paging on-call \(confirmed by <@UCLICKER[12]>\)\. payments are failing/);
    });

    it('Cancel, or a click after 15 minutes of silence, ends it without paging and says so on the prompt', async () => {
      const channel = 'CCONFIRM02';
      await ensureCustomer(stack, channel, { confirm: true });
      await mention(stack, channel, 'escalate never mind');
      await mention(stack, channel, 'escalate nobody answered');
      await stack.waitForIdle();
      const prompts = botMessages(stack, channel).filter((m) => String(m.metadata?.event_payload.key).startsWith('prompt:'));
      const [cancelled, silent] = prompts.map((m) => String(m.metadata!.event_payload.key).slice('prompt:'.length));
      await click(channel, cancelled!, 'cancel_page');
      // Fifteen minutes pass: the escalation was recorded 16 minutes ago.
      const db = makeDocumentClient({ AWS_ENDPOINT_URL_DYNAMODB: stack.dynamo.endpoint });
      await db.send(new UpdateCommand({ TableName: stack.dynamo.tableName, Key: { pk: `link#${silent}` }, UpdateExpression: 'SET createdAt = :at', ExpressionAttributeValues: { ':at': new Date(Date.now() - 16 * 60_000).toISOString() } }));
      await click(channel, silent!, 'page_oncall');
      await click(channel, cancelled!, 'page_oncall'); // a late click on a cancelled prompt changes nothing
      await stack.waitForIdle();
      expect(triggersFrom(channel)).toEqual([]);
      const texts = botMessages(stack, channel).filter((m) => String(m.metadata?.event_payload.key).startsWith('prompt:')).map((m) => m.text);
      expect(texts).toEqual([expect.stringMatching(/^:no_entry_sign: Cancelled by <@UCLICKER1>: on-call was not paged\./), expect.stringMatching(/^:hourglass: Nobody confirmed within 15 minutes/)]);
    });

    it('15 minutes of silence, with no click at all: the reconciler ends it without paging and updates the prompt, once', async () => {
      const channel = 'CCONFIRM03';
      await ensureCustomer(stack, channel, { confirm: true });
      await mention(stack, channel, 'escalate nobody is around');
      await stack.waitForIdle();
      const dedupKey = String(promptOf(channel).metadata!.event_payload.key).slice('prompt:'.length);
      await stack.reconcile();
      expect(promptOf(channel).text).toMatch(/^Page on-call about/); // not yet 15 minutes
      const db = makeDocumentClient({ AWS_ENDPOINT_URL_DYNAMODB: stack.dynamo.endpoint });
      await db.send(new UpdateCommand({ TableName: stack.dynamo.tableName, Key: { pk: `link#${dedupKey}` }, UpdateExpression: 'SET createdAt = :at', ExpressionAttributeValues: { ':at': new Date(Date.now() - 16 * 60_000).toISOString() } }));
      await stack.reconcile();
      await stack.reconcile();
      await click(channel, dedupKey, 'page_oncall'); // too late: the prompt has expired
      await stack.waitForIdle();
      expect(triggersFrom(channel)).toEqual([]);
      expect(promptOf(channel).text).toMatch(/^:hourglass: Nobody confirmed within 15 minutes: on-call was not paged\./);
      expect(promptOf(channel).history).toHaveLength(1);
    });
  });

  describe('the shared-channel guard', () => {
    it('a channel newly shared with an unapproved organization is paused: no escalations, no updates; approve resumes it', async () => {
      const channel = 'CSHARED001';
      await ensureCustomer(stack, channel, { orgs: ['T0CUSTOMER'] });
      await mention(stack, channel, 'escalate before the share');
      await stack.waitForIdle();
      const incident = stack.pagerDuty!.byKey(triggersFrom(channel)[0]!.dedupKey)!;
      const shared = { ...mentionEnvelope({ channel, text: 'unused' }), event: { type: 'channel_shared', connected_team_id: 'T0THIRDORG', channel, event_ts: '1.000001' } };
      // Through the manifest: Slack sends channel_shared only to an app subscribed to it.
      expect((await slackSends(stack, shared)).map((r) => r.status)).toEqual([200]);
      await stack.waitForIdle();
      const before = botMessages(stack, channel).length;

      stack.pagerDuty!.acknowledge(incident.id, 'Fox Mulder');
      await mention(stack, channel, 'escalate after the share');
      await stack.waitForIdle();
      expect(triggersFrom(channel)).toHaveLength(1);
      expect(botMessages(stack, channel).slice(before).map((m) => m.text)).toEqual([NOT_SET_UP]);

      // Held while paused, even by the reconciler; approval lets its next run deliver what was missed.
      await stack.reconcile();
      expect(botMessages(stack, channel).slice(before).map((m) => m.text)).toEqual([NOT_SET_UP]);
      await stack.customers.approve(channel, ['T0CUSTOMER', 'T0THIRDORG']);
      await stack.reconcile();
      expect(botMessages(stack, channel).slice(before).filter((m) => /Acknowledged by the on-call team/.test(m.text))).toHaveLength(1);
      await mention(stack, channel, 'escalate after approval');
      await stack.waitForIdle();
      expect(triggersFrom(channel)).toHaveLength(2);
    });
  });
});
