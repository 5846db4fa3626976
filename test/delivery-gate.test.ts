import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { createHash } from 'node:crypto';
import { EVENT_CONTRACT_VERSION, pagerDutyRouting, type ConfirmationRefreshEvent } from '../lib/events';
import { LAYOUT } from '../lib/layout/layout';
import { makeDocumentClient } from '../lib/store/dynamo';
import type { LocalStack } from '../local/stack';
import type { StandInIncident } from '../local/stand-ins/pagerduty';
import { STAND_IN_BOT_USER_ID } from '../local/stand-ins/slack';
import { post } from '../local/events/request';
import { checkStatusPayload, mentionEnvelope, signedSlackForm, signedSlackJson } from '../local/events/slack';
import { fixture } from './fixtures';
import { botMessages, mention, slackSends, slashCommand, startTestStack } from './support/stack';

/**
 * The delivery gate (lib/escalation/delivery-gate.ts), through the local stack: every path that
 * shows something to a channel or acts for one asks it, and a channel removed or paused, a person
 * of an organization nobody approved, or an event of another installation gets nothing but the
 * data-free refusal.
 */

const NOT_SET_UP = "This channel isn't set up for escalations, so I can't page on-call from here. Please ask your account team.";
const GATE_REFUSAL = "Sorry, I can't do that from here, so nothing was shown or passed on to on-call. Please ask your account team.";
const PROMPT_REFUSED = /^:no_entry_sign: This channel isn't set up for escalations right now: on-call was not paged\./;
const APP_ID = 'A0PDROUTER';

type Envelope = { event_id: string; team_id: string; api_app_id?: string; authorizations: { user_id: string }[]; event: Record<string, unknown> };
let counter = 0;

describe('the delivery gate, through the local stack', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    // Replies become notes; the app's id is known, so another app's events are refused.
    stack = await startTestStack({ env: { PAGER_DUTY_FROM_EMAIL: 'oncall@provider.test', SLACK_APP_ID: APP_ID } });
  });
  afterAll(() => stack.stop());

  const db = () => makeDocumentClient({ AWS_ENDPOINT_URL_DYNAMODB: stack.dynamo.endpoint });
  const triggersFrom = (channel: string) => stack.pagerDuty!.triggers.filter((t) => (t.payload.custom_details as { channel_id?: string }).channel_id === channel);
  const replyNotesOn = (incident: StandInIncident) => stack.pagerDuty!.notes.filter((n) => n.incidentId === incident.id && n.content.startsWith('Slack, #'));

  /** Everything shown in `channel` from the `from`-th Slack call on: posts, updates, ephemerals (the response URL's too), as method and text. */
  function shownSince(channel: string, from: { calls: number; ephemerals: number }): string[] {
    const chat = stack.slack!.calls.slice(from.calls).filter((c) => c.channel === channel && c.method.startsWith('chat.'));
    const viaUrl = stack.slack!.ephemerals.slice(from.ephemerals).filter((e) => e.channel === channel && e.viaResponseUrl);
    return [...chat.map((c) => `${c.method}: ${String(c.args.text)}`), ...viaUrl.map((e) => `response_url: ${e.text}`)];
  }
  const mark = () => ({ calls: stack.slack!.calls.length, ephemerals: stack.slack!.ephemerals.length });

  async function escalate(channel: string, text: string): Promise<{ incident: StandInIncident; dedupKey: string; threadTs: string }> {
    const { ts } = await mention(stack, channel, `escalate ${text}`, { unregistered: true });
    await stack.waitForIdle();
    const trigger = triggersFrom(channel).at(-1);
    if (!trigger) throw new Error(`no trigger from ${channel}`);
    return { incident: stack.pagerDuty!.byKey(trigger.dedupKey)!, dedupKey: trigger.dedupKey, threadTs: ts };
  }

  function click(channel: string, value: string, options: { actionId?: string; user?: string; team?: string } = {}) {
    const payload = checkStatusPayload({ channel, value, user: options.user ?? 'UCLICKER1', ...(options.team ? { team: options.team } : {}), ...(options.actionId ? { actionId: options.actionId } : {}) });
    return post(`${stack.url}/slack/events`, signedSlackForm(stack.secrets.SLACK_SIGNING_SECRET, { payload: JSON.stringify({ ...payload, api_app_id: APP_ID }) }));
  }

  /** A person's reply in a thread, as Slack sends it (shaped as the real Slack Connect capture); `userTeam`: their own organization. */
  async function reply(channel: string, threadTs: string, text: string, userTeam?: string) {
    const message = stack.slack!.recordCustomerMessage(channel, 'UCUSTOMER2', text, threadTs);
    const envelope = fixture<Envelope>('slack/message_slack_connect_thread_reply.json');
    envelope.team_id = 'T0PROVIDER';
    envelope.api_app_id = APP_ID;
    envelope.event_id = `EvGate${process.pid}x${counter++}`;
    envelope.authorizations[0]!.user_id = STAND_IN_BOT_USER_ID;
    envelope.event = { ...envelope.event, team: 'T0PROVIDER', user: 'UCUSTOMER2', channel, text, ts: message.ts, event_ts: message.ts, thread_ts: threadTs, ...(userTeam ? { user_team: userTeam } : {}) };
    await slackSends(stack, envelope);
    await stack.waitForIdle();
  }

  async function share(channel: string, org: string) {
    const shared = { ...mentionEnvelope({ channel, text: 'unused' }), api_app_id: APP_ID, event: { type: 'channel_shared', connected_team_id: org, channel, event_ts: '1.000001' } };
    await slackSends(stack, shared);
    await stack.waitForIdle();
  }

  describe('who acts', () => {
    it('a member of an organization nobody approved: Check Status shows nothing and their thread reply becomes no note; the provider\'s and the approved organization\'s people are answered', async () => {
      const channel = 'CGATEORG01';
      await stack.customers.add({ channel, name: 'Acme', orgs: ['T0CUSTOMER'], pagesPerHour: 100 });
      const { incident, dedupKey, threadTs } = await escalate(channel, 'checkout is down');
      stack.pagerDuty!.acknowledge(incident.id, 'Dana Scully');
      await stack.waitForIdle();

      const from = mark();
      await click(channel, dedupKey, { user: 'USTRANGER1', team: 'T0STRANGER' });
      await reply(channel, threadTs, 'the stranger says: see also our incident', 'T0STRANGER');
      await stack.waitForIdle();
      expect(shownSince(channel, from)).toEqual([`chat.postEphemeral: ${GATE_REFUSAL}`, `chat.postEphemeral: ${GATE_REFUSAL}`]);
      expect(replyNotesOn(incident)).toEqual([]);

      // The approved organization's member and the provider's own people still act.
      const allowed = mark();
      await click(channel, dedupKey, { user: 'UCUSTOMER3', team: 'T0CUSTOMER' });
      await reply(channel, threadTs, 'it is only EU users', 'T0CUSTOMER');
      await stack.waitForIdle();
      expect(shownSince(channel, allowed)).toEqual(['chat.postEphemeral: Status of escalation #1: acknowledged']);
      expect(replyNotesOn(incident).map((n) => n.content)).toEqual([expect.stringContaining('it is only EU users')]);
    });

    it('a signed mention carrying another workspace\'s team_id, or another app\'s api_app_id, pages no one and is answered nowhere', async () => {
      const channel = 'CGATEWS001';
      await stack.customers.add({ channel, name: 'Globex', pagesPerHour: 100 });
      const from = mark();
      for (const envelope of [
        { ...mentionEnvelope({ channel, text: 'escalate from another workspace', team: 'T0OTHERWS' }), api_app_id: APP_ID },
        { ...mentionEnvelope({ channel, text: 'escalate for another app' }), api_app_id: 'A0OTHERAPP' },
      ]) {
        expect((await post(`${stack.url}/slack/events`, signedSlackJson(stack.secrets.SLACK_SIGNING_SECRET, envelope))).status).toBe(200);
      }
      await stack.waitForIdle();
      expect(triggersFrom(channel)).toEqual([]);
      expect(shownSince(channel, from)).toEqual([]);
      // The same mention from the installation pages (the refusal above is the gate's, not a broken request).
      await post(`${stack.url}/slack/events`, signedSlackJson(stack.secrets.SLACK_SIGNING_SECRET, { ...mentionEnvelope({ channel, text: 'escalate from the installation' }), api_app_id: APP_ID }));
      await stack.waitForIdle();
      expect(triggersFrom(channel).map((t) => t.payload.summary)).toEqual(['from the installation']);
    });
  });

  describe('confirmation under the gate', () => {
    it('a click after the channel was shared with an organization nobody approved pages no one: the prompt says so, once, and a click after approval pages no one either', async () => {
      const channel = 'CGATECONF1';
      await stack.customers.add({ channel, name: 'Initech', confirm: true, orgs: ['T0CUSTOMER'], pagesPerHour: 100 });
      await mention(stack, channel, 'escalate payroll is stuck', { unregistered: true });
      await stack.waitForIdle();
      const prompt = () => botMessages(stack, channel).find((m) => String(m.metadata?.event_payload.key).startsWith('prompt:'))!;
      const dedupKey = String(prompt().metadata!.event_payload.key).slice('prompt:'.length);
      await share(channel, 'T0THIRDORG');

      await click(channel, dedupKey, { actionId: 'page_oncall' });
      await click(channel, dedupKey, { actionId: 'page_oncall', user: 'UCLICKER2' });
      await stack.waitForIdle();
      expect(triggersFrom(channel)).toEqual([]);
      expect(prompt().text).toMatch(PROMPT_REFUSED);
      expect(prompt().history).toHaveLength(1);

      await stack.customers.approve(channel, ['T0CUSTOMER', 'T0THIRDORG']);
      await click(channel, dedupKey, { actionId: 'page_oncall' });
      await stack.reconcile();
      await stack.waitForIdle();
      expect(triggersFrom(channel)).toEqual([]);
      expect(prompt().history).toHaveLength(1);
    });
  });

  /**
   * A customer removed while paused (shared with an organization nobody approved): every path,
   * one by one, shows it nothing but the data-free refusal, and reaches PagerDuty for it not at
   * all. Then a later `add` starts clean.
   */
  describe('a removed customer, removed while paused: each path', () => {
    const gone = 'CGATEGONE1';
    const kept = 'CGATEKEEP1';
    let escalation: Awaited<ReturnType<typeof escalate>>;
    let other: Awaited<ReturnType<typeof escalate>>;
    let promptKey: string;

    beforeAll(async () => {
      await stack.customers.add({ channel: gone, name: 'Acme', orgs: ['T0CUSTOMER'], pagesPerHour: 100 });
      await stack.customers.add({ channel: kept, name: 'Globex', pagesPerHour: 100 });
      escalation = await escalate(gone, 'checkout is down');
      other = await escalate(kept, 'search is slow');
      await stack.customers.update(gone, { confirm: true });
      await mention(stack, gone, 'escalate invoices fail', { unregistered: true });
      await stack.waitForIdle();
      promptKey = String(botMessages(stack, gone).find((m) => String(m.metadata?.event_payload.key).startsWith('prompt:'))!.metadata!.event_payload.key).slice('prompt:'.length);
      await share(gone, 'T0THIRDORG');
      // The admin removes the customer to stop a leak: that must not turn delivery back on.
      await stack.customers.remove(gone);
    });

    const paths: [string, () => Promise<void>, (string | RegExp)[]][] = [
      ['an escalation (mention): the one-line answer, no page', async () => void (await mention(stack, gone, 'escalate after removal', { unregistered: true })), [`chat.postMessage: ${NOT_SET_UP}`]],
      ['an escalation (slash command): the one-line answer to the person, no page', async () => void (await slashCommand(stack, gone, 'after removal', 'trig-gate-gone', { unregistered: true })), [`response_url: ${NOT_SET_UP}`]],
      ['a confirmation click: the prompt says it was refused, no page', async () => void (await click(gone, promptKey, { actionId: 'page_oncall' })), [PROMPT_REFUSED]],
      ['Check Status: the refusal to the clicker, no status', async () => void (await click(gone, escalation.dedupKey)), [`chat.postEphemeral: ${GATE_REFUSAL}`]],
      ['a thread reply: the refusal to the person, no note', () => reply(gone, escalation.threadTs, 'any news?'), [`chat.postEphemeral: ${GATE_REFUSAL}`]],
      ['an acknowledgement (webhook)', async () => void stack.pagerDuty!.acknowledge(escalation.incident.id, 'Dana Scully'), []],
      ['a status update', async () => void stack.pagerDuty!.publishStatusUpdate(escalation.incident.id, 'we are on it', 'Dana Scully'), []],
      ['a merge into another customer\'s incident', async () => void stack.pagerDuty!.merge(escalation.incident.id, other.incident.id), []],
      ['the fan-out of an update of an incident that holds it and another customer\'s', async () => void stack.pagerDuty!.acknowledge(other.incident.id, 'Fox Mulder'), []],
      [
        'a confirmation refresh',
        async () => {
          // What the confirmation shows is out of date, and a refresh is queued for it.
          await db().send(new UpdateCommand({ TableName: stack.dynamo.tableName, Key: { pk: `link#${escalation.dedupKey}` }, UpdateExpression: 'SET confirmationShown = :x', ExpressionAttributeValues: { ':x': 'stale' } }));
          const refresh: ConfirmationRefreshEvent = { v: EVENT_CONTRACT_VERSION, kind: 'confirmation.refresh', id: `gate:${escalation.dedupKey}`, dedupKey: escalation.dedupKey, channel: gone, requestedAt: new Date().toISOString() };
          const routing = pagerDutyRouting(refresh);
          await stack.sqs.client.send(new SendMessageCommand({ QueueUrl: stack.sqs.queues.pagerduty.url, MessageBody: JSON.stringify(refresh), MessageGroupId: routing.groupId, MessageDeduplicationId: createHash('sha256').update(routing.deduplicationId).digest('hex') }));
        },
        [],
      ],
      [
        'the reconciler\'s catch-up of a change no webhook told',
        async () => {
          stack.pagerDuty!.setWebhooks(false);
          stack.pagerDuty!.resolve(other.incident.id, 'Fox Mulder');
          await stack.reconcile();
          stack.pagerDuty!.setWebhooks(true);
        },
        [],
      ],
    ];

    it.each(paths)('%s', async (_path, act, shown) => {
      const from = mark();
      const notes = replyNotesOn(escalation.incident).length;
      await act();
      await stack.waitForIdle();
      expect(shownSince(gone, from)).toEqual(shown.map((s) => (typeof s === 'string' ? s : expect.stringMatching(new RegExp(`^chat\\.update: ${s.source.slice(1)}`)))));
      expect(triggersFrom(gone)).toHaveLength(1); // the escalation made before the removal, nothing since
      expect(replyNotesOn(escalation.incident)).toHaveLength(notes);
      expect(replyNotesOn(other.incident).filter((n) => n.content.includes(gone.toLowerCase()))).toEqual([]);
      expect(await stack.dlq('slack')).toEqual([]);
      expect(await stack.dlq('pagerduty')).toEqual([]);
    });

    it('the other customer of the shared incident is still told; the removed one\'s escalations left the open-link index', async () => {
      expect(botMessages(stack, kept).filter((m) => /Acknowledged by Fox Mulder/.test(m.text))).toHaveLength(1);
      expect(botMessages(stack, kept).filter((m) => /Resolved/.test(m.text))).toHaveLength(1);
      const open = LAYOUT.table.openLinkIndex.partitionKey;
      for (const key of [escalation.dedupKey, promptKey]) {
        const item = (await db().send(new GetCommand({ TableName: stack.dynamo.tableName, Key: { pk: `link#${key}` } }))).Item!;
        expect(item[open]).toBeUndefined();
      }
    });

    it('a later add starts clean: what was escalated before stays gone, a new escalation pages', async () => {
      await stack.customers.add({ channel: gone, name: 'Acme', orgs: ['T0CUSTOMER'], pagesPerHour: 100 });
      const from = mark();
      stack.pagerDuty!.redeliverLost(); // the resolution's webhook comes after all
      stack.pagerDuty!.publishStatusUpdate(other.incident.id, 'all fixed', 'Fox Mulder');
      await stack.waitForIdle();
      await stack.reconcile();
      await click(gone, escalation.dedupKey);
      await click(gone, promptKey, { actionId: 'page_oncall' });
      await reply(gone, escalation.threadTs, 'still there?');
      await stack.waitForIdle();
      expect(shownSince(gone, from)).toEqual([`chat.postEphemeral: ${GATE_REFUSAL}`, `chat.postEphemeral: ${GATE_REFUSAL}`]);
      expect(triggersFrom(gone)).toHaveLength(1);

      const fresh = await escalate(gone, 'checkout is down again');
      expect(triggersFrom(gone)).toHaveLength(2);
      expect(botMessages(stack, gone).filter((m) => m.threadTs === fresh.threadTs && String(m.metadata?.event_payload.key).startsWith('confirm:'))).toHaveLength(1);
    });
  });
});
