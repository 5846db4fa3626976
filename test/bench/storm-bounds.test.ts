import { DOCUMENTED_LIMITS, type RateLimitRules } from '../../local/stand-ins/rate-limits';
import { earliestCallTimes, escalationTimesMs, lastCallMs, stormBounds } from '../../bench/lib/storm-bounds';

describe('the least time a rate limit allows', () => {
  it('a token bucket: the burst at once, then one call per refill', () => {
    // burst 2, 1 a second, four calls possible at 0: two at once, then at 1 s and 2 s.
    expect(earliestCallTimes({ kind: 'bucket', burst: 2, perSecond: 1 }, [0, 0, 0, 0], 0)).toEqual([0, 0, 1000, 2000]);
    // A call possible only later finds the bucket refilled (never above its burst).
    expect(earliestCallTimes({ kind: 'bucket', burst: 1, perSecond: 1 }, [0, 5000, 5000], 0)).toEqual([0, 5000, 6000]);
  });

  it('a sliding window: call k waits for call k − limit to leave it', () => {
    // 2 in any 10 s: 0, 1 s, then 10 s and 11 s (when the first two leave), then 20 s.
    expect(earliestCallTimes({ kind: 'window', limit: 2, windowSeconds: 10 }, [0, 1000, 2000, 3000, 4000], 0)).toEqual([0, 1000, 10_000, 11_000, 20_000]);
  });

  it('answers in the order the calls were given, whatever order they become possible in', () => {
    expect(earliestCallTimes({ kind: 'bucket', burst: 1, perSecond: 1 }, [3000, 0], 0)).toEqual([3000, 0]);
  });

  it("Slack's documented limits, by hand: 300 posts at 600 a minute with a burst of 20 take 28 s; 300 re-renders at 50 a minute with a burst of 10, 348 s", () => {
    expect(lastCallMs(DOCUMENTED_LIMITS['slack.chat.postMessage.workspace'], 300)).toBeCloseTo(28_000, 6);
    expect(lastCallMs(DOCUMENTED_LIMITS['slack.chat.update.workspace'], 300)).toBeCloseTo(348_000, 6);
    expect(lastCallMs(DOCUMENTED_LIMITS['slack.chat.postMessage.workspace'], 20)).toBe(0);
  });
});

describe("a storm's bounds", () => {
  // Small limits, so every figure can be worked out by hand (each step ends with one 100 ms call).
  const rules: RateLimitRules = {
    'slack.chat.postMessage.channel': { kind: 'bucket', burst: 3, perSecond: 1 },
    'slack.chat.postMessage.workspace': { kind: 'bucket', burst: 1, perSecond: 1 },
    'slack.chat.update.workspace': { kind: 'bucket', burst: 1, perSecond: 0.5 },
    'pagerduty.events.routingKey': { kind: 'window', limit: 2, windowSeconds: 10 },
    'pagerduty.rest.token': { kind: 'window', limit: 960, windowSeconds: 60 },
  };
  const shape = { channels: 4, spreadMs: 4000, callMs: 100 };

  it('spreads the requests as the storm sends them', () => {
    expect(escalationTimesMs(4, 4000)).toEqual([0, 1000, 2000, 3000]);
  });

  it('one shared key, by hand', () => {
    // Requests at 0, 1, 2, 3 s; 2 triggers in any 10 s: accepted at 0, 1, 10, 11 s, answered 100 ms later.
    // Confirmations, one a second from a bucket of 1: 0.1, 1.1, 10.1, 11.1 s, the last posted at 11.2 s.
    // Status update and resolution: 4 posts at 1 a second, the last made at 3 s, posted at 3.1 s.
    // Re-renders: 4 updates at one per 2 s, the last made at 6 s, done at 6.1 s.
    // With each channel's "incident opened" post beside its confirmation: posts possible at
    // 0.1 ×2, 1.1 ×2, 10.1 ×2, 11.1 ×2 go out at 0.1, 1.1, 2.1, 3.1, 10.1, 11.1, 12.1, 13.1 s → 13.2 s.
    expect(stormBounds(rules, { ...shape, routingKeys: 'shared' })).toEqual({
      lastPagedMs: 11_100,
      lastConfirmedMs: 11_200,
      statusUpdateMs: 3100,
      resolutionMs: 3100,
      rerenderMs: 6100,
      lastConfirmedWithOpenedPostsMs: 13_200,
    });
  });

  it('own keys, by hand: no trigger waits, each confirmation one call after its trigger', () => {
    const bounds = stormBounds(rules, { ...shape, routingKeys: 'own' });
    expect(bounds.lastPagedMs).toBe(3100);
    expect(bounds.lastConfirmedMs).toBe(3200);
  });

  it('a channel with more posts in a step than its own burst waits for its own limit', () => {
    const tight: RateLimitRules = { ...rules, 'slack.chat.postMessage.channel': { kind: 'bucket', burst: 1, perSecond: 1 }, 'slack.chat.postMessage.workspace': { kind: 'bucket', burst: 100, perSecond: 100 } };
    // One channel, its confirmation and its "incident opened" post: the second a second after the first.
    expect(stormBounds(tight, { channels: 1, spreadMs: 0, callMs: 100, routingKeys: 'own' }).lastConfirmedWithOpenedPostsMs).toBe(1200);
  });

  it("the documented limits at 300 channels in 10 s, by hand (fluid approximation, within 50 ms)", () => {
    const own = stormBounds(DOCUMENTED_LIMITS, { channels: 300, spreadMs: 10_000, callMs: 100, routingKeys: 'own' });
    // Confirmations possible 30 a second from 0.1 s; the bucket of 20 at 10 a second runs dry after
    // 1 s (30 posts), the other 270 take 27 s: the last made at 28.1 s, posted at 28.2 s.
    expect(Math.abs(own.lastConfirmedMs - 28_200)).toBeLessThan(50);
    expect(own.statusUpdateMs).toBeCloseTo(28_100, 6);
    expect(own.rerenderMs).toBeCloseTo(348_100, 6);
    const shared = stormBounds(DOCUMENTED_LIMITS, { channels: 300, spreadMs: 10_000, callMs: 100, routingKeys: 'shared' });
    // 120 triggers at once, 120 a minute later, the last 60 from 120 s: request 59 (at 1.967 s) + 120 s.
    expect(shared.lastPagedMs).toBeCloseTo(59 * (10_000 / 300) + 120_000 + 100, 6);
    // The last 60 confirmations possible 30 a second from 120.1 s: dry after 1 s, 30 more at 10 a second.
    expect(Math.abs(shared.lastConfirmedMs - 124_200)).toBeLessThan(50);
  });
});
