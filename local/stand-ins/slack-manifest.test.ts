import { LogLevel, WebClient } from '@slack/web-api';
import { confirmationMessage } from '../../lib/slack/messages';
import { makeSlackApi } from '../../lib/slack/web-api';
import { customerView } from '../../lib/tenancy/customer-view';
import { SandboxDriver } from '../sandbox-console/driver';
import { listen, readBody, sendJson, type RunningServer } from './http-util';
import { SlackStandIn } from './slack';
import { loadSlackAppManifest, type SlackAppManifest } from './slack-manifest';
import { methodScopes } from './slack-scopes';

/** The Slack stand-in is as strict as the installed app: the manifest's scopes and events, Block Kit's limits. */

const TOKEN = 'xoxb-stand-in-manifest';

/** The view of an escalation as the workers build it, from its link. */
const viewOf = (ref: number, words: string) =>
  customerView({ dedupKey: 'k'.repeat(32), team: 'T0PROVIDER', channel: 'CSCOPES', requester: 'U1ABC', summary: words, createdAt: '2026-01-01T00:00:00.000Z', state: 'triggered', ref, status: 'triggered' });

/** The repository's manifest, changed by `change` (a parsed copy: the file stays as it is). */
function manifestWith(change: (manifest: SlackAppManifest) => void): SlackAppManifest {
  const manifest = loadSlackAppManifest();
  change(manifest);
  return manifest;
}
const withoutScope = (scope: string) => manifestWith((m) => (m.oauth_config.scopes.bot = m.oauth_config.scopes.bot.filter((s) => s !== scope)));
const withoutEvent = (event: string) => manifestWith((m) => (m.settings.event_subscriptions!.bot_events = m.settings.event_subscriptions!.bot_events!.filter((e) => e !== event)));

async function standIn(manifest?: SlackAppManifest): Promise<SlackStandIn> {
  return new SlackStandIn({ botToken: TOKEN, ...(manifest ? { manifest } : {}) }).start();
}
const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, setLevel: () => undefined, getLevel: () => LogLevel.ERROR, setName: () => undefined };
const client = (slack: SlackStandIn) => new WebClient(TOKEN, { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 }, logger: quiet });

describe('scopes: a Web API method needs a scope the manifest grants (missing_scope), per Slack\'s Web API description', () => {
  it("reads each method's scopes from the description, legacy names as today's (chat:write:bot → chat:write)", () => {
    expect(methodScopes().get('chat.postMessage')).toEqual(['chat:write']);
    expect(methodScopes().get('conversations.replies')).toEqual(['channels:history', 'groups:history', 'im:history', 'mpim:history']);
    expect(methodScopes().get('auth.test')).toEqual([]);
  });

  it("answers pd-router's own calls with the repository's manifest", async () => {
    const slack = await standIn();
    try {
      const api = makeSlackApi({ token: TOKEN, apiUrl: slack.apiUrl, timeoutMs: 2000 });
      const ts = await api.postMessage({ channel: 'CSCOPES', message: confirmationMessage(viewOf(1, 'checkout is down')), effectKey: 'e1' });
      await api.updateMessage({ channel: 'CSCOPES', ts, message: { text: 'updated' } });
      await api.postEphemeral({ channel: 'CSCOPES', user: 'U1', message: { text: 'only you' } });
      expect(await api.findByEffectKey({ channel: 'CSCOPES', effectKey: 'e1', since: new Date(Date.now() - 60_000).toISOString() })).toBe(ts);
      expect(await api.findByEffectKey({ channel: 'CSCOPES', threadTs: ts, effectKey: 'none', since: new Date().toISOString() })).toBeUndefined();
      expect(await api.channelName('CSCOPES')).toBe('cscopes');
      expect(await api.botUserId()).toBe('UPDROUTERBOT');
      expect(slack.calls.map((c) => c.method).sort()).toEqual(['auth.test', 'chat.postEphemeral', 'chat.postMessage', 'chat.update', 'conversations.history', 'conversations.info', 'conversations.replies']);
    } finally {
      await slack.stop();
    }
  });

  it('refuses chat.postMessage without chat:write, as Slack does: ok:false, missing_scope, needed and provided', async () => {
    const slack = await standIn(withoutScope('chat:write'));
    try {
      const refused = client(slack).chat.postMessage({ channel: 'CSCOPES', text: 'hello' });
      await expect(refused).rejects.toMatchObject({ data: { ok: false, error: 'missing_scope', needed: 'chat:write', provided: slack.scopes.join(',') } });
      expect(slack.scopes).not.toContain('chat:write');
      expect(slack.channelMessages('CSCOPES')).toEqual([]);
      // pd-router's client sees it as a failure to retry, never as a post made.
      await expect(makeSlackApi({ token: TOKEN, apiUrl: slack.apiUrl, timeoutMs: 2000 }).postMessage({ channel: 'CSCOPES', message: { text: 'x' } })).rejects.toThrow('Slack chat.postMessage failed: missing_scope');
      // auth.test needs no scope.
      expect((await client(slack).auth.test()).ok).toBe(true);
    } finally {
      await slack.stop();
    }
  });

  it('any one of the listed scopes will do; with none of them, needed names them all', async () => {
    const slack = await standIn(withoutScope('channels:history'));
    try {
      expect((await client(slack).conversations.history({ channel: 'CSCOPES' })).ok).toBe(true); // groups:history is enough
      slack.scopes = slack.scopes.filter((s) => s !== 'groups:history');
      await expect(client(slack).conversations.replies({ channel: 'CSCOPES', ts: '1.000001' })).rejects.toMatchObject({
        data: { error: 'missing_scope', needed: 'channels:history,groups:history,im:history,mpim:history' },
      });
    } finally {
      await slack.stop();
    }
  });
});

describe("Block Kit's limits on chat.postMessage, chat.update, chat.postEphemeral and response_url posts (invalid_blocks)", () => {
  let slack: SlackStandIn;
  beforeAll(async () => {
    slack = await standIn();
  });
  afterAll(() => slack.stop());

  const section = (text: string) => ({ type: 'section', text: { type: 'mrkdwn', text } });
  const button = (text: string, value = 'v') => ({ type: 'button', action_id: 'a', text: { type: 'plain_text', text }, value });
  const OVER: [string, unknown[], string][] = [
    ['51 blocks', Array.from({ length: 51 }, () => ({ type: 'divider' })), '/blocks'],
    ['a section text of 3,001 characters', [section('x'.repeat(3001))], '/blocks/0/text/text'],
    ['a header of 151 characters', [{ type: 'header', text: { type: 'plain_text', text: 'h'.repeat(151) } }], '/blocks/0/text/text'],
    ['a button text of 76 characters', [{ type: 'actions', elements: [button('b'.repeat(76))] }], '/blocks/0/elements/0/text/text'],
    ['a button value of 2,001 characters', [{ type: 'actions', elements: [button('ok', 'v'.repeat(2001))] }], '/blocks/0/elements/0/value'],
    ['26 actions elements', [{ type: 'actions', elements: Array.from({ length: 26 }, () => button('ok')) }], '/blocks/0/elements'],
    ['11 context elements', [{ type: 'context', elements: Array.from({ length: 11 }, () => ({ type: 'mrkdwn', text: 'c' })) }], '/blocks/0/elements'],
    ['a block_id of 256 characters', [{ ...section('ok'), block_id: 'i'.repeat(256) }], '/blocks/0/block_id'],
    ['an action_id of 256 characters', [{ type: 'actions', elements: [{ ...button('ok'), action_id: 'a'.repeat(256) }] }], '/blocks/0/elements/0/action_id'],
    ['an empty section text', [section('')], '/blocks/0/text/text'],
    ['an unknown block type', [{ type: 'sektion' }], '/blocks/0/type'],
  ];

  it.each(OVER)('chat.postMessage with %s: ok:false, invalid_blocks, where it is wrong, and nothing posted', async (_what, blocks, pointer) => {
    const before = slack.messages.length;
    const refused = client(slack).chat.postMessage({ channel: 'CBLOCKS', text: 'fallback', blocks: blocks as never });
    await expect(refused).rejects.toMatchObject({ data: { ok: false, error: 'invalid_blocks', errors: expect.arrayContaining([expect.stringContaining(`[json-pointer:${pointer}]`)]) } });
    expect(slack.messages.length).toBe(before);
  });

  it('at the limits exactly, Slack takes them: 50 blocks, 3,000 / 150 / 75 / 2,000 characters, 25 and 10 elements', async () => {
    const blocks = [
      section('x'.repeat(3000)),
      { type: 'header', text: { type: 'plain_text', text: 'h'.repeat(150) } },
      { type: 'actions', block_id: 'i'.repeat(255), elements: [button('b'.repeat(75), 'v'.repeat(2000)), ...Array.from({ length: 24 }, () => button('ok'))] },
      { type: 'context', elements: Array.from({ length: 10 }, () => ({ type: 'mrkdwn', text: 'c' })) },
      ...Array.from({ length: 46 }, () => ({ type: 'divider' })),
    ];
    expect(blocks).toHaveLength(50);
    expect((await client(slack).chat.postMessage({ channel: 'CBLOCKS', text: 'fallback', blocks: blocks as never })).ok).toBe(true);
  });

  it('chat.update and chat.postEphemeral are held to the same limits; the message keeps its last good version', async () => {
    const { ts } = await client(slack).chat.postMessage({ channel: 'CBLOCKS', text: 'first', blocks: [section('first')] as never });
    await expect(client(slack).chat.update({ channel: 'CBLOCKS', ts: ts!, text: 'second', blocks: [section('y'.repeat(3001))] as never })).rejects.toMatchObject({ data: { error: 'invalid_blocks' } });
    expect(slack.messages.find((m) => m.ts === ts)).toMatchObject({ text: 'first', history: [] });
    await expect(client(slack).chat.postEphemeral({ channel: 'CBLOCKS', user: 'U1', text: 'e', blocks: Array.from({ length: 51 }, () => ({ type: 'divider' })) as never })).rejects.toMatchObject({ data: { error: 'invalid_blocks' } });
  });

  it("a response_url post with blocks over the limits: HTTP 400 invalid_blocks, as Slack answers, and pd-router's client does not take it as sent", async () => {
    const url = slack.responseUrl('CBLOCKS', 'U1');
    const raw = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 't', blocks: [section('z'.repeat(3001))] }) });
    expect({ status: raw.status, body: await raw.text() }).toEqual({ status: 400, body: 'invalid_blocks' });
    const api = makeSlackApi({ token: TOKEN, apiUrl: slack.apiUrl, timeoutMs: 2000 });
    await expect(api.respond(url, { text: 't', blocks: [section('z'.repeat(3001))] as never })).rejects.toThrow('Slack response_url answered 400');
    await api.respond(url, { text: 't', blocks: [section('fine')] as never });
    expect(slack.ephemerals.filter((e) => e.viaResponseUrl && e.channel === 'CBLOCKS')).toHaveLength(1);
  });

  it("pd-router's confirmation of the longest escalation, full of characters Slack needs escaped, is taken", async () => {
    const api = makeSlackApi({ token: TOKEN, apiUrl: slack.apiUrl, timeoutMs: 2000 });
    const message = confirmationMessage(viewOf(7, '<html><body>&nbsp;500 Internal Server Error</body></html>\n'.repeat(60)));
    await expect(api.postMessage({ channel: 'CBLOCKS', message })).resolves.toEqual(expect.any(String));
  });
});

describe('events: only those the manifest subscribes the bot to are delivered', () => {
  it('the stand-in tells which events Slack would send, with the reason when not', async () => {
    const slack = await standIn(withoutEvent('channel_shared'));
    try {
      expect(slack.delivers({ type: 'app_mention' })).toEqual({ delivered: true, subscription: 'app_mention' });
      expect(slack.delivers({ type: 'message', channel_type: 'group' })).toEqual({ delivered: true, subscription: 'message.groups' });
      expect(slack.delivers({ type: 'channel_shared' })).toEqual({ delivered: false, reason: 'the app manifest does not subscribe the bot to channel_shared' });
      expect(slack.delivers({ type: 'message', channel_type: 'im' })).toEqual({ delivered: false, reason: 'the app manifest does not subscribe the bot to message.im' });
      expect(slack.delivers({ type: 'message' }).delivered).toBe(false);
      expect(slack.delivers({ type: 'reaction_added' }).delivered).toBe(false);
    } finally {
      await slack.stop();
    }
  });

  it('an event whose subscription lacks its scope is not delivered either (channel_shared without channels:read or groups:read)', async () => {
    const manifest = manifestWith((m) => (m.oauth_config.scopes.bot = m.oauth_config.scopes.bot.filter((s) => s !== 'channels:read' && s !== 'groups:read')));
    const slack = await standIn(manifest);
    try {
      expect(slack.delivers({ type: 'channel_unshared' })).toEqual({ delivered: false, reason: 'channel_unshared needs channels:read or groups:read, which the app manifest does not grant' });
    } finally {
      await slack.stop();
    }
  });

  describe('the sandbox console (SandboxDriver) sends the router only subscribed events', () => {
    let router: RunningServer;
    const received: { type: string }[] = [];
    beforeAll(async () => {
      // Plays the router's /slack/events: records each event it is sent.
      router = await listen(async (request, response) => {
        received.push((JSON.parse((await readBody(request)).toString('utf8')) as { event: { type: string } }).event);
        sendJson(response, 200, {});
      });
    });
    afterAll(() => router.close());

    async function say(manifest: SlackAppManifest | undefined, typed: string, threadTs?: string) {
      const slack = await standIn(manifest);
      try {
        received.length = 0;
        const driver = new SandboxDriver({ url: router.url, slackApiUrl: slack.apiUrl, pagerDutyUrl: 'http://127.0.0.1:9', slackSigningSecret: 'secret' });
        const said = await driver.say('CDRIVER', 'UCUSTOMER', typed, threadTs);
        return { said, types: received.map((e) => e.type), recorded: slack.channelMessages('CDRIVER').length };
      } finally {
        await slack.stop();
      }
    }

    it('a reply in a thread reaches the router as a message event with message.channels, and not without it', async () => {
      expect(await say(undefined, 'only EU users', '1700000000.000001')).toMatchObject({ said: { delivered: 200 }, types: ['message'], recorded: 1 });
      const unsubscribed = await say(withoutEvent('message.channels'), 'only EU users', '1700000000.000001');
      expect(unsubscribed).toMatchObject({ types: [], recorded: 1 });
      expect(unsubscribed.said.delivered).toBeUndefined();
    });

    it('a mention reaches the router as app_mention, and not without the subscription', async () => {
      expect(await say(undefined, '@bot escalate it broke')).toMatchObject({ said: { delivered: 200 }, types: ['app_mention'] });
      expect((await say(withoutEvent('app_mention'), '@bot escalate it broke')).types).toEqual([]);
    });
  });
});
