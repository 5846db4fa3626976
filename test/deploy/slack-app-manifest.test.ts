import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { loadSlackIngressConfig } from '../../lib/runtime/config';

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

  it('subscribes the bot to app_mention and channel messages (thread replies) only, over HTTP rather than Socket Mode', () => {
    // message.channels / message.groups need channels:history / groups:history (asked for above);
    // no message.im or message.mpim: an escalation thread is only ever in a channel.
    expect([...manifest.settings.event_subscriptions.bot_events].sort()).toEqual(['app_mention', 'message.channels', 'message.groups']);
    expect(manifest.settings.event_subscriptions.user_events).toBeUndefined();
    expect(manifest.settings.socket_mode_enabled).toBe(false);
    expect(manifest.settings.interactivity.is_enabled).toBe(true);
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
