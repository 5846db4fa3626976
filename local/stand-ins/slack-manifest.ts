import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

/**
 * What the Slack stand-in reads from the app manifest (`slack-app-manifest.yaml`): the scopes an
 * installed app's bot token holds, and the events Slack sends it. The rest of the manifest is
 * kept as parsed.
 */
export interface SlackAppManifest {
  oauth_config: { scopes: { bot: string[]; user?: string[] } };
  settings: { event_subscriptions?: { request_url?: string; bot_events?: string[]; user_events?: string[] } } & Record<string, unknown>;
  [section: string]: unknown;
}

export const MANIFEST_PATH = path.join(__dirname, '..', '..', 'slack-app-manifest.yaml');

let parsed: SlackAppManifest | undefined;

/** The repository's app manifest, parsed once per process; each call hands out its own copy to change. */
export function loadSlackAppManifest(): SlackAppManifest {
  parsed ??= YAML.parse(readFileSync(MANIFEST_PATH, 'utf8')) as SlackAppManifest;
  return structuredClone(parsed);
}

export const manifestBotScopes = (manifest: SlackAppManifest): string[] => [...manifest.oauth_config.scopes.bot];
export const manifestBotEvents = (manifest: SlackAppManifest): string[] => [...(manifest.settings.event_subscriptions?.bot_events ?? [])];

/**
 * `message` events are subscribed per conversation type (docs.slack.dev/reference/events/message.channels
 * and its siblings): the event's `channel_type` says which subscription brought it.
 */
export const MESSAGE_SUBSCRIPTION_BY_CHANNEL_TYPE: Readonly<Record<string, string>> = {
  channel: 'message.channels',
  group: 'message.groups',
  im: 'message.im',
  mpim: 'message.mpim',
  app_home: 'message.app_home',
};

/**
 * The scopes a bot event subscription needs, any one of them (Slack refuses to save a manifest that
 * subscribes without one). From the Events API description (`x-scopes-required`,
 * slackapi/slack-api-specs events-api) and, for the Slack Connect events it predates, the event
 * pages: channel_shared / channel_unshared come "for tokens holding at least one of the
 * channels:read or groups:read scopes", private channels' only with groups:read.
 */
export const EVENT_SUBSCRIPTION_SCOPES: Readonly<Record<string, readonly string[]>> = {
  app_mention: ['app_mentions:read'],
  'message.channels': ['channels:history'],
  'message.groups': ['groups:history'],
  'message.im': ['im:history'],
  'message.mpim': ['mpim:history'],
  'message.app_home': [],
  channel_shared: ['channels:read', 'groups:read'],
  channel_unshared: ['channels:read', 'groups:read'],
};

/** The bot event subscription that makes Slack send `event`; undefined for a `message` without a conversation type. */
export function subscriptionFor(event: { type?: unknown; channel_type?: unknown }): string | undefined {
  if (event.type === 'message') return typeof event.channel_type === 'string' ? MESSAGE_SUBSCRIPTION_BY_CHANNEL_TYPE[event.channel_type] : undefined;
  return typeof event.type === 'string' && event.type !== '' ? event.type : undefined;
}

export type EventDelivery = { delivered: true; subscription: string } | { delivered: false; reason: string };

/**
 * Would Slack send this event (an Events API `event` object) to the app the manifest describes?
 * Only when the manifest subscribes the bot to it and grants a scope the subscription needs.
 */
export function eventDelivery(manifest: SlackAppManifest, event: { type?: unknown; channel_type?: unknown }): EventDelivery {
  const subscription = subscriptionFor(event);
  if (!subscription) return { delivered: false, reason: `Slack sends no ${String(event.type)} event without a conversation type (channel_type)` };
  if (!manifestBotEvents(manifest).includes(subscription)) return { delivered: false, reason: `the app manifest does not subscribe the bot to ${subscription}` };
  const needs = EVENT_SUBSCRIPTION_SCOPES[subscription];
  if (!needs) return { delivered: false, reason: `no scope is known for the ${subscription} subscription (add it to EVENT_SUBSCRIPTION_SCOPES)` };
  const granted = manifestBotScopes(manifest);
  if (needs.length && !needs.some((scope) => granted.includes(scope))) return { delivered: false, reason: `${subscription} needs ${needs.join(' or ')}, which the app manifest does not grant` };
  return { delivered: true, subscription };
}
