import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { blockKitErrors } from './block-kit';
import { FaultPlan, listen, readBody, sendJson, sleep, type RunningServer } from './http-util';
import { rateLimiterFor, retryAfterHeader, slackLimitKeys, type RateLimiter, type RateLimitSetting } from './rate-limits';
import { eventDelivery, loadSlackAppManifest, manifestBotScopes as scopesOf, type EventDelivery, type SlackAppManifest } from './slack-manifest';
import { scopeCheck } from './slack-scopes';

/** One message as the stand-in stores it, with every version chat.update gave it. */
export interface RecordedMessage {
  channel: string;
  ts: string;
  threadTs?: string;
  text: string;
  blocks?: unknown[];
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
  user: string;
  /** Set on messages an app posted (Slack's `bot_id` and `app_id`): the stand-in's own app, or another. */
  botId?: string;
  appId?: string;
  /** Earlier versions, oldest first; the current text and blocks are on the message. */
  history: { text: string; blocks?: unknown[] }[];
}

export interface RecordedEphemeral {
  channel: string;
  /** The message_ts answered to the caller; it places the ephemeral among the channel's messages. */
  ts: string;
  user: string;
  text: string;
  blocks?: unknown[];
  threadTs?: string;
  /** Answered through a slash command's or click's response_url rather than chat.postEphemeral. */
  viaResponseUrl?: boolean;
}

/** The stand-in's state as the sandbox keeps it on disk. */
export interface SlackStandInSnapshot {
  messages: RecordedMessage[];
  ephemerals: RecordedEphemeral[];
  clock: number;
}

/** Every call the stand-in answered: what the isolation checks read. */
export interface RecordedCall {
  method: string;
  channel?: string;
  args: Record<string, unknown>;
  at: number;
  /** performance.now() on arrival: orders this call against the PagerDuty stand-in's. */
  arrivedAt: number;
  /** Set when the call was refused by a rate limit: the Retry-After it was told. */
  retryAfterSeconds?: number;
}

export interface SlackStandInOptions {
  botToken: string;
  port?: number;
  /** Added to every answer, to measure what waiting on Slack costs. */
  latencyMs?: number;
  workspaceUrl?: string;
  /** Print each message as it is posted (sandbox mode). */
  print?: (line: string) => void;
  channelNames?: Record<string, string>;
  /** Enforce Slack's rate limits (`./rate-limits.ts`): off by default. */
  rateLimits?: RateLimitSetting;
  /**
   * The installed app, as its manifest describes it (parsed): the token's scopes and the events
   * Slack sends. The repository's `slack-app-manifest.yaml` by default.
   */
  manifest?: SlackAppManifest;
}

export const STAND_IN_BOT_USER_ID = 'UPDROUTERBOT';
/** The workspace the stand-in's app is installed in (auth.test's team_id): the provider's own. */
export const STAND_IN_TEAM_ID = 'T0PROVIDER';
/** The stand-in app's bot (auth.test's `bot_id`) and app ids, carried by every message it posts. */
export const STAND_IN_BOT_ID = 'BPDROUTER';
export const STAND_IN_APP_ID = 'A0PDROUTER';

/** The bot scopes the app manifest asks for: what an installed app's token holds. */
export function manifestBotScopes(): string[] {
  return scopesOf(loadSlackAppManifest());
}

/** Chat methods whose `blocks` Slack checks against Block Kit's limits. */
const BLOCK_METHODS = new Set(['chat.postMessage', 'chat.update', 'chat.postEphemeral']);

/**
 * A local stand-in for the Slack Web API methods pd-router calls. It records each message per
 * channel, answers like Slack (HTTP 200 with ok:false for errors, 429 with Retry-After), and
 * can be told to fail. As strict as the installed app: a method needs a scope the manifest
 * grants (`missing_scope`, scopes from Slack's Web API description), message blocks keep to
 * Block Kit's limits (`invalid_blocks`), and {@link delivers} says which events Slack would send.
 */
export class SlackStandIn {
  readonly messages: RecordedMessage[] = [];
  readonly ephemerals: RecordedEphemeral[] = [];
  readonly calls: RecordedCall[] = [];
  readonly faults = new FaultPlan();
  readonly archived = new Set<string>();
  /** Channels the bot is not a member of: Slack refuses its posts there with not_in_channel. */
  readonly notMember = new Set<string>();
  /** The installed app's manifest: what the token may call and which events Slack sends it. */
  readonly manifest: SlackAppManifest;
  /** The token's scopes, sent like Slack in the x-oauth-scopes header of every answer (the manifest's by default). */
  scopes: string[];
  /** Slack's rate limits, when enforced; its counts say how many calls got a 429. */
  readonly rateLimits: RateLimiter | undefined;
  latencyMs: number;
  /** The most calls of each method answered at once (how many a caller had in flight): clear it to measure a span. */
  readonly peakInFlight = new Map<string, number>();
  private readonly inFlight = new Map<string, number>();
  private server?: RunningServer;
  private clock = 0;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly options: SlackStandInOptions) {
    this.latencyMs = options.latencyMs ?? 0;
    this.rateLimits = rateLimiterFor(options.rateLimits);
    this.manifest = options.manifest ?? loadSlackAppManifest();
    this.scopes = scopesOf(this.manifest);
  }

  /**
   * Would Slack send this Events API `event` to the app? Only when the manifest subscribes the bot
   * to it (message events by conversation type: message.channels, message.groups…) and grants a
   * scope that subscription needs. Whatever plays "Slack sends event X" asks here first.
   */
  delivers(event: { type?: unknown; channel_type?: unknown }): EventDelivery {
    return eventDelivery(this.manifest, event);
  }

  get url(): string {
    if (!this.server) throw new Error('Slack stand-in is not started');
    return this.server.url;
  }

  /** The Web API base URL, as SLACK_API_URL takes it. */
  get apiUrl(): string {
    return `${this.url}/api/`;
  }

  async start(): Promise<this> {
    this.server = await listen((req, res) => this.handle(req, res), this.options.port);
    return this;
  }

  async stop(): Promise<void> {
    await this.server?.close();
  }

  /** Called after every change; the sandbox console streams from it. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** What the sandbox keeps across a restart (PD_ROUTER_DATA_DIR): every channel's transcript. */
  snapshot(): SlackStandInSnapshot {
    return { messages: this.messages, ephemerals: this.ephemerals, clock: this.clock };
  }

  /** Take back what {@link snapshot} kept; new messages' ts still sort after the kept ones. */
  restore(kept: SlackStandInSnapshot): void {
    this.messages.splice(0, this.messages.length, ...kept.messages);
    this.ephemerals.splice(0, this.ephemerals.length, ...kept.ephemerals);
    this.clock = Math.max(this.clock, kept.clock);
    this.changed();
  }

  channelMessages(channel: string): RecordedMessage[] {
    return this.messages.filter((m) => m.channel === channel);
  }

  /** A message as a customer would post it (the sandbox console uses it to give mentions a ts). */
  recordCustomerMessage(channel: string, user: string, text: string, threadTs?: string, posted: Pick<RecordedMessage, 'botId' | 'appId' | 'metadata'> = {}): RecordedMessage {
    const message: RecordedMessage = { channel, ts: this.nextTs(), text, user, history: [], ...(threadTs ? { threadTs } : {}), ...posted };
    this.messages.push(message);
    this.changed();
    return message;
  }

  private readonly responseUrls = new Map<string, { channel: string; user: string; uses: number }>();

  /** A `response_url` for a slash command or click by `user` in `channel`, as Slack hands one out. */
  responseUrl(channel: string, user: string): string {
    const id = randomBytes(9).toString('hex');
    this.responseUrls.set(id, { channel, user, uses: 0 });
    return `${this.url}/response/${id}`;
  }

  private changed() {
    for (const listener of this.listeners) listener();
  }

  private nextTs(): string {
    const seconds = Math.floor(Date.now() / 1000);
    this.clock += 1;
    return `${seconds}.${String(this.clock).padStart(6, '0')}`;
  }

  /** A post to a response URL: shown to its person only, at most 5 times, as Slack allows. */
  private response(id: string, raw: string, res: ServerResponse) {
    const target = this.responseUrls.get(id);
    if (!target || target.uses >= 5) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('used_url');
      return;
    }
    let body: { text?: string; blocks?: unknown[] };
    try {
      body = JSON.parse(raw) as typeof body;
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('invalid_payload');
      return;
    }
    if (body.blocks !== undefined && (!Array.isArray(body.blocks) || blockKitErrors(body.blocks).length)) {
      // Slack answers a response_url post with plain text, 400 for blocks it refuses.
      res.writeHead(400, { 'content-type': 'text/plain' }).end(Array.isArray(body.blocks) ? 'invalid_blocks' : 'invalid_blocks_format');
      return;
    }
    target.uses++;
    this.ephemerals.push({ channel: target.channel, ts: this.nextTs(), user: target.user, text: String(body.text ?? ''), ...(body.blocks ? { blocks: body.blocks } : {}), viaResponseUrl: true });
    this.changed();
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const raw = (await readBody(req)).toString('utf8');
    if (url.pathname === '/sandbox/customer-message' && req.method === 'POST') {
      // Not a Slack API: the sandbox's way to put a customer's own message in a channel.
      const input = JSON.parse(raw || '{}') as { channel?: string; user?: string; text?: string; threadTs?: string };
      if (!input.channel || !input.text) return sendJson(res, 400, { error: 'channel and text are required' });
      const message = this.recordCustomerMessage(input.channel, input.user ?? 'UCUSTOMER', input.text, input.threadTs);
      return sendJson(res, 200, { ts: message.ts });
    }
    if (url.pathname === '/sandbox/messages' && req.method === 'GET') return sendJson(res, 200, { messages: this.messages, ephemerals: this.ephemerals });
    if (url.pathname === '/sandbox/delivers' && req.method === 'POST') {
      // Not a Slack API: whether Slack would send this event to the app the manifest describes.
      return sendJson(res, 200, this.delivers((parseJsonArg(raw) ?? {}) as { type?: unknown; channel_type?: unknown }));
    }
    if (url.pathname.startsWith('/response/') && req.method === 'POST') return this.response(url.pathname.slice('/response/'.length), raw, res);
    const method = url.pathname.replace(/^\/api\//, '');
    const flying = (this.inFlight.get(method) ?? 0) + 1;
    this.inFlight.set(method, flying);
    this.peakInFlight.set(method, Math.max(this.peakInFlight.get(method) ?? 0, flying));
    res.once('close', () => this.inFlight.set(method, (this.inFlight.get(method) ?? 1) - 1));
    const args = parseArgs(req.headers['content-type'] ?? '', raw, url.searchParams);
    if (this.latencyMs) await sleep(this.latencyMs);
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '') || String(args.token ?? '');
    if (token !== this.options.botToken) return sendJson(res, 200, { ok: false, error: 'invalid_auth' });
    const channel = typeof args.channel === 'string' ? args.channel : undefined;
    const call: RecordedCall = { method, ...(channel ? { channel } : {}), args, at: Date.now(), arrivedAt: performance.now() };
    this.calls.push(call);
    const scopeHeaders = { 'x-oauth-scopes': this.scopes.join(',') };
    const scopes = scopeCheck(method, this.scopes);
    if (scopes.allowed === false) {
      return sendJson(res, 200, { ok: false, error: 'missing_scope', needed: scopes.needed, provided: scopes.provided }, { ...scopeHeaders, 'x-accepted-oauth-scopes': scopes.needed });
    }

    const fault = this.faults.take(method);
    if (fault?.kind === 'status') {
      const headers: Record<string, string> = fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {};
      if (fault.status === 429 && fault.retryAfterSeconds !== undefined) call.retryAfterSeconds = fault.retryAfterSeconds;
      return sendJson(res, fault.status, { ok: false, error: fault.status === 429 ? 'ratelimited' : 'internal_error' }, headers);
    }
    if (fault?.kind === 'timeout') {
      await sleep(fault.ms);
    }
    if (fault?.kind === 'slack-error') return sendJson(res, 200, { ok: false, error: fault.error });
    const limited = this.rateLimits?.take(slackLimitKeys(method, channel));
    if (limited && !limited.allowed) {
      call.retryAfterSeconds = Number(retryAfterHeader(limited.waitSeconds));
      return sendJson(res, 429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(call.retryAfterSeconds) });
    }
    if (channel && this.archived.has(channel) && method.startsWith('chat.')) return sendJson(res, 200, { ok: false, error: 'is_archived' });
    if (channel && this.notMember.has(channel) && method.startsWith('chat.')) return sendJson(res, 200, { ok: false, error: 'not_in_channel' });
    sendJson(res, 200, this.answer(method, args, channel), scopeHeaders);
  }

  private answer(method: string, args: Record<string, unknown>, channel: string | undefined): Record<string, unknown> {
    const blocks = parseBlocks(args.blocks);
    if (BLOCK_METHODS.has(method) && args.blocks !== undefined) {
      if (!blocks) return { ok: false, error: 'invalid_blocks_format' };
      const errors = blockKitErrors(blocks);
      if (errors.length) return { ok: false, error: 'invalid_blocks', errors, response_metadata: { messages: errors.map((e) => `[ERROR] ${e}`) } };
    }
    switch (method) {
      case 'auth.test':
        return { ok: true, url: this.options.workspaceUrl ?? 'https://sandbox.slack.test/', user_id: STAND_IN_BOT_USER_ID, team_id: STAND_IN_TEAM_ID, bot_id: STAND_IN_BOT_ID };
      case 'chat.postMessage': {
        if (!channel) return { ok: false, error: 'channel_not_found' };
        const metadata = parseJsonArg(args.metadata) as RecordedMessage['metadata'];
        const message: RecordedMessage = {
          channel,
          ts: this.nextTs(),
          text: String(args.text ?? ''),
          user: STAND_IN_BOT_USER_ID,
          botId: STAND_IN_BOT_ID,
          appId: STAND_IN_APP_ID,
          history: [],
          ...(blocks ? { blocks } : {}),
          ...(typeof args.thread_ts === 'string' ? { threadTs: args.thread_ts } : {}),
          ...(metadata ? { metadata } : {}),
        };
        this.messages.push(message);
        this.options.print?.(`[${channel}]${message.threadTs ? ' (thread)' : ''} ${message.text}`);
        this.changed();
        return { ok: true, channel, ts: message.ts, message: { text: message.text, ts: message.ts } };
      }
      case 'chat.update': {
        const message = this.messages.find((m) => m.channel === channel && m.ts === args.ts);
        if (!message) return { ok: false, error: 'message_not_found' };
        message.history.push({ text: message.text, ...(message.blocks ? { blocks: message.blocks } : {}) });
        message.text = String(args.text ?? message.text);
        if (blocks) message.blocks = blocks;
        this.options.print?.(`[${channel}] (updated) ${message.text}`);
        this.changed();
        return { ok: true, channel, ts: message.ts };
      }
      case 'chat.postEphemeral': {
        if (!channel) return { ok: false, error: 'channel_not_found' };
        const ephemeral: RecordedEphemeral = {
          channel,
          ts: this.nextTs(),
          user: String(args.user ?? ''),
          text: String(args.text ?? ''),
          ...(blocks ? { blocks } : {}),
          ...(typeof args.thread_ts === 'string' ? { threadTs: args.thread_ts } : {}),
        };
        this.ephemerals.push(ephemeral);
        this.options.print?.(`[${channel}] (only @${ephemeral.user} sees) ${ephemeral.text}`);
        this.changed();
        return { ok: true, message_ts: ephemeral.ts };
      }
      case 'conversations.replies': {
        const ts = String(args.ts ?? '');
        const oldest = Number(args.oldest ?? 0);
        const messages = this.messages.filter((m) => m.channel === channel && (m.ts === ts || m.threadTs === ts) && Number(m.ts) >= oldest);
        return { ok: true, messages: messages.map(asSlackMessage), has_more: false };
      }
      case 'conversations.history': {
        const oldest = Number(args.oldest ?? 0);
        const messages = this.messages.filter((m) => m.channel === channel && !m.threadTs && Number(m.ts) >= oldest);
        return { ok: true, messages: messages.map(asSlackMessage).reverse(), has_more: false };
      }
      case 'conversations.info': {
        if (!channel) return { ok: false, error: 'channel_not_found' };
        return { ok: true, channel: { id: channel, name: this.options.channelNames?.[channel] ?? channel.toLowerCase(), is_member: !this.notMember.has(channel) } };
      }
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }
}

function asSlackMessage(m: RecordedMessage) {
  return { type: 'message', ts: m.ts, text: m.text, user: m.user, ...(m.botId ? { bot_id: m.botId } : {}), ...(m.appId ? { app_id: m.appId } : {}), ...(m.threadTs ? { thread_ts: m.threadTs } : {}), ...(m.metadata ? { metadata: m.metadata } : {}) };
}

function parseJsonArg(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

function parseBlocks(value: unknown): unknown[] | undefined {
  const parsed = parseJsonArg(value);
  return Array.isArray(parsed) ? parsed : undefined;
}

function parseArgs(contentType: string, raw: string, query: URLSearchParams): Record<string, unknown> {
  const args: Record<string, unknown> = Object.fromEntries(query);
  if (contentType.includes('application/json')) {
    Object.assign(args, parseJsonArg(raw) ?? {});
  } else {
    for (const [key, value] of new URLSearchParams(raw)) args[key] = value;
  }
  return args;
}
