import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { loadSlackIngressConfig } from '../../lib/runtime/config';
import { HANDLED_EVENT_TYPES, HANDLED_MESSAGE_CHANNEL_TYPES, HANDLED_MESSAGE_SUBTYPES, normalizeEventCallback } from '../../lib/slack/normalize';
import { EVENT_SUBSCRIPTION_SCOPES, MESSAGE_SUBSCRIPTION_BY_CHANNEL_TYPE, eventDelivery, type SlackAppManifest } from '../../local/stand-ins/slack-manifest';
import { methodScopes, scopeCheck } from '../../local/stand-ins/slack-scopes';

const ROOT = join(__dirname, '..', '..');

interface Manifest {
  display_information: { name: string };
  features: {
    bot_user: { display_name: string };
    slash_commands: { command: string; url: string }[];
  };
  oauth_config: { scopes: { bot: string[]; user?: string[] } };
  settings: {
    event_subscriptions: { request_url: string; bot_events: string[]; user_events?: string[] };
    interactivity: { is_enabled: boolean; request_url: string };
    socket_mode_enabled: boolean;
  };
}

interface ServerlessConfig {
  params: { default: { slackCommand: string } };
  custom: { routes: Record<string, string> };
  functions: Record<string, { events?: { httpApi?: { method: string; path: string } }[] }>;
}

/** Every string in the manifest that is a URL, wherever it sits. */
function urlsIn(value: unknown): string[] {
  if (typeof value === 'string') return /^https?:\/\//.test(value) ? [value] : [];
  if (Array.isArray(value)) return value.flatMap(urlsIn);
  if (value && typeof value === 'object') return Object.values(value).flatMap(urlsIn);
  return [];
}

/** The routes serverless.yml gives each function, with `${self:custom.routes.x}` resolved. */
function servedRoutes(config: ServerlessConfig): Map<string, string> {
  const routes = new Map<string, string>();
  for (const [fn, definition] of Object.entries(config.functions)) {
    for (const event of definition.events ?? []) {
      if (!event.httpApi) continue;
      const path = event.httpApi.path.replace(/^\$\{self:custom\.routes\.(\w+)\}$/, (_, key: string) => config.custom.routes[key] ?? '');
      routes.set(`${event.httpApi.method.toUpperCase()} ${path}`, fn);
    }
  }
  return routes;
}

describe('slack-app-manifest.yaml', () => {
  const document = YAML.parseDocument(readFileSync(join(ROOT, 'slack-app-manifest.yaml'), 'utf8'));
  const manifest = document.toJS() as Manifest;
  const serverless = YAML.parse(readFileSync(join(ROOT, 'serverless.yml'), 'utf8')) as ServerlessConfig;

  it('parses as YAML', () => {
    expect(document.errors).toEqual([]);
    expect(document.warnings).toEqual([]);
  });

  it('asks for exactly the bot scopes the workers use, and no user scopes', () => {
    expect([...manifest.oauth_config.scopes.bot].sort()).toEqual(
      [
        'app_mentions:read', // the app_mention event
        'chat:write', // chat.postMessage, chat.update, chat.postEphemeral
        'commands', // the slash command
        'channels:read', // conversations.info (channel names), public channels
        'groups:read', // … and private ones
        'channels:history', // conversations.replies/history: finding our own post after a crash
        'groups:history',
      ].sort(),
    );
    expect(manifest.oauth_config.scopes.user).toBeUndefined();
  });

  it('subscribes the bot to app_mention, channel messages (thread replies) and channel (un)sharing only, over HTTP rather than Socket Mode', () => {
    // message.channels / message.groups need channels:history / groups:history (asked for above);
    // no message.im or message.mpim: an escalation thread is only ever in a channel.
    // channel_shared / channel_unshared feed the shared-channel guard (channels:read / groups:read).
    expect([...manifest.settings.event_subscriptions.bot_events].sort()).toEqual(['app_mention', 'channel_shared', 'channel_unshared', 'message.channels', 'message.groups']);
    expect(manifest.settings.event_subscriptions.user_events).toBeUndefined();
    expect(manifest.settings.socket_mode_enabled).toBe(false);
    expect(manifest.settings.interactivity.is_enabled).toBe(true);
  });

  describe('events: Slack sends exactly what the ingress acts on (lib/slack/normalize.ts)', () => {
    /** The subscriptions the code needs: each handled event type, message events per handled conversation type. */
    const needed = (): string[] =>
      HANDLED_EVENT_TYPES.flatMap((type) => (type === 'message' ? HANDLED_MESSAGE_CHANNEL_TYPES.map((channelType) => MESSAGE_SUBSCRIPTION_BY_CHANNEL_TYPE[channelType] ?? `message in ${channelType}`) : [type]));
    const subscribed = () => manifest.settings.event_subscriptions.bot_events;

    it('every event type the ingress acts on is subscribed to, and every subscription is acted on', () => {
      const missing = needed().filter((s) => !subscribed().includes(s));
      const unused = subscribed().filter((s) => !needed().includes(s));
      expect({ missing, unused }).toEqual({ missing: [], unused: [] });
    });

    it('every subscription has a scope it needs granted (Slack will not save the manifest otherwise)', () => {
      for (const subscription of subscribed()) {
        const needs = EVENT_SUBSCRIPTION_SCOPES[subscription];
        expect({ subscription, known: needs !== undefined }).toEqual({ subscription, known: true });
        if (needs!.length) expect({ subscription, granted: needs!.filter((s) => manifest.oauth_config.scopes.bot.includes(s)) }).toEqual({ subscription, granted: expect.arrayContaining([expect.any(String)]) });
      }
    });

    it('the handled lists say what normalize does: message events in those conversation types and with those subtypes, nothing else', () => {
      const reply = (change: Record<string, unknown>) =>
        normalizeEventCallback({ event_id: 'Ev1', team_id: 'T1', event: { type: 'message', channel: 'C1', user: 'U1', text: 'more detail', ts: '2.000002', thread_ts: '1.000001', channel_type: 'channel', ...change } }, new Date());
      for (const channelType of Object.keys(MESSAGE_SUBSCRIPTION_BY_CHANNEL_TYPE)) {
        expect({ channelType, acted: reply({ channel_type: channelType }) !== undefined }).toEqual({ channelType, acted: HANDLED_MESSAGE_CHANNEL_TYPES.includes(channelType) });
      }
      // Slack's message subtypes (docs.slack.dev/reference/events/message#subtypes), a person's reply otherwise.
      const SUBTYPES = ['bot_message', 'channel_archive', 'channel_join', 'channel_leave', 'channel_name', 'channel_purpose', 'channel_topic', 'channel_unarchive', 'ekm_access_denied', 'file_share', 'me_message', 'message_changed', 'message_deleted', 'message_replied', 'thread_broadcast'];
      for (const subtype of SUBTYPES) expect({ subtype, acted: reply({ subtype }) !== undefined }).toEqual({ subtype, acted: HANDLED_MESSAGE_SUBTYPES.includes(subtype) });
      expect(HANDLED_MESSAGE_SUBTYPES.filter((s) => !SUBTYPES.includes(s))).toEqual([]);
    });

    it('the Slack stand-in delivers each handled event and refuses one the manifest does not subscribe to', () => {
      const events = [
        { type: 'app_mention' },
        ...HANDLED_MESSAGE_CHANNEL_TYPES.map((channelType) => ({ type: 'message', channel_type: channelType })),
        { type: 'channel_shared' },
        { type: 'channel_unshared' },
      ];
      for (const event of events) expect(eventDelivery(manifest as unknown as SlackAppManifest, event)).toEqual({ delivered: true, subscription: expect.any(String) });
      expect(eventDelivery(manifest as unknown as SlackAppManifest, { type: 'message', channel_type: 'im' })).toEqual({ delivered: false, reason: 'the app manifest does not subscribe the bot to message.im' });
      expect(eventDelivery(manifest as unknown as SlackAppManifest, { type: 'reaction_added' }).delivered).toBe(false);
    });
  });

  describe("Web API: every method pd-router calls is allowed by the manifest's scopes (Slack's Web API description)", () => {
    /** The Web API methods lib/slack/web-api.ts calls, read from its source (client.chat.postMessage → chat.postMessage). */
    const calledMethods = (): string[] => {
      const source = readFileSync(join(ROOT, 'lib', 'slack', 'web-api.ts'), 'utf8');
      return [...new Set([...source.matchAll(/\b(?:client|postingClient)\.(\w+)\s*\.(\w+)\(/g)].map((m) => `${m[1]}.${m[2]}`))].sort();
    };

    it('finds the methods in the code, each known to the description', () => {
      expect(calledMethods()).toEqual(['auth.test', 'chat.postEphemeral', 'chat.postMessage', 'chat.update', 'conversations.history', 'conversations.info', 'conversations.replies']);
      for (const method of calledMethods()) expect({ method, known: methodScopes().has(method) }).toEqual({ method, known: true });
    });

    it('grants each a scope, in public and private channels alike (channels:… and groups:…)', () => {
      const granted = manifest.oauth_config.scopes.bot;
      for (const method of calledMethods()) {
        expect({ method, check: scopeCheck(method, granted) }).toEqual({ method, check: { allowed: true } });
        // Methods scoped per conversation type need the scope of every type pd-router serves.
        const perType = methodScopes().get(method)!.filter((s) => /^(channels|groups):/.test(s));
        expect({ method, missing: perType.filter((s) => !granted.includes(s)) }).toEqual({ method, missing: [] });
      }
    });
  });

  it('declares the slash command the code and the stack answer by default', () => {
    const defaultCommand = loadSlackIngressConfig({ SLACK_EVENTS_QUEUE_URL: 'unused' }).slashCommand;
    expect(manifest.features.slash_commands.map((c) => c.command)).toEqual([defaultCommand]);
    expect(serverless.params.default.slackCommand).toBe(defaultCommand);
  });

  it('points events, interactivity and the slash command at one placeholder request URL', () => {
    const urls = [
      manifest.settings.event_subscriptions.request_url,
      manifest.settings.interactivity.request_url,
      ...manifest.features.slash_commands.map((c) => c.url),
    ];
    expect(new Set(urls).size).toBe(1);
    expect(urls[0]).toBe('https://YOUR-API-ID.execute-api.YOUR-REGION.amazonaws.com/slack/events');
  });

  it('names only routes the stack serves, and serves them with slack-ingress (Slack POSTs to every request URL)', () => {
    const served = servedRoutes(serverless);
    expect([...served.keys()].sort()).toEqual(['POST /pagerduty/webhooks', 'POST /slack/events']);
    const urls = urlsIn(manifest);
    expect(urls.length).toBeGreaterThanOrEqual(3);
    for (const url of urls) expect(served.get(`POST ${new URL(url).pathname}`)).toBe('slack-ingress');
  });
});
