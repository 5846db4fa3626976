import { fixture } from '../../test/fixtures';
import { parseSlackQueueEvent } from '../slack-events';
import { normalizeBlockActions, normalizeEventCallback, normalizeSlashCommand } from './normalize';

const RECEIVED = new Date('2026-11-26T10:00:00.000Z');

describe('Slack normalization', () => {
  it('an app_mention keeps its text, thread and bot id, and validates as a contract event', () => {
    const event = normalizeEventCallback(
      {
        type: 'event_callback',
        team_id: 'T1',
        event_id: 'Ev1',
        authorizations: [{ user_id: 'UBOT' }],
        event: { type: 'app_mention', user: 'U1', text: '<@UBOT> escalate <https://x.io|it> broke', ts: '1.000100', thread_ts: '1.000001', channel: 'C1' },
      },
      RECEIVED,
    );
    expect(event).toEqual({
      v: 1,
      kind: 'slack.message',
      id: 'Ev1',
      via: 'mention',
      team: 'T1',
      channel: 'C1',
      user: 'U1',
      text: '<@UBOT> escalate <https://x.io|it> broke',
      ts: '1.000100',
      threadTs: '1.000001',
      botUserId: 'UBOT',
      receivedAt: RECEIVED.toISOString(),
    });
    expect(parseSlackQueueEvent(JSON.stringify(event))).toEqual(event);
  });

  it('carries who acts for the delivery gate: the app, and the person\'s own organization (user_team, user.team_id, a command\'s team_id)', () => {
    const mention = normalizeEventCallback(
      { type: 'event_callback', team_id: 'T0PROVIDER', api_app_id: 'A0APP', event_id: 'Ev7', event: { type: 'app_mention', user: 'U1', text: 'x', ts: '1.1', channel: 'C1', team: 'T0PROVIDER', user_team: 'T0GUEST' } },
      RECEIVED,
    );
    expect(mention).toMatchObject({ team: 'T0PROVIDER', appId: 'A0APP', userTeam: 'T0GUEST' });
    const click = normalizeBlockActions(
      { type: 'block_actions', api_app_id: 'A0APP', trigger_id: 't1', team: { id: 'T0PROVIDER' }, user: { id: 'U2', team_id: 'T0GUEST' }, channel: { id: 'C1' }, actions: [{ action_id: 'check_status', value: 'v' }] },
      RECEIVED,
    );
    expect(click).toMatchObject({ appId: 'A0APP', userTeam: 'T0GUEST' });
    const command = normalizeSlashCommand(new URLSearchParams({ team_id: 'T0GUEST', api_app_id: 'A0APP', channel_id: 'C1', user_id: 'U3', trigger_id: 'tr9', text: '' }), RECEIVED);
    expect(command).toMatchObject({ appId: 'A0APP', userTeam: 'T0GUEST' });
    for (const event of [mention, click, command]) expect(parseSlackQueueEvent(JSON.stringify(event))).toEqual(event);
  });

  it('other event types are not ours', () => {
    expect(normalizeEventCallback({ event_id: 'Ev2', event: { type: 'message', channel: 'C1' } }, RECEIVED)).toBeUndefined();
  });

  it('a mention without a channel is malformed, and says so', () => {
    expect(() => normalizeEventCallback({ team_id: 'T', event_id: 'Ev3', event: { type: 'app_mention', user: 'U', ts: '1.1' } }, RECEIVED)).toThrow('event.channel is missing');
  });

  it('a slash command becomes a message event identified by its trigger id', () => {
    const form = new URLSearchParams({ team_id: 'T1', channel_id: 'C1', channel_name: 'customer-acme', user_id: 'U1', command: '/piiano-pd-trigger', text: 'escalate db down', response_url: 'https://hooks.slack.test/x', trigger_id: 'tr1' });
    expect(normalizeSlashCommand(form, RECEIVED)).toMatchObject({ kind: 'slack.message', via: 'command', id: 'tr1', channel: 'C1', channelName: 'customer-acme', text: 'escalate db down' });
  });

  it('a Check Status click keeps the untrusted button value and the channel it came from', () => {
    const event = normalizeBlockActions(
      { type: 'block_actions', trigger_id: 'tr2', team: { id: 'T1' }, user: { id: 'U2' }, channel: { id: 'C9' }, container: { message_ts: '5.5' }, actions: [{ action_id: 'check_status', value: 'pdr-x' }] },
      RECEIVED,
    );
    expect(event).toMatchObject({ kind: 'slack.action', id: 'tr2', channel: 'C9', user: 'U2', value: 'pdr-x', messageTs: '5.5' });
  });

  it('clicks on buttons that are not ours are ignored', () => {
    expect(normalizeBlockActions({ type: 'block_actions', actions: [{ action_id: 'other' }] }, RECEIVED)).toBeUndefined();
  });
});

describe('parseSlackQueueEvent', () => {
  it('rejects another contract version, naming it', () => {
    expect(() => parseSlackQueueEvent(JSON.stringify({ v: 2, kind: 'slack.message' }))).toThrow('contract version 2, expected 1');
  });

  it('rejects non-JSON and shapes that do not match, saying where', () => {
    expect(() => parseSlackQueueEvent('not json')).toThrow('queue message is not JSON');
    expect(() => parseSlackQueueEvent(JSON.stringify({ v: 1, kind: 'slack.message', id: 'x' }))).toThrow(/does not match the contract: /);
  });
});

describe('thread replies (message events)', () => {
  // The real capture: a person's reply in a Slack Connect thread (test/fixtures/SOURCES.md).
  const capture = () => fixture<{ event: Record<string, unknown> } & Record<string, unknown>>('slack/message_slack_connect_thread_reply.json');
  const withEvent = (change: Record<string, unknown>) => {
    const envelope = capture();
    envelope.event = { ...envelope.event, ...change };
    return envelope;
  };

  it('the captured Slack Connect thread reply becomes a slack.reply that validates as a contract event', () => {
    const event = normalizeEventCallback(capture(), RECEIVED);
    expect(event).toEqual({
      v: 1,
      kind: 'slack.reply',
      id: 'Ev09AUNS4ABB',
      team: 'T017NA5LEV9',
      channel: 'C08UHAM34QM',
      threadTs: '1755203357.658399',
      ts: '1755205729.376419',
      user: 'U08S4NPGX7X',
      // Who acts, for the delivery gate: the app the event is for and the person's own workspace (no user_team here: event.team).
      appId: 'A09AAE5FM8V',
      userTeam: 'T017NA5LEV9',
      text: 'slack connect channel test message',
      receivedAt: RECEIVED.toISOString(),
    });
    expect(parseSlackQueueEvent(JSON.stringify(event))).toEqual(event);
  });

  it.each([
    ['a top-level message', { thread_ts: undefined }],
    ['a thread parent (thread_ts equals ts)', { thread_ts: '1755205729.376419' }],
    ['a bot', { bot_id: 'B1' }],
    ['an app', { app_id: 'A1' }],
    ['a workflow or bot_message', { subtype: 'bot_message' }],
    ['an edit', { subtype: 'message_changed' }],
    ['a deletion', { subtype: 'message_deleted' }],
    ['a file share or any other subtype', { subtype: 'file_share' }],
    ['a mention of the bot (handled as app_mention)', { text: '<@U09AERJ2868> escalate it' }],
  ])('ignores %s', (_what, change) => {
    expect(normalizeEventCallback(withEvent(change), RECEIVED)).toBeUndefined();
  });
});
