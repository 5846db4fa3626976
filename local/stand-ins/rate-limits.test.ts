import { DOCUMENTED_LIMITS, RateLimiter, retryAfterHeader, slackLimitKeys } from './rate-limits';

/** A limiter on a clock the test moves. */
function limiterAt(overrides: ConstructorParameters<typeof RateLimiter>[0] = {}) {
  let now = 1_000_000;
  const limiter = new RateLimiter(overrides, () => now);
  return { limiter, advance: (ms: number) => (now += ms) };
}

const post = (channel: string) => slackLimitKeys('chat.postMessage', channel);

describe('the stand-ins’ rate limiter', () => {
  it('lets a channel post a short burst, then about one message a second, and says how long to wait', () => {
    const { limiter, advance } = limiterAt();
    const burst = DOCUMENTED_LIMITS['slack.chat.postMessage.channel'];
    expect(burst).toEqual({ kind: 'bucket', burst: 3, perSecond: 1 });
    for (let i = 0; i < 3; i++) expect(limiter.take(post('CA')).allowed).toBe(true);
    const refused = limiter.take(post('CA'));
    expect(refused).toEqual({ allowed: false, waitSeconds: 1, limit: 'slack.chat.postMessage.channel' });
    advance(400);
    expect(limiter.take(post('CA'))).toMatchObject({ allowed: false, waitSeconds: expect.closeTo(0.6, 5) });
    advance(600);
    expect(limiter.take(post('CA')).allowed).toBe(true);
    expect(limiter.take(post('CA')).allowed).toBe(false);
  });

  it('limits each channel on its own: one busy channel does not slow another', () => {
    const { limiter } = limiterAt();
    for (let i = 0; i < 3; i++) limiter.take(post('CA'));
    expect(limiter.take(post('CA')).allowed).toBe(false);
    expect(limiter.take(post('CB')).allowed).toBe(true);
  });

  it('caps posts across the workspace too, and a refused call uses up neither limit', () => {
    const { limiter, advance } = limiterAt({ 'slack.chat.postMessage.workspace': { kind: 'bucket', burst: 4, perSecond: 2 } });
    for (const channel of ['C1', 'C2', 'C3', 'C4']) expect(limiter.take(post(channel)).allowed).toBe(true);
    expect(limiter.take(post('C5'))).toEqual({ allowed: false, waitSeconds: 0.5, limit: 'slack.chat.postMessage.workspace' });
    advance(500);
    // C5's refused attempt did not spend its own channel's burst.
    expect(limiter.take(post('C5')).allowed).toBe(true);
    expect(limiter.totals['slack.chat.postMessage.workspace']).toEqual({ allowed: 5, refused: 1 });
    expect(limiter.totals['slack.chat.postMessage.channel']).toEqual({ allowed: 5, refused: 0 });
  });

  it('allows chat.update about 50 a minute per workspace after a burst of 10', () => {
    const { limiter, advance } = limiterAt();
    for (let i = 0; i < 10; i++) expect(limiter.take(slackLimitKeys('chat.update', `C${i}`)).allowed).toBe(true);
    const refused = limiter.take(slackLimitKeys('chat.update', 'C99'));
    expect(refused).toMatchObject({ allowed: false, limit: 'slack.chat.update.workspace', waitSeconds: expect.closeTo(1.2, 5) });
    advance(1200);
    expect(limiter.take(slackLimitKeys('chat.update', 'C99')).allowed).toBe(true);
  });

  it('does not limit methods it has no rule for', () => {
    const { limiter } = limiterAt();
    expect(slackLimitKeys('conversations.replies', 'CA')).toEqual({});
    for (let i = 0; i < 100; i++) expect(limiter.take(slackLimitKeys('conversations.replies', 'CA')).allowed).toBe(true);
  });

  it('counts PagerDuty events per routing key over the last 60 seconds, and knows when the oldest leaves', () => {
    const { limiter, advance } = limiterAt();
    const key = (routingKey: string) => ({ 'pagerduty.events.routingKey': routingKey }) as const;
    for (let i = 0; i < 120; i++) {
      expect(limiter.take(key('R1')).allowed).toBe(true);
      advance(250); // 120 events over 30 s
    }
    // 30 s after the first event: it leaves the window in another 30 s.
    expect(limiter.take(key('R1'))).toEqual({ allowed: false, waitSeconds: 30, limit: 'pagerduty.events.routingKey' });
    expect(limiter.take(key('R2')).allowed).toBe(true);
    advance(30_000);
    expect(limiter.take(key('R1')).allowed).toBe(true);
    expect(limiter.take(key('R1')).allowed).toBe(false);
  });

  it('tells Slack’s Retry-After in whole seconds, rounded up, at least 1', () => {
    expect(retryAfterHeader(0.2)).toBe('1');
    expect(retryAfterHeader(1)).toBe('1');
    expect(retryAfterHeader(1.01)).toBe('2');
    expect(retryAfterHeader(29.5)).toBe('30');
  });
});
