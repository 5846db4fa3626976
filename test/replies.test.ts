import { createHash } from 'node:crypto';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { LocalStack } from '../local/stack';
import type { StandInIncident } from '../local/stand-ins/pagerduty';
import { STAND_IN_BOT_USER_ID } from '../local/stand-ins/slack';
import { post } from '../local/events/request';
import { signedSlackJson } from '../local/events/slack';
import { makeDocumentClient } from '../lib/store/dynamo';
import { SandboxDriver } from '../local/sandbox-console/driver';
import { NOTE_BUDGET } from '../lib/store/page-budget';
import { ensureCustomer } from '../local/world/customers';
import { fixture } from './fixtures';
import { confirmationOf, mention, slackSends, slashCommand, startTestStack } from './support/stack';

// A real capture: a person's reply in a Slack Connect thread (test/fixtures/SOURCES.md).
const CAPTURE = 'slack/message_slack_connect_thread_reply.json';

type Envelope = { event_id: string; team_id: string; authorizations: { user_id: string }[]; event: Record<string, unknown> };

let counter = 0;

/** Slack's `message` event for a message in `channel`, shaped as the real capture (a Slack Connect thread reply). */
function messageEnvelope(event: Record<string, unknown>): Envelope {
  const envelope = fixture<Envelope>(CAPTURE);
  envelope.team_id = 'T0PROVIDER';
  envelope.event_id = `EvReply${process.pid}x${counter++}`;
  envelope.authorizations[0]!.user_id = STAND_IN_BOT_USER_ID;
  const { thread_ts: _thread, parent_user_id: _parent, ...base } = envelope.event;
  envelope.event = { ...base, team: 'T0PROVIDER', user: 'UCUSTOMER2', ...event };
  return envelope;
}

describe('customer replies in an escalation thread become PagerDuty notes, through the local stack', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startTestStack({ env: { PAGER_DUTY_FROM_EMAIL: 'oncall@provider.test' } });
  });
  afterAll(() => stack.stop());

  async function escalate(channel: string, text: string): Promise<{ incident: StandInIncident; threadTs: string }> {
    const { ts } = await mention(stack, channel, `escalate ${text}`);
    await stack.waitForIdle();
    const incident = [...stack.pagerDuty!.incidents.values()].find((i) => (i.payload.custom_details as { channel_id?: string } | undefined)?.channel_id === channel);
    if (!incident) throw new Error(`no incident for ${channel}`);
    return { incident, threadTs: ts };
  }

  /** A person (or a bot, by `event`) posts in the channel; Slack sends the event, `retries` more times as retries. */
  async function send(channel: string, event: Record<string, unknown>, retries = 0) {
    const message = stack.slack!.recordCustomerMessage(channel, String(event.user ?? 'UCUSTOMER2'), String(event.text ?? ''), typeof event.thread_ts === 'string' ? event.thread_ts : undefined);
    const envelope = messageEnvelope({ channel, ts: message.ts, event_ts: message.ts, ...event });
    // Through the manifest: Slack sends a channel's messages only to an app subscribed to message.channels.
    const statuses = (await slackSends(stack, envelope, retries)).map((r) => r.status);
    return { envelope, statuses, ts: message.ts };
  }

  const notesOf = (incident: StandInIncident) => stack.pagerDuty!.notes.filter((n) => n.incidentId === incident.id);
  const effectStored = async (eventId: string) =>
    (await makeDocumentClient({ AWS_ENDPOINT_URL_DYNAMODB: stack.dynamo.endpoint }).send(new GetCommand({ TableName: stack.dynamo.tableName, Key: { pk: `effect#note:${eventId}` } }))).Item !== undefined;

  it('a reply in the thread becomes exactly one note, Slack retries and an SQS redelivery included', async () => {
    const { incident, threadTs } = await escalate('CRPLACME', 'checkout is down');
    const { envelope, statuses, ts } = await send('CRPLACME', { thread_ts: threadTs, text: "it's only <#C0EU|eu> users, see <https://status.example/x|our status page>" }, 2);
    expect(statuses).toEqual([200, 200, 200]);
    // SQS is at-least-once: the same event again, under another de-duplication id.
    const queued = { v: 1, kind: 'slack.reply', id: envelope.event_id, team: 'T0PROVIDER', channel: 'CRPLACME', threadTs, ts, user: 'UCUSTOMER2', text: String(envelope.event.text), receivedAt: new Date().toISOString() };
    await stack.sqs.client.send(new SendMessageCommand({ QueueUrl: stack.sqs.queues.slack.url, MessageBody: JSON.stringify(queued), MessageGroupId: 'CRPLACME', MessageDeduplicationId: createHash('sha256').update(`redelivery${envelope.event_id}`).digest('hex') }));
    await stack.waitForIdle();

    const notes = notesOf(incident);
    expect(notes).toHaveLength(1);
    expect(notes[0]!.from).toBe('oncall@provider.test');
    expect(notes[0]!.content).toMatch(/^Slack, #crplacme, @UCUSTOMER2: it's only #eu users, see our status page \(https:\/\/status\.example\/x\) \((.+)\)$/);
    // The link back names the reply's own message.
    expect(notes[0]!.content).toContain(`/archives/CRPLACME/p${ts.replace('.', '')})`);
    expect(await stack.dlq('slack')).toEqual([]);
  });

  it('a reply in the thread a slash command\'s confirmation started becomes a note too', async () => {
    expect((await slashCommand(stack, 'CRPLSLASH', 'escalate exports are stuck', 'trigReplySlash')).status).toBe(200);
    await stack.waitForIdle();
    const incident = [...stack.pagerDuty!.incidents.values()].find((i) => (i.payload.custom_details as { channel_id?: string } | undefined)?.channel_id === 'CRPLSLASH')!;
    const [confirmation] = confirmationOf(stack, 'CRPLSLASH');
    await send('CRPLSLASH', { thread_ts: confirmation!.ts, text: 'since 09:00 UTC' });
    await stack.waitForIdle();
    expect(notesOf(incident).map((n) => n.content)).toEqual([expect.stringMatching(/^Slack, #crplslash, @UCUSTOMER2: since 09:00 UTC \(/)]);
  });

  it('a reply typed in the sandbox console reaches on-call as a note', async () => {
    const { incident, threadTs } = await escalate('CRPLCONSOLE', 'invoices are wrong');
    const driver = new SandboxDriver({ url: stack.url, slackApiUrl: stack.slack!.apiUrl, pagerDutyUrl: stack.pagerDuty!.url, slackSigningSecret: stack.secrets.SLACK_SIGNING_SECRET });
    await driver.say('CRPLCONSOLE', 'UCUSTOMER3', 'only for EU accounts', threadTs);
    await stack.waitForIdle();
    expect(notesOf(incident).map((n) => n.content)).toEqual([expect.stringMatching(/^Slack, #crplconsole, @UCUSTOMER3: only for EU accounts \(/)]);
  });

  it('bot and app messages, edits, deletions, top-level messages, other threads and other channels add no note and store nothing', async () => {
    const { incident, threadTs } = await escalate('CRPLNEG', 'search is slow');
    await ensureCustomer(stack, 'CRPLOTHER');
    const before = notesOf(incident).length;
    const sent = [
      await send('CRPLNEG', { thread_ts: threadTs, text: 'a bot says hi', bot_id: 'B0OTHER', user: 'UBOT' }),
      await send('CRPLNEG', { thread_ts: threadTs, text: 'a workflow says hi', subtype: 'bot_message', bot_id: 'B0WF' }),
      await send('CRPLNEG', { thread_ts: threadTs, text: 'an app says hi', app_id: 'A0OTHER' }),
      await send('CRPLNEG', { thread_ts: threadTs, subtype: 'message_changed', message: { text: 'edited', thread_ts: threadTs } }),
      await send('CRPLNEG', { thread_ts: threadTs, subtype: 'message_deleted', deleted_ts: threadTs }),
      await send('CRPLNEG', { thread_ts: threadTs, subtype: 'thread_broadcast', text: 'also sent to the channel' }),
      await send('CRPLNEG', { text: 'a top-level message' }),
    ];
    // The bot's own mention in the thread pages (or answers) as an app_mention; it is no note.
    sent.push(await send('CRPLNEG', { thread_ts: threadTs, text: `<@${STAND_IN_BOT_USER_ID}> help` }));
    // Ignored at the ingress: answered 200, nothing enqueued, so nothing of them is ever stored.
    for (const { statuses } of sent) expect(statuses).toEqual([200]);

    // Reach the worker, but are in no escalation's thread (another thread; the same ts in another channel).
    const elsewhere = await send('CRPLNEG', { thread_ts: '1700000000.000001', text: 'unrelated thread' });
    const otherChannel = await send('CRPLOTHER', { thread_ts: threadTs, text: 'same ts, other channel' });
    await stack.waitForIdle();

    expect(notesOf(incident)).toHaveLength(before);
    expect(stack.pagerDuty!.notes.filter((n) => /unrelated thread|same ts, other channel|says hi|edited|top-level/.test(n.content))).toEqual([]);
    for (const { envelope } of [...sent, elsewhere, otherChannel]) expect(await effectStored(envelope.event_id)).toBe(false);
    expect(await stack.dlq('slack')).toEqual([]);
  });

  it(`a chatty thread adds at most ${NOTE_BUDGET.limit} notes to its incident in ${NOTE_BUDGET.windowMs / 60_000} minutes; the rest stay in Slack`, async () => {
    const { incident, threadTs } = await escalate('CRPLCHAT', 'everything is on fire');
    for (let n = 0; n < NOTE_BUDGET.limit + 3; n++) await send('CRPLCHAT', { thread_ts: threadTs, text: `update ${n}` });
    await stack.waitForIdle();
    const notes = notesOf(incident);
    expect(notes).toHaveLength(NOTE_BUDGET.limit);
    expect(new Set(notes.map((n) => n.content)).size).toBe(NOTE_BUDGET.limit);
    expect(await stack.dlq('slack')).toEqual([]);
  });

  it('a note PagerDuty refuses (no such user for From) is dropped with a log line, not retried forever', async () => {
    const { incident, threadTs } = await escalate('CRPLREFUSED', 'login fails');
    stack.pagerDuty!.userEmails.delete('oncall@provider.test');
    try {
      await send('CRPLREFUSED', { thread_ts: threadTs, text: 'still broken' });
      await stack.waitForIdle();
    } finally {
      stack.pagerDuty!.userEmails.add('oncall@provider.test');
    }
    expect(notesOf(incident)).toEqual([]);
    const refused = stack.pagerDuty!.restCalls.filter((c) => c.path === `/incidents/${incident.id}/notes` && c.status === 400);
    expect(refused).toHaveLength(1);
    expect(await stack.dlq('slack')).toEqual([]);
  });
});

describe('a crash after PagerDuty added the note', () => {
  let stack: LocalStack;
  let crashes = 0;
  beforeAll(async () => {
    stack = await startTestStack({
      env: { PAGER_DUTY_FROM_EMAIL: 'oncall@provider.test' },
      checkpoint: {
        slack: (step) => {
          if (step === 'note-added' && crashes++ === 0) throw new Error('simulated crash after the note was added');
        },
      },
    });
  });
  afterAll(() => stack.stop());

  it('the retry finds the note instead of adding it again', async () => {
    const { ts: threadTs } = await mention(stack, 'CRPLCRASH', 'escalate checkout is down');
    await stack.waitForIdle();
    const incident = [...stack.pagerDuty!.incidents.values()].find((i) => (i.payload.custom_details as { channel_id?: string } | undefined)?.channel_id === 'CRPLCRASH')!;
    const message = stack.slack!.recordCustomerMessage('CRPLCRASH', 'UCUSTOMER2', 'only EU users', threadTs);
    const envelope = messageEnvelope({ channel: 'CRPLCRASH', ts: message.ts, thread_ts: threadTs, text: 'only EU users' });
    expect((await post(`${stack.url}/slack/events`, signedSlackJson(stack.secrets.SLACK_SIGNING_SECRET, envelope))).status).toBe(200);
    await stack.waitForIdle();
    expect(crashes).toBeGreaterThanOrEqual(1);
    expect(stack.pagerDuty!.notes.filter((n) => n.incidentId === incident.id)).toHaveLength(1);
    expect(stack.pagerDuty!.restCalls.some((c) => c.path === `/incidents/${incident.id}/notes` && c.status === 200)).toBe(true);
    expect(await stack.dlq('slack')).toEqual([]);
  });
});

describe('without PAGER_DUTY_FROM_EMAIL, replies stay in Slack', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(() => stack.stop());

  it('nothing is sent to PagerDuty for a reply in an escalation thread', async () => {
    const { ts: threadTs } = await mention(stack, 'CRPLOFF', 'escalate checkout is down');
    await stack.waitForIdle();
    const restBefore = stack.pagerDuty!.restCalls.length;
    const eventsBefore = stack.pagerDuty!.eventsCalls.length;
    const message = stack.slack!.recordCustomerMessage('CRPLOFF', 'UCUSTOMER2', 'more detail', threadTs);
    const envelope = messageEnvelope({ channel: 'CRPLOFF', ts: message.ts, thread_ts: threadTs, text: 'more detail' });
    expect((await post(`${stack.url}/slack/events`, signedSlackJson(stack.secrets.SLACK_SIGNING_SECRET, envelope))).status).toBe(200);
    await stack.waitForIdle();
    expect(stack.pagerDuty!.notes).toEqual([]);
    expect(stack.pagerDuty!.restCalls.slice(restBefore)).toEqual([]);
    expect(stack.pagerDuty!.eventsCalls.slice(eventsBefore)).toEqual([]);
    expect(await stack.dlq('slack')).toEqual([]);
  });
});
