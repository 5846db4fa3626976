import type { BucketRule, RateLimitRules, Rule, WindowRule } from '../../local/stand-ins/rate-limits';

/**
 * The least time Slack's and PagerDuty's rate limits allow for each step of a storm
 * (bench/storm.ts), from the limits the stand-ins enforce (local/stand-ins/rate-limits.ts) and the
 * storm's shape alone: how many channels, own routing keys or one shared, how the escalations are
 * spread, and how long one call to a stand-in takes. Nothing of pd-router's own behaviour is in
 * them, so a measured time over its bound is what pd-router (or the one-process harness) adds.
 *
 * Each bound is a true lower bound: every limit starts unused (a full bucket, an empty window) at
 * the step's start, calls are served in the order they become possible (for unit calls under one
 * limit, serving in release order gives every call its earliest possible time), and a step with
 * calls under several limits is bounded by the slowest limit taken alone. Only the calls a step
 * cannot do without are counted: a confirmation needs its PagerDuty trigger and one post; a status
 * update, a resolution and a re-render one Slack call per channel.
 */

/** The earliest time each of `readyMs` (sorted) can be allowed by a token bucket full at `startMs`. */
function bucketTimes(rule: BucketRule, readyMs: readonly number[], startMs: number): number[] {
  let tokens = rule.burst;
  let at = startMs;
  let last = -Infinity;
  return readyMs.map((ready) => {
    let t = Math.max(ready, last, at);
    tokens = Math.min(rule.burst, tokens + ((t - at) / 1000) * rule.perSecond);
    if (tokens < 1) {
      t += ((1 - tokens) / rule.perSecond) * 1000;
      tokens = 1;
    }
    tokens -= 1;
    at = t;
    last = t;
    return t;
  });
}

/** The same under "at most `limit` calls in any `windowSeconds`": call k no sooner than call k − limit leaves the window. */
function windowTimes(rule: WindowRule, readyMs: readonly number[]): number[] {
  const times: number[] = [];
  for (const [k, ready] of readyMs.entries()) {
    const freedAt = k >= rule.limit ? times[k - rule.limit]! + rule.windowSeconds * 1000 : -Infinity;
    times.push(Math.max(ready, freedAt, k ? times[k - 1]! : -Infinity));
  }
  return times;
}

/**
 * The earliest times at which calls that become possible at `readyMs` can be made under one
 * limit, unused at `startMs` (by default the first call's time). Returned in ready order.
 */
export function earliestCallTimes(rule: Rule, readyMs: readonly number[], startMs = Math.min(...readyMs)): number[] {
  const order = readyMs.map((ready, index) => ({ ready, index })).sort((a, b) => a.ready - b.ready || a.index - b.index);
  const sorted = order.map((o) => o.ready);
  const times = rule.kind === 'bucket' ? bucketTimes(rule, sorted, startMs) : windowTimes(rule, sorted);
  const result = new Array<number>(readyMs.length);
  order.forEach((o, i) => (result[o.index] = times[i]!));
  return result;
}

/** When the last of `calls` calls, all possible at 0, can be made under `rule` (ms; 0 when the burst holds them all). */
export function lastCallMs(rule: Rule, calls: number): number {
  if (calls <= 0) return 0;
  return Math.max(...earliestCallTimes(rule, new Array<number>(calls).fill(0), 0));
}

/** The storm's escalations: channel i's request is sent at i × spread / channels (as bench/storm.ts sends them). */
export function escalationTimesMs(channels: number, spreadMs: number): number[] {
  return Array.from({ length: channels }, (_, i) => (i * spreadMs) / channels);
}

export interface StormShape {
  channels: number;
  routingKeys: 'own' | 'shared';
  spreadMs: number;
  /** How long one Slack or PagerDuty call takes (the stand-ins' latency): each step ends with one. */
  callMs: number;
}

export interface StormBounds {
  /** First request → last PagerDuty trigger accepted. */
  lastPagedMs: number;
  /** First request → last confirmation posted (its trigger, then one post per channel). */
  lastConfirmedMs: number;
  /** Status update published → posted in the last channel (one post per channel). */
  statusUpdateMs: number;
  /** Resolve → resolution posted in the last channel (one post per channel). */
  resolutionMs: number;
  /** Resolve → the last confirmation re-rendered as resolved (one chat.update per channel). */
  rerenderMs: number;
  /**
   * For context, not a bound: the last confirmation if each channel's "incident opened" post (its
   * incident.triggered webhook) had to go out beside its confirmation, as pd-router posts it.
   */
  lastConfirmedWithOpenedPostsMs: number;
}

/** Every channel's one post of a step, all possible at 0: the workspace limit and each channel's own. */
function postsMs(rules: RateLimitRules, channels: number, perChannel = 1): number {
  return Math.max(lastCallMs(rules['slack.chat.postMessage.workspace'], channels * perChannel), lastCallMs(rules['slack.chat.postMessage.channel'], perChannel));
}

/** The bounds of one storm run, in milliseconds (see StormBounds). */
export function stormBounds(rules: RateLimitRules, shape: StormShape): StormBounds {
  const requests = escalationTimesMs(shape.channels, shape.spreadMs);
  const triggerRule = rules['pagerduty.events.routingKey'];
  // Own keys: one trigger per key, so the per-key limit never waits.
  const triggers = shape.routingKeys === 'shared' ? earliestCallTimes(triggerRule, requests, 0) : requests;
  const triggered = triggers.map((t) => t + shape.callMs);
  // A channel's posts of one step (its confirmation, and with it its "incident opened" post) also
  // pass its own limit; they are possible from its trigger on.
  const confirmations = (readyMs: number[], perChannel: number) => {
    const workspace = earliestCallTimes(rules['slack.chat.postMessage.workspace'], readyMs, 0);
    const channel = Math.max(...readyMs) + lastCallMs(rules['slack.chat.postMessage.channel'], perChannel);
    return Math.max(...workspace, channel) + shape.callMs;
  };
  const posts = postsMs(rules, shape.channels) + shape.callMs;
  return {
    lastPagedMs: Math.max(...triggered),
    lastConfirmedMs: confirmations(triggered, 1),
    statusUpdateMs: posts,
    resolutionMs: posts,
    rerenderMs: lastCallMs(rules['slack.chat.update.workspace'], shape.channels) + shape.callMs,
    lastConfirmedWithOpenedPostsMs: confirmations([...triggered, ...triggered], 2),
  };
}
