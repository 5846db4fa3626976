import { startTestDynamo } from '../../test/support/dynamo';
import { RateLimitedError, WaitForTurnError } from '../errors';
import { atPostTurn, makePacer, postAtTurn, postTurn, type Pacer } from './pacer';

const T0 = Date.parse('2026-11-30T10:00:00.000Z');

describe('paced turns under a shared rate limit (on dynalite)', () => {
  let env: Awaited<ReturnType<typeof startTestDynamo>>;
  let pacer: Pacer;

  beforeAll(async () => {
    env = await startTestDynamo();
    // 30 a minute: one turn every 2 s.
    pacer = makePacer(env.db, env.dynamo.tableName, { perMinute: 30 });
  });
  afterAll(() => env.stop());

  it('an idle lane gives its turn at once', async () => {
    expect(await pacer.turn('idle-lane', T0)).toBe(T0);
  });

  it('callers racing for one lane each get their own turn, the limit\'s interval apart', async () => {
    const turns = await Promise.all(Array.from({ length: 12 }, () => pacer.turn('busy-lane', T0)));
    expect([...turns].sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => T0 + i * 2000));
  });

  it('a lane whose turns have all passed starts again at once; a later caller queues behind the turns still ahead', async () => {
    await Promise.all([0, 1, 2].map(() => pacer.turn('lane-c', T0)));
    // Turns at T0, T0+2 s, T0+4 s: at T0+3 s one is still ahead, so the next turn is T0+6 s.
    expect(await pacer.turn('lane-c', T0 + 3000)).toBe(T0 + 6000);
    // Long after the last turn, nothing is waiting: now.
    expect(await pacer.turn('lane-c', T0 + 60_000)).toBe(T0 + 60_000);
  });

  it('lanes are independent (one workspace\'s storm does not slow another)', async () => {
    await Promise.all([0, 1, 2, 3].map(() => pacer.turn('workspace-a', T0)));
    expect(await pacer.turn('workspace-b', T0)).toBe(T0);
  });

  it('a holder keeps the turn it was given: asked again (a retry), it gets the same one, not the next free one', async () => {
    const first = await pacer.keptTurn('lane-kept', 'post-1', T0);
    const second = await pacer.keptTurn('lane-kept', 'post-2', T0);
    expect([first, second]).toEqual([T0, T0 + 2000]);
    // post-1 comes back later: its own turn, though the lane's next free one is T0 + 4 s.
    expect(await pacer.keptTurn('lane-kept', 'post-1', T0 + 3000)).toBe(T0);
    expect(await pacer.keptTurn('lane-kept', 'post-3', T0 + 3000)).toBe(T0 + 4000);
  });

  it("a first attempt keeps a far turn for its return, but not one it waits for in place (a later attempt takes a new one)", async () => {
    // Turns at T0 and T0 + 2 s; the third, T0 + 4 s, is more than 3 s away.
    const near = await pacer.firstTurn('lane-first', 'post-near', T0, 3000);
    const alsoNear = await pacer.firstTurn('lane-first', 'post-also-near', T0, 3000);
    const far = await pacer.firstTurn('lane-first', 'post-far', T0, 3000);
    expect([near, alsoNear, far]).toEqual([T0, T0 + 2000, T0 + 4000]);
    // Coming back, the far one finds its turn, though the lane's next free one is later.
    expect(await pacer.keptTurn('lane-first', 'post-far', T0 + 3500)).toBe(T0 + 4000);
    // The near one kept nothing: a retry (its post refused) queues behind the turns ahead.
    expect(await pacer.keptTurn('lane-first', 'post-near', T0 + 3500)).toBe(T0 + 6000);
  });

  it('a turn spent (its call refused anyway) is not kept: the retry queues behind the turns ahead, and keeps its new one', async () => {
    expect(await pacer.keptTurn('lane-spent', 'post-refused', T0)).toBe(T0);
    expect(await pacer.keptTurn('lane-spent', 'post-other', T0)).toBe(T0 + 2000);
    await pacer.spend('lane-spent', 'post-refused', T0 + 100);
    // Back after Retry-After at T0 + 1 s: not its passed turn at once, but the lane's next.
    expect(await pacer.keptTurn('lane-spent', 'post-refused', T0 + 1000)).toBe(T0 + 4000);
    expect(await pacer.keptTurn('lane-spent', 'post-refused', T0 + 3000)).toBe(T0 + 4000);
  });

  it('a turn waited for in place and spent leaves its holder nothing kept', async () => {
    const near = await pacer.firstTurn('lane-spent-near', 'post-near', T0, 3000);
    await pacer.spend('lane-spent-near', 'post-near', T0);
    expect(await pacer.keptTurn('lane-spent-near', 'post-near', T0 + 1000)).toBe(near + 2000);
  });

  it('a post Slack refused at its turn spends the turn; one made or failing otherwise keeps it', async () => {
    const now = () => T0;
    const refusedTurn = await postTurn(pacer, 'TREFUSED', 'confirm:refused', () => T0);
    await expect(postAtTurn(pacer, 'TREFUSED', 'confirm:refused', refusedTurn, now, () => Promise.reject(new RateLimitedError('slack', 'rate limited', undefined, 1)))).rejects.toBeInstanceOf(RateLimitedError);
    expect(await postTurn(pacer, 'TREFUSED', 'confirm:refused', () => T0 + 1000)).toBe(T0 + 2000);

    const failedTurn = await postTurn(pacer, 'TFAILED', 'confirm:failed', () => T0);
    await expect(postAtTurn(pacer, 'TFAILED', 'confirm:failed', failedTurn, now, () => Promise.reject(new Error('socket hang up')))).rejects.toThrow('socket hang up');
    expect(await postTurn(pacer, 'TFAILED', 'confirm:failed', () => T0 + 1000)).toBe(failedTurn);

    // Not paced (no pacer, or a post that took no turn): posted at once, with no turn to spend.
    await expect(postAtTurn(undefined, 'TUNPACED', 'confirm:unpaced', undefined, now, () => Promise.reject(new RateLimitedError('slack', 'rate limited')))).rejects.toBeInstanceOf(RateLimitedError);
    expect(await postTurn(pacer, 'TUNPACED', 'confirm:unpaced', () => T0)).toBe(T0);
  });

  it('a post back more than a second after its kept turn gives it up for the next free one; back within the second, it keeps it', async () => {
    const at = (ms: number) => () => T0 + ms;
    expect(await postTurn(pacer, 'TBACK', 'pd:back-late', at(0))).toBe(T0);
    expect(await postTurn(pacer, 'TBACK', 'pd:other', at(0))).toBe(T0 + 2000);
    // 0.9 s after it: still its own turn (the lane's next free one is T0 + 4 s).
    expect(await postTurn(pacer, 'TBACK', 'pd:back-late', at(900))).toBe(T0);
    // 1.5 s after it: others who came back as late would all go at once on kept turns, so it
    // queues behind the turns reserved meanwhile, and keeps that one.
    expect(await postTurn(pacer, 'TBACK', 'pd:back-late', at(1500))).toBe(T0 + 4000);
    expect(await postTurn(pacer, 'TBACK', 'pd:back-late', at(3000))).toBe(T0 + 4000);
    // The pacer itself keeps a turn however late unless its caller asks otherwise.
    expect(await pacer.keptTurn('chat.postMessage#TBACK', 'pd:other', T0 + 60_000)).toBe(T0 + 2000);
  });

  it('attempts of one holder back late together agree on one new turn', async () => {
    expect(await postTurn(pacer, 'TBACKRACE', 'pd:raced', () => T0)).toBe(T0);
    const turns = await Promise.all(Array.from({ length: 4 }, () => postTurn(pacer, 'TBACKRACE', 'pd:raced', () => T0 + 5000)));
    expect(new Set(turns).size).toBe(1);
    expect(turns[0]).toBeGreaterThanOrEqual(T0 + 5000);
  });

  it('a post whose turn is too far to wait for in place leaves, and comes back a second before its turn', async () => {
    const left = atPostTurn(T0 + 5500, T0).catch((error: unknown) => error);
    const error = await left;
    expect(error).toBeInstanceOf(WaitForTurnError);
    // The queue counts whole seconds: 5 would bring it back 0.5 s early, 4 brings it back 1.5 s early.
    expect((error as WaitForTurnError).retryAfterSeconds).toBe(4);
    await expect(atPostTurn(T0 + 20, T0)).resolves.toBeUndefined();
  });

  it('two attempts of one holder racing for a turn agree on one', async () => {
    const turns = await Promise.all(Array.from({ length: 4 }, () => pacer.keptTurn('lane-race', 'post-x', T0)));
    expect(new Set(turns).size).toBe(1);
  });

  describe('with a burst (Slack\'s limits are buckets: a burst, then the refill rate)', () => {
    let bursting: Pacer;
    beforeAll(() => {
      // 30 a minute (2 s apart) after a burst of 3.
      bursting = makePacer(env.db, env.dynamo.tableName, { perMinute: 30, burst: 3 });
    });

    it('an idle lane gives the burst at once, then turns at the refill\'s pace', async () => {
      const turns = await Promise.all(Array.from({ length: 6 }, () => bursting.turn('burst-a', T0)));
      expect([...turns].sort((a, b) => a - b)).toEqual([T0, T0, T0, T0 + 2000, T0 + 4000, T0 + 6000]);
    });

    it('a spent burst comes back as the lane refills: one turn at once per 2 s not taken', async () => {
      await Promise.all([0, 1, 2].map(() => bursting.turn('burst-b', T0)));
      // At T0 + 4 s two turns' worth has refilled: two at once, the next 2 s later.
      const turns = [];
      for (let i = 0; i < 3; i++) turns.push(await bursting.turn('burst-b', T0 + 4000));
      expect(turns).toEqual([T0 + 4000, T0 + 4000, T0 + 6000]);
    });

    it('a call that may not burst (a refused call\'s retry) is paced on an idle lane behind the others\' burst', async () => {
      expect(await bursting.turn('burst-c', T0, { burst: false })).toBe(T0);
      expect(await bursting.turn('burst-c', T0, { burst: false })).toBe(T0 + 2000);
      // A bursting caller beside them still finds the burst's room.
      expect(await bursting.turn('burst-c', T0)).toBe(T0);
      expect(await bursting.turn('burst-c', T0, { burst: false })).toBe(T0 + 6000);
    });

    it('a post\'s turn answered late keeps its place from the answer on: callers whose asks waited in the store\'s queue do not all post at once', async () => {
      // A store whose every answer comes 1 s after the ask (a queue at a fan-out's start): the
      // turns are counted from the asks, which are a second old when they are answered.
      const lateDb = { send: (command: unknown) => new Promise((resolve) => setTimeout(resolve, 1000)).then(() => env.db.send(command as never)) } as unknown as typeof env.db;
      // 600 a minute (100 ms apart) after a burst of 3.
      const late = makePacer(lateDb, env.dynamo.tableName, { perMinute: 600, burst: 3 });
      const posts = await Promise.all(
        Array.from({ length: 12 }, async (_, i) => {
          const turnAt = await postTurn(late, 'TLATE', `pd:late-${i}`, Date.now);
          return turnAt - Date.now();
        }),
      );
      // Counted from the asks, 3 + 10 of them (a burst, and a second's turns already passed)
      // would be due at once when the answers come; counted from the answers, the burst only.
      expect(posts.filter((waitMs) => waitMs <= 50).length).toBeLessThanOrEqual(4);
      expect(Math.max(...posts)).toBeGreaterThanOrEqual(700);
    });

    it('a holder keeps its turn whatever the burst left when it comes back', async () => {
      await Promise.all([0, 1, 2, 3].map((i) => bursting.keptTurn('burst-d', `post-${i}`, T0)));
      expect(await bursting.keptTurn('burst-d', 'post-3', T0 + 10_000)).toBe(T0 + 2000);
    });
  });
});
