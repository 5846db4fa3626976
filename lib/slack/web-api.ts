import { ErrorCode, LogLevel, WebClient, type Block, type KnownBlock } from '@slack/web-api';
import { ChannelGoneError, PermanentError, RateLimitedError, TransientError } from '../errors';
import { nodeHttpFetch, type NodeHttpFetchResponse } from '../runtime/node-http-fetch';

export type Blocks = (KnownBlock | Block)[];

/** A message as pd-router renders it: fallback text for notifications, blocks for the client. */
export interface SlackMessage {
  text: string;
  blocks?: Blocks;
}

/** Slack errors that mean the channel will never take our message: drop, do not retry. */
const DEAD_CHANNEL_ERRORS = new Set(['channel_not_found', 'not_in_channel', 'is_archived']);

/** Marks our own messages, so a retry can find what a crashed attempt already posted. */
export const EFFECT_METADATA_TYPE = 'pd_router_effect';

/**
 * The Slack Web API as the workers use it. Every method takes the channel explicitly; workers
 * never call it directly but through `channelScope`, which fixes the channel to the one an
 * incident belongs to.
 */
export interface SlackApi {
  postMessage(input: { channel: string; message: SlackMessage; threadTs?: string; effectKey?: string }): Promise<string>;
  updateMessage(input: { channel: string; ts: string; message: SlackMessage }): Promise<void>;
  postEphemeral(input: { channel: string; user: string; message: SlackMessage; threadTs?: string }): Promise<void>;
  /** The ts of a message of ours carrying `effectKey`, posted in the thread (or channel) since `since`. */
  findByEffectKey(input: { channel: string; threadTs?: string; effectKey: string; since: string }): Promise<string | undefined>;
  channelName(channel: string): Promise<string | undefined>;
  /** A link to a message; undefined when Slack cannot tell us the workspace's address. */
  permalink(channel: string, ts: string): Promise<string | undefined>;
  /**
   * The bot's own user id, from `auth.test` with our token (cached per container). The event's
   * `authorizations[0]` may describe another organization's installation in a Slack Connect channel.
   */
  botUserId(): Promise<string | undefined>;
  /** The workspace the app is installed in (`auth.test`'s `team_id`, cached): the provider's own organization. */
  teamId(): Promise<string | undefined>;
  /**
   * Answer a slash command or click through its `response_url`, visible to that person only: the
   * one way to answer in a DM or a channel the bot is not in, where `chat.postEphemeral` fails.
   */
  respond(responseUrl: string, message: SlackMessage): Promise<void>;
}

/** Translate the SDK's errors into ours: dead channels are permanent, everything else is retried. */
export function classifySlackError(error: unknown, method: string): Error {
  const code = (error as { code?: string })?.code;
  if (code === ErrorCode.PlatformError) {
    const slackError = String((error as { data?: { error?: string } }).data?.error ?? 'unknown_error');
    if (DEAD_CHANNEL_ERRORS.has(slackError)) return new ChannelGoneError(slackError, `Slack ${method} failed: ${slackError}`, error);
    return new TransientError(`Slack ${method} failed: ${slackError}`, error);
  }
  if (code === ErrorCode.RateLimitedError) {
    const retryAfter = Number((error as { retryAfter?: number }).retryAfter);
    return new RateLimitedError('slack', `Slack ${method} was rate limited`, error, Number.isFinite(retryAfter) ? retryAfter : undefined);
  }
  if (code === ErrorCode.HTTPError) {
    return new TransientError(`Slack ${method} answered HTTP ${(error as { statusCode?: number }).statusCode ?? '?'}`, error);
  }
  return new TransientError(`Slack ${method} could not be reached`, error);
}

const CHANNEL_NAME_TTL_MS = 60 * 60 * 1000;

const SILENT_LOGGER = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  setLevel: () => undefined,
  getLevel: () => LogLevel.ERROR,
  setName: () => undefined,
};

export function makeSlackApi(options: { token: string; apiUrl: string; timeoutMs: number }): SlackApi {
  const clientOptions = {
    slackApiUrl: options.apiUrl,
    timeout: options.timeoutMs,
    // A 429 becomes an error we hand back to SQS with Slack's Retry-After, rather than a sleep
    // that could outlast the Lambda's timeout.
    rejectRateLimitedCalls: true,
    retryConfig: { retries: 2, factor: 2, minTimeout: 100, maxTimeout: 1000, randomize: true },
    // The SDK's own logger prints request details and its retries as plain text; we log what we
    // choose, as JSON, with the event's context.
    logger: SILENT_LOGGER,
    // Not the runtime's fetch: its first call loads undici, on every worker's cold start.
    fetch: nodeHttpFetch,
  };
  const client = new WebClient(options.token, clientOptions);
  // Posting is not idempotent: the SDK's own retry after a timeout (or a 5xx sent after Slack had
  // posted) posts the message a second time. Posts are retried through SQS instead, where the
  // effect record first looks for a message that did get posted.
  const postingClient = new WebClient(options.token, { ...clientOptions, retryConfig: { retries: 0 } });
  const call = async <T>(method: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      throw classifySlackError(error, method);
    }
  };
  // Cached per warm Lambda: names rarely change, and the workspace address and our own id never do.
  const channelNames = new Map<string, { name: string | undefined; at: number }>();
  let identity: Promise<{ url?: string; userId?: string; teamId?: string; botId?: string } | undefined> | undefined;
  const whoAmI = () =>
    (identity ??= client.auth
      .test()
      .then((r) => ({ ...(r.url ? { url: r.url } : {}), ...(r.user_id ? { userId: r.user_id } : {}), ...(r.team_id ? { teamId: r.team_id } : {}), ...(r.bot_id ? { botId: r.bot_id } : {}) }))
      .catch(() => {
        identity = undefined; // asked again next time
        return undefined;
      }));
  // Slack's response URLs live on hooks.slack.com; the API's own origin serves them for local stand-ins.
  const responseOrigins = new Set(['https://hooks.slack.com', new URL(options.apiUrl).origin]);

  return {
    async postMessage({ channel, message, threadTs, effectKey }) {
      const result = await call('chat.postMessage', () =>
        postingClient.chat.postMessage({
          channel,
          text: message.text,
          ...(message.blocks ? { blocks: message.blocks } : {}),
          ...(threadTs ? { thread_ts: threadTs } : {}),
          ...(effectKey ? { metadata: { event_type: EFFECT_METADATA_TYPE, event_payload: { key: effectKey } } } : {}),
          unfurl_links: false,
          unfurl_media: false,
        }),
      );
      if (!result.ts) throw new TransientError('Slack chat.postMessage returned no ts');
      return result.ts;
    },
    async updateMessage({ channel, ts, message }) {
      await call('chat.update', () => client.chat.update({ channel, ts, text: message.text, ...(message.blocks ? { blocks: message.blocks } : {}) }));
    },
    async postEphemeral({ channel, user, message, threadTs }) {
      await call('chat.postEphemeral', () =>
        postingClient.chat.postEphemeral({ channel, user, text: message.text, ...(message.blocks ? { blocks: message.blocks } : {}), ...(threadTs ? { thread_ts: threadTs } : {}) }),
      );
    },
    async findByEffectKey({ channel, threadTs, effectKey, since }) {
      const oldest = String(Math.floor(new Date(since).getTime() / 1000) - 60);
      const result = threadTs
        ? await call('conversations.replies', () => client.conversations.replies({ channel, ts: threadTs, oldest, include_all_metadata: true, limit: 200 }))
        : await call('conversations.history', () => client.conversations.history({ channel, oldest, include_all_metadata: true, limit: 200 }));
      // Anyone in the channel, or another app, can post a message carrying our metadata: it counts
      // only on a message our own bot posted (auth.test's user_id and bot_id). Without knowing who
      // we are, nothing can be trusted: asked again later.
      const me = await whoAmI();
      if (!me?.userId) throw new TransientError('Slack auth.test did not say who we are; cannot tell our own messages');
      const found = (result.messages ?? []).find(
        (m) =>
          m.user === me.userId &&
          m.bot_id !== undefined &&
          (me.botId === undefined || m.bot_id === me.botId) &&
          m.metadata?.event_type === EFFECT_METADATA_TYPE &&
          (m.metadata.event_payload as { key?: string } | undefined)?.key === effectKey,
      );
      return found?.ts;
    },
    async channelName(channel) {
      const cached = channelNames.get(channel);
      if (cached && Date.now() - cached.at < CHANNEL_NAME_TTL_MS) return cached.name;
      let name: string | undefined;
      try {
        name = (await client.conversations.info({ channel })).channel?.name;
      } catch {
        name = undefined; // A missing name only makes custom_details less readable.
      }
      channelNames.set(channel, { name, at: Date.now() });
      return name;
    },
    async permalink(channel, ts) {
      const base = (await whoAmI())?.url;
      return base ? `${base.replace(/\/?$/, '/')}archives/${channel}/p${ts.replace('.', '')}` : undefined;
    },
    async botUserId() {
      return (await whoAmI())?.userId;
    },
    async teamId() {
      return (await whoAmI())?.teamId;
    },
    async respond(responseUrl, message) {
      let url: URL;
      try {
        url = new URL(responseUrl);
      } catch {
        throw new PermanentError('bad_response_url', 'the response URL is not a URL');
      }
      // Signed by Slack, but never a reason to send our words anywhere but Slack.
      if (!responseOrigins.has(url.origin)) throw new PermanentError('bad_response_url', `refusing to answer through ${url.origin}`);
      let response: NodeHttpFetchResponse;
      try {
        response = await nodeHttpFetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ response_type: 'ephemeral', replace_original: false, text: message.text, ...(message.blocks ? { blocks: message.blocks } : {}) }),
          signal: AbortSignal.timeout(options.timeoutMs),
        });
      } catch (error) {
        throw new TransientError('Slack response_url could not be reached', error);
      }
      await response.arrayBuffer();
      // Slack answers 404 once a response URL is used up or older than 30 minutes: nothing to retry.
      if (response.status === 404 || response.status === 410) throw new PermanentError('expired_url', `Slack response_url answered ${response.status}`);
      if (!response.ok) throw new TransientError(`Slack response_url answered ${response.status}`);
    },
  };
}

/**
 * Slack, bound to one channel. The worker builds it from the incident link it loaded, so every
 * message about an incident can only go to the channel that raised it.
 */
export interface ChannelScope {
  readonly channel: string;
  post(message: SlackMessage, options?: { threadTs?: string; effectKey?: string }): Promise<string>;
  update(ts: string, message: SlackMessage): Promise<void>;
  ephemeral(user: string, message: SlackMessage, threadTs?: string): Promise<void>;
  findByEffectKey(effectKey: string, since: string, threadTs?: string): Promise<string | undefined>;
}

/**
 * Where a channel is spoken to: the scope of a channel in the workspace it belongs to (`team`, when
 * known). Every worker reaches channels through this port; a second workspace is one module that
 * picks the workspace's client by team, in place of {@link workspaceScopes}.
 */
export type ChannelScopes = (target: { channel: string; team?: string }) => ChannelScope;

/** The one workspace pd-router is installed in: every channel through the same client. */
export function workspaceScopes(slack: SlackApi): ChannelScopes {
  return ({ channel }) => channelScope(slack, channel);
}

export function channelScope(slack: SlackApi, channel: string): ChannelScope {
  return {
    channel,
    post: (message, options = {}) => slack.postMessage({ channel, message, ...options }),
    update: (ts, message) => slack.updateMessage({ channel, ts, message }),
    ephemeral: (user, message, threadTs) => slack.postEphemeral({ channel, user, message, ...(threadTs ? { threadTs } : {}) }),
    findByEffectKey: (effectKey, since, threadTs) => slack.findByEffectKey({ channel, effectKey, since, ...(threadTs ? { threadTs } : {}) }),
  };
}
