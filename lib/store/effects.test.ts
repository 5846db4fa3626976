import { startTestDynamo } from '../../test/support/dynamo';
import { RateLimitedError, TransientError } from '../errors';
import { makeEffects, type Effects } from './effects';

describe('effects done once (on dynalite)', () => {
  let env: Awaited<ReturnType<typeof startTestDynamo>>;
  let effects: Effects;

  beforeAll(async () => {
    env = await startTestDynamo();
    effects = makeEffects(env.db, env.dynamo.tableName, { ttlDays: 1 });
  });
  afterAll(() => env.stop());

  it('a repeat gets the first result without performing again', async () => {
    let performed = 0;
    const perform = async () => `ts-${++performed}`;
    const first = await effects.once('post:a', perform, async () => undefined);
    const again = await effects.once('post:a', perform, async () => 'should not be asked');
    expect(first).toEqual({ result: 'ts-1', performed: true });
    expect(again).toEqual({ result: 'ts-1', performed: false });
    expect(performed).toBe(1);
  });

  it('done: true only once the effect is recorded, not while merely claimed or after a failure', async () => {
    expect(await effects.done('post:done')).toBe(false);
    await expect(effects.once('post:done', async () => { throw new TransientError('Slack timed out'); }, async () => undefined)).rejects.toBeInstanceOf(TransientError);
    expect(await effects.done('post:done')).toBe(false);
    await effects.once('post:done', async () => 'ts-d', async () => undefined);
    expect(await effects.done('post:done')).toBe(true);
  });

  it('after a 429 the retry performs at once, without asking whether it happened (a 429 is a refusal)', async () => {
    const asked: string[] = [];
    const find = async (since: string) => (asked.push(since), undefined);
    await expect(effects.once('post:b', async () => { throw new RateLimitedError('slack', 'chat.postMessage answered 429', undefined, 1); }, find)).rejects.toBeInstanceOf(RateLimitedError);
    expect(await effects.once('post:b', async () => 'ts-b', find)).toEqual({ result: 'ts-b', performed: true });
    expect(asked).toEqual([]);
  });

  it('after any other failure the retry asks first, and takes what it finds instead of performing twice', async () => {
    const asked: string[] = [];
    let performed = 0;
    await expect(effects.once('post:c', async () => { throw new TransientError('Slack timed out (the post may have landed)'); }, async () => undefined)).rejects.toBeInstanceOf(TransientError);
    const retry = await effects.once('post:c', async () => `ts-${++performed}`, async (since) => (asked.push(since), 'ts-found'));
    expect(retry).toEqual({ result: 'ts-found', performed: false });
    expect(asked).toHaveLength(1);
    expect(performed).toBe(0);
  });

  it('two attempts of one effect at once: the second waits for the first (the lease) instead of posting too', async () => {
    let performed = 0;
    const asked: string[] = [];
    let release!: () => void;
    const inFlight = new Promise<void>((resolve) => (release = resolve));
    const first = effects.once('post:e', async () => (performed++, await inFlight, 'ts-e1'), async () => undefined);
    while (performed === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    // The first has claimed and is posting; the post has not landed, so looking for it finds nothing.
    const second = effects.once('post:e', async () => `ts-e${++performed}`, async (since) => (asked.push(since), undefined));
    await expect(second).rejects.toThrow(new TransientError('another attempt is performing this effect now'));
    await expect(second).rejects.toMatchObject({ retryAfterSeconds: expect.any(Number) });
    release();
    expect(await first).toEqual({ result: 'ts-e1', performed: true });
    // Its redelivery, after the lease: the first's post, not a second one.
    expect(await effects.once('post:e', async () => `ts-e${++performed}`, async () => undefined)).toEqual({ result: 'ts-e1', performed: false });
    expect(performed).toBe(1);
    expect(asked).toEqual([]);
  });

  it('a claim taken ahead is the one once uses: performed once, and a repeat finds its result', async () => {
    let performed = 0;
    const ahead = effects.claim('post:f');
    expect(await effects.once('post:f', async () => `ts-f${++performed}`, async () => 'should not be asked', ahead)).toEqual({ result: 'ts-f1', performed: true });
    expect(await effects.once('post:f', async () => `ts-f${++performed}`, async () => 'should not be asked')).toEqual({ result: 'ts-f1', performed: false });
    expect(performed).toBe(1);
  });

  it('a claim taken ahead and released leaves nothing behind: the next attempt performs at once, asking nobody', async () => {
    const asked: string[] = [];
    await effects.release(effects.claim('post:g'));
    expect(await effects.once('post:g', async () => 'ts-g', async (since) => (asked.push(since), undefined))).toEqual({ result: 'ts-g', performed: true });
    expect(asked).toEqual([]);
  });

  it('releasing a claim found rather than made leaves the other attempt\'s claim (and its result) in place', async () => {
    await effects.once('post:h', async () => 'ts-h', async () => undefined);
    await effects.release(effects.claim('post:h'));
    expect(await effects.done('post:h')).toBe(true);
  });

  it('a 429 after an earlier unknown failure keeps the claim: the next attempt still asks whether the first one landed', async () => {
    const asked: string[] = [];
    await expect(effects.once('post:d', async () => { throw new TransientError('Slack timed out (the post may have landed)'); }, async () => undefined)).rejects.toBeInstanceOf(TransientError);
    await expect(effects.once('post:d', async () => { throw new RateLimitedError('slack', 'chat.postMessage answered 429', undefined, 1); }, async () => undefined)).rejects.toBeInstanceOf(RateLimitedError);
    const third = await effects.once('post:d', async () => 'ts-new', async (since) => (asked.push(since), 'ts-landed'));
    expect(third).toEqual({ result: 'ts-landed', performed: false });
    expect(asked).toHaveLength(1);
  });
});
