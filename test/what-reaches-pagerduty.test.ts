import type { LocalStack } from '../local/stack';
import type { StandInIncident } from '../local/stand-ins/pagerduty';
import { STAND_IN_BOT_USER_ID } from '../local/stand-ins/slack';
import { NOTE_BUDGET } from '../lib/store/page-budget';
import { ensureCustomer } from '../local/world/customers';
import { fixture } from './fixtures';
import { MESSAGE_TEXT_MAX_LENGTH } from '../lib/events';
import { botMessages, mention, slackSends, slashCommand, startTestStack } from './support/stack';

/**
 * What customers' words become on PagerDuty's side, through the local stack: the PagerDuty
 * stand-in records every trigger and note as PagerDuty would receive it.
 */

// A real capture: a person's reply in a Slack Connect thread (test/fixtures/SOURCES.md).
const CAPTURE = 'slack/message_slack_connect_thread_reply.json';
type Envelope = { event_id: string; team_id: string; authorizations: { user_id: string }[]; event: Record<string, unknown> };
let counter = 0;

/** Anything Slack (PagerDuty's own Slack integration posts titles and notes), HTML or Markdown would read as markup. */
const LIVE_MARKUP = /<[!@#]|<(?:https?|mailto):|<[^>]*\|[^>]*>|\]\(/;

/**
 * The literal cases, as Slack sends what a person typed: angle brackets escaped
 * (`&lt;`), a typed URL made a link by Slack, a Markdown link left as typed.
 */
const TYPED = [
  '&lt;!channel&gt;',
  '&lt;!here&gt;',
  '&lt;@U0PROVIDERADMIN&gt;',
  '&lt;https://evil.example|PagerDuty: reset your password&gt;',
  '&lt;<https://evil.example>|PagerDuty: reset your password&gt;',
  '[PagerDuty: reset your password](<https://evil.example>)',
  '<https://evil.example|https://pagerduty.com/reset>',
].join(' ');

describe('what reaches PagerDuty, through the local stack', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startTestStack({ env: { PAGER_DUTY_FROM_EMAIL: 'oncall@provider.test' } });
  });
  afterAll(() => stack.stop());

  const incidentOf = (channel: string): StandInIncident => {
    const incident = [...stack.pagerDuty!.incidents.values()].find((i) => (i.payload.custom_details as { channel_id?: string } | undefined)?.channel_id === channel);
    if (!incident) throw new Error(`no incident for ${channel}`);
    return incident;
  };
  const triggersOf = (channel: string) =>
    stack.pagerDuty!.eventsCalls.filter((c) => c.status === 202 && (c.body as { payload?: { custom_details?: { channel_id?: string } } }).payload?.custom_details?.channel_id === channel).map((c) => c.body as { dedup_key: string; payload: { summary: string; custom_details: Record<string, unknown> } });

  /** A person replies in a thread of `channel`; Slack sends the `message` event. */
  async function reply(channel: string, threadTs: string, text: string, user = 'UCUSTOMER2') {
    const message = stack.slack!.recordCustomerMessage(channel, user, text, threadTs);
    const envelope = fixture<Envelope>(CAPTURE);
    envelope.team_id = 'T0PROVIDER';
    envelope.event_id = `EvWrp${process.pid}x${counter++}`;
    envelope.authorizations[0]!.user_id = STAND_IN_BOT_USER_ID;
    const { parent_user_id: _parent, ...base } = envelope.event;
    envelope.event = { ...base, team: 'T0PROVIDER', user, channel, ts: message.ts, event_ts: message.ts, thread_ts: threadTs, text };
    expect((await slackSends(stack, envelope)).map((r) => r.status)).toEqual([200]);
    return message.ts;
  }

  it('markup a customer typed reaches the incident\'s title, custom_details and notes as text, never live', async () => {
    const { ts } = await mention(stack, 'CWRPMARKUP', `escalate ${TYPED}`);
    await stack.waitForIdle();
    const [trigger] = triggersOf('CWRPMARKUP');
    expect(trigger).toBeDefined();
    await reply('CWRPMARKUP', ts, `also ${TYPED}`);
    await stack.waitForIdle();
    const notes = stack.pagerDuty!.notes.filter((n) => n.incidentId === incidentOf('CWRPMARKUP').id);
    expect(notes).toHaveLength(1);

    const carried = [trigger!.payload.summary, JSON.stringify(trigger!.payload.custom_details), incidentOf('CWRPMARKUP').title, notes[0]!.content];
    for (const text of carried) {
      expect(text).not.toMatch(LIVE_MARKUP);
      // What was typed is still there to read, escaped, and the deceptive label's real target is shown.
      expect(text).toContain('&lt;!channel&gt;');
      expect(text).toContain('&lt;@U0PROVIDERADMIN&gt;');
      expect(text).toContain('PagerDuty: reset your password (https://evil.example)');
      expect(text).toContain('hxxps://pagerduty[.]com/reset (https://evil.example)');
    }
    expect(await stack.dlq('slack')).toEqual([]);
  });

  it('an escalation longer than the queue contract\'s limit pages with its first part and says so in its thread; nothing is parked', async () => {
    const long = `checkout is down ${'and the export is stuck '.repeat(Math.ceil((MESSAGE_TEXT_MAX_LENGTH + 5000) / 24))}`;
    expect(long.length).toBeGreaterThan(MESSAGE_TEXT_MAX_LENGTH);
    await mention(stack, 'CWRPLONG', `escalate ${long}`);
    expect((await slashCommand(stack, 'CWRPLONGCMD', long, 'trigWrpLong')).status).toBe(200);
    await stack.waitForIdle();
    for (const channel of ['CWRPLONG', 'CWRPLONGCMD']) {
      const [trigger] = triggersOf(channel);
      expect(trigger).toBeDefined();
      expect(String(trigger!.payload.custom_details.message)).toMatch(/^.*checkout is down and the export is stuck/);
      const texts = botMessages(stack, channel).map((m) => m.text);
      expect(texts.filter((t) => /too long to pass on whole: on-call received its first 4,000 characters/.test(t))).toHaveLength(1);
      expect(texts.some((t) => /Paging|paged|escalation #/i.test(t))).toBe(true);
    }
    // A reply as long reaches on-call cut too, and nothing waits in a dead-letter queue.
    const { ts } = await mention(stack, 'CWRPLONGREPLY', 'escalate search is slow');
    await stack.waitForIdle();
    await reply('CWRPLONGREPLY', ts, long);
    await stack.waitForIdle();
    expect(stack.pagerDuty!.notes.filter((n) => n.incidentId === incidentOf('CWRPLONGREPLY').id)).toHaveLength(1);
    expect(await stack.dlq('slack')).toEqual([]);
  });

  it('a reply in a thread that is no escalation\'s is not parked with its text when its thread cannot be looked up', async () => {
    await mention(stack, 'CWRPNOTHREAD', 'escalate search is slow');
    await stack.waitForIdle();
    const notesBefore = stack.pagerDuty!.notes.length;
    await stack.dynamo.suspend();
    try {
      await reply('CWRPNOTHREAD', '1700000000.000001', 'private: our CFO thinks the vendor is hopeless');
      await stack.waitForIdle(60_000);
    } finally {
      await stack.dynamo.resume();
    }
    await stack.waitForIdle();
    expect(await stack.dlq('slack')).toEqual([]);
    expect(stack.pagerDuty!.notes.slice(notesBefore)).toEqual([]);
  });

  it('an escalation over the page budget, with notes possible, becomes one note on the open incident instead of another Events API trigger', async () => {
    await ensureCustomer(stack, 'CWRPFOLD', { pagesPerHour: 1 });
    const first = await mention(stack, 'CWRPFOLD', 'escalate checkout is down');
    await stack.waitForIdle();
    const eventsBefore = stack.pagerDuty!.eventsCalls.length;
    await mention(stack, 'CWRPFOLD', 'escalate now payments fail too &lt;!channel&gt;', { retries: 1 });
    await stack.waitForIdle();
    // No trigger on the routing key: the open incident got the words as a note, once (a Slack retry included).
    expect(stack.pagerDuty!.eventsCalls.slice(eventsBefore)).toEqual([]);
    const incident = incidentOf('CWRPFOLD');
    const notes = stack.pagerDuty!.notes.filter((n) => n.incidentId === incident.id);
    expect(notes).toHaveLength(1);
    expect(notes[0]!.from).toBe('oncall@provider.test');
    expect(notes[0]!.content).toMatch(/^Another escalation from this channel, over its page budget, added here instead of paging again\. Slack, #cwrpfold, @UCUSTOMER1: @UPDROUTERBOT escalate now payments fail too &lt;!channel&gt; \(.+\)$/);
    expect(notes[0]!.content).not.toMatch(LIVE_MARKUP);
    // The customer hears it was added to its open escalation, in the new message's thread.
    const folded = botMessages(stack, 'CWRPFOLD').filter((m) => String(m.metadata?.event_payload.key ?? '').startsWith('folded:'));
    expect(folded).toHaveLength(1);
    expect(folded[0]!.threadTs).not.toBe(first.ts);
    expect(await stack.dlq('slack')).toEqual([]);
  });

  it('the note budget is each escalation\'s: one customer\'s chatty thread does not silence another\'s in a shared incident', async () => {
    const acme = await mention(stack, 'CWRPBUDACME', 'escalate checkout is down');
    await stack.waitForIdle();
    stack.pagerDuty!.grouping = true;
    const globex = await mention(stack, 'CWRPBUDGLOBEX', 'escalate invoices are late');
    await stack.waitForIdle();
    stack.pagerDuty!.grouping = false;
    const incident = incidentOf('CWRPBUDACME');
    expect(stack.pagerDuty!.byKey(triggersOf('CWRPBUDGLOBEX')[0]!.dedup_key)).toBe(incident); // grouped into Acme's incident

    for (let n = 0; n < NOTE_BUDGET.limit + 2; n++) await reply('CWRPBUDACME', acme.ts, `acme update ${n}`);
    await stack.waitForIdle();
    await reply('CWRPBUDGLOBEX', globex.ts, 'globex: only EU invoices');
    await stack.waitForIdle();
    const notes = stack.pagerDuty!.notes.filter((n) => n.incidentId === incident.id).map((n) => n.content);
    expect(notes.filter((n) => n.includes('acme update'))).toHaveLength(NOTE_BUDGET.limit);
    expect(notes.filter((n) => n.includes('globex: only EU invoices'))).toHaveLength(1);
    expect(await stack.dlq('slack')).toEqual([]);
  });
});
