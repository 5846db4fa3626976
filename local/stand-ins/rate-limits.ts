import type { ServerResponse } from 'node:http';
import { sendJson } from './http-util';

/**
 * The documented rate limits of Slack's and PagerDuty's APIs, for the stand-ins. Off unless a
 * stand-in is given `rateLimits` (or the local stack `PD_ROUTER_RATE_LIMITS=on`): the tests and the
 * sandbox would otherwise wait on them.
 *
 * What is documented, and what is chosen here where the documentation gives no number:
 * - Slack `chat.postMessage`: "1 per second per channel, short bursts >1 allowed", plus an
 *   unnumbered workspace-wide limit. Here: a bucket of 3 per channel refilled at 1/s, and a
 *   workspace-wide bucket of 20 refilled at 10/s (600 a minute) — our choice, stated in
 *   docs/performance.md. Refusals are HTTP 429 with `Retry-After` in whole seconds.
 * - Slack `chat.update`: Tier 3, "50+ per minute", per method per workspace, "sporadic bursts
 *   are welcome". Here: a bucket of 10 refilled at 50 a minute.
 * - PagerDuty Events API v2: "approximately 120 calls/minute per integration key, calculated over
 *   a 60 second window looking back from the current time"; the answer is a 429 and the event is
 *   not ingested. No `Retry-After` is documented, so none is sent.
 * - PagerDuty REST API: 960 requests a minute per API key; 429 with `ratelimit-*` headers.
 *
 * A refused call does not use up the limit (Slack and PagerDuty do not ingest it either).
 */

/** A token bucket: `burst` calls at once, refilled at `perSecond`. */
export interface BucketRule {
  kind: 'bucket';
  burst: number;
  perSecond: number;
}

/** At most `limit` calls in any window of `windowSeconds`, looking back from now. */
export interface WindowRule {
  kind: 'window';
  limit: number;
  windowSeconds: number;
}

export type Rule = BucketRule | WindowRule;

/** Every limit the stand-ins enforce, by name; a storm or a test may override any of them. */
export interface RateLimitRules {
  'slack.chat.postMessage.channel': Rule;
  'slack.chat.postMessage.workspace': Rule;
  'slack.chat.update.workspace': Rule;
  'pagerduty.events.routingKey': Rule;
  'pagerduty.rest.token': Rule;
}

export type LimitName = keyof RateLimitRules;

export const DOCUMENTED_LIMITS: RateLimitRules = {
  'slack.chat.postMessage.channel': { kind: 'bucket', burst: 3, perSecond: 1 },
  'slack.chat.postMessage.workspace': { kind: 'bucket', burst: 20, perSecond: 10 },
  'slack.chat.update.workspace': { kind: 'bucket', burst: 10, perSecond: 50 / 60 },
  'pagerduty.events.routingKey': { kind: 'window', limit: 120, windowSeconds: 60 },
  'pagerduty.rest.token': { kind: 'window', limit: 960, windowSeconds: 60 },
};

/** How a stand-in is told to enforce limits: `true` for the documented ones, or overrides. */
export type RateLimitSetting = boolean | Partial<RateLimitRules> | RateLimiter | undefined;

/** One call's verdict: allowed, or refused with the seconds until it would be allowed. */
export type Verdict = { allowed: true } | { allowed: false; waitSeconds: number; limit: LimitName };

/** What each limit allowed and refused so far (the storm reports 429s from here). */
export type RateLimitCounts = Record<LimitName, { allowed: number; refused: number }>;

interface BucketState {
  tokens: number;
  at: number;
}

/**
 * The limiter itself: a pure function of the rules, the calls so far and the clock. One call may
 * have to pass several limits at once (a post: its channel's and the workspace's); it is counted
 * against all of them or none.
 */
export class RateLimiter {
  readonly rules: RateLimitRules;
  private readonly buckets = new Map<string, BucketState>();
  private readonly windows = new Map<string, number[]>();
  private readonly counts = new Map<LimitName, { allowed: number; refused: number }>();

  constructor(overrides: Partial<RateLimitRules> = {}, private readonly now: () => number = Date.now) {
    this.rules = { ...DOCUMENTED_LIMITS, ...overrides };
  }

  /** Check `keys` (limit name → key within it, e.g. the channel) and take one call from each when all allow it. */
  take(keys: Partial<Record<LimitName, string>>): Verdict {
    const now = this.now();
    const entries = Object.entries(keys) as [LimitName, string][];
    const waits = entries.map(([limit, key]) => ({ limit, wait: this.waitSeconds(limit, key, now) })).filter((w) => w.wait > 0);
    if (waits.length) {
      for (const { limit } of waits) this.countOf(limit).refused += 1;
      const longest = waits.reduce((a, b) => (b.wait > a.wait ? b : a));
      return { allowed: false, waitSeconds: longest.wait, limit: longest.limit };
    }
    for (const [limit, key] of entries) {
      this.consume(limit, key, now);
      this.countOf(limit).allowed += 1;
    }
    return { allowed: true };
  }

  /** Calls allowed and refused per limit since the start. */
  get totals(): RateLimitCounts {
    return Object.fromEntries((Object.keys(this.rules) as LimitName[]).map((limit) => [limit, { ...this.countOf(limit) }])) as RateLimitCounts;
  }

  private countOf(limit: LimitName) {
    let count = this.counts.get(limit);
    if (!count) this.counts.set(limit, (count = { allowed: 0, refused: 0 }));
    return count;
  }

  /** Seconds until one more call under `limit` for `key` is allowed; 0 when it is now. */
  private waitSeconds(limit: LimitName, key: string, now: number): number {
    const rule = this.rules[limit];
    const id = `${limit}\u0000${key}`;
    if (rule.kind === 'bucket') {
      const tokens = this.refilled(rule, this.buckets.get(id), now);
      return tokens >= 1 ? 0 : (1 - tokens) / rule.perSecond;
    }
    const calls = this.recent(rule, id, now);
    if (calls.length < rule.limit) return 0;
    // The oldest call that must leave the window before one more fits.
    return (calls[calls.length - rule.limit]! + rule.windowSeconds * 1000 - now) / 1000;
  }

  private consume(limit: LimitName, key: string, now: number): void {
    const rule = this.rules[limit];
    const id = `${limit}\u0000${key}`;
    if (rule.kind === 'bucket') {
      this.buckets.set(id, { tokens: this.refilled(rule, this.buckets.get(id), now) - 1, at: now });
      return;
    }
    const calls = this.recent(rule, id, now);
    calls.push(now);
    this.windows.set(id, calls);
  }

  private refilled(rule: BucketRule, state: BucketState | undefined, now: number): number {
    if (!state) return rule.burst;
    return Math.min(rule.burst, state.tokens + ((now - state.at) / 1000) * rule.perSecond);
  }

  private recent(rule: WindowRule, id: string, now: number): number[] {
    const calls = (this.windows.get(id) ?? []).filter((at) => at > now - rule.windowSeconds * 1000);
    this.windows.set(id, calls);
    return calls;
  }
}

/** The limiter a stand-in's option asks for, or undefined when limits are off. */
export function rateLimiterFor(setting: RateLimitSetting): RateLimiter | undefined {
  if (!setting) return undefined;
  if (setting instanceof RateLimiter) return setting;
  return new RateLimiter(setting === true ? {} : setting);
}

/** Slack's `Retry-After`: whole seconds, at least 1. */
export function retryAfterHeader(waitSeconds: number): string {
  return String(Math.max(1, Math.ceil(waitSeconds)));
}

/** Which of Slack's limits a Web API call counts against (none for methods not limited here). */
export function slackLimitKeys(method: string, channel: string | undefined): Partial<Record<LimitName, string>> {
  if (method === 'chat.postMessage') return { 'slack.chat.postMessage.workspace': 'workspace', ...(channel ? { 'slack.chat.postMessage.channel': channel } : {}) };
  if (method === 'chat.update') return { 'slack.chat.update.workspace': 'workspace' };
  return {};
}

/**
 * Answer a PagerDuty call its limit refuses, as PagerDuty does; true when it was refused. The
 * Events API is limited per routing key (read from the raw body: a body that does not parse is
 * the 400 the stand-in answers anyway) and sends no `Retry-After`; the REST API is limited per
 * API key and says when its window resets.
 */
export function pagerDutyLimited(limiter: RateLimiter | undefined, api: 'events' | 'rest', keyOrBody: string, response: ServerResponse): boolean {
  if (!limiter) return false;
  if (api === 'events') {
    let routingKey: unknown;
    try {
      routingKey = (JSON.parse(keyOrBody) as { routing_key?: unknown })?.routing_key;
    } catch {
      return false;
    }
    if (typeof routingKey !== 'string') return false;
    const verdict = limiter.take({ 'pagerduty.events.routingKey': routingKey });
    if (verdict.allowed) return false;
    sendJson(response, 429, PAGERDUTY_EVENTS_THROTTLED);
    return true;
  }
  const verdict = limiter.take({ 'pagerduty.rest.token': keyOrBody });
  if (verdict.allowed) return false;
  const rule = limiter.rules['pagerduty.rest.token'];
  sendJson(response, 429, { error: { message: 'Rate Limit Exceeded', code: 2020 } }, {
    'ratelimit-limit': String(rule.kind === 'window' ? rule.limit : rule.burst),
    'ratelimit-remaining': '0',
    'ratelimit-reset': retryAfterHeader(verdict.waitSeconds),
  });
  return true;
}

/** The Events API's 429 body, as PagerDuty's own client tests show it (docs: "429 - Request Limit Exceeded"). */
export const PAGERDUTY_EVENTS_THROTTLED = {
  status: 'throttle exceeded',
  message: 'Requests for this service are arriving too quickly.  Please retry later.',
  errors: ['Enhance Your Calm.'],
};
