import { recordingClient, startTestDynamo } from '../../test/support/dynamo';
import { BUDGET_WINDOW_MS, makePageBudget, type PageBudget } from './page-budget';

const T0 = Date.parse('2026-11-30T10:00:00.000Z');

describe('the rolling-hour page budget (on dynalite)', () => {
  let env: Awaited<ReturnType<typeof startTestDynamo>>;
  let budget: PageBudget;

  beforeAll(async () => {
    env = await startTestDynamo();
    budget = makePageBudget(env.db, env.dynamo.tableName, { ttlDays: 30 });
  });
  afterAll(() => env.stop());

  it('grants exactly 3 of 10 concurrent takes with a limit of 3', async () => {
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => budget.take('C0CONCUR001', `esc-${i}`, T0, 3)));
    expect(answers.filter((a) => a.granted)).toHaveLength(3);
    expect(answers.filter((a) => a.granted).map((a) => a.used).sort()).toEqual([1, 2, 3]);
    for (const denied of answers.filter((a) => !a.granted)) expect(denied.used).toBe(3);
    expect(await budget.used('C0CONCUR001', T0)).toBe(3);
  });

  it('answers a repeated escalation as the first time and never counts it again, even when repeats race', async () => {
    const first = await budget.take('C0REPEAT001', 'esc-a', T0, 2);
    expect(first).toEqual({ granted: true, used: 1 });
    // A Slack retry and two SQS redeliveries of the same escalation, at the same time.
    const repeats = await Promise.all([0, 1, 2].map(() => budget.take('C0REPEAT001', 'esc-a', T0 + 1000, 2)));
    expect(repeats).toEqual([first, first, first]);
    expect(await budget.used('C0REPEAT001', T0 + 1000)).toBe(1);

    // The same id arriving several times at once for the first time is counted once.
    const racing = await Promise.all(Array.from({ length: 6 }, () => budget.take('C0REPEAT001', 'esc-b', T0 + 2000, 2)));
    expect(new Set(racing.map((a) => JSON.stringify(a))).size).toBe(1);
    expect(racing[0]).toEqual({ granted: true, used: 2 });
    expect(await budget.used('C0REPEAT001', T0 + 2000)).toBe(2);

    // A denied escalation stays denied when it comes back, even after the budget has room again.
    const denied = await budget.take('C0REPEAT001', 'esc-c', T0 + 3000, 2);
    expect(denied).toEqual({ granted: false, used: 2 });
    expect(await budget.take('C0REPEAT001', 'esc-c', T0 + BUDGET_WINDOW_MS + 5000, 2)).toEqual(denied);
  });

  it('frees a page an hour after it was counted, not before', async () => {
    for (const [i, at] of [T0, T0 + 10_000, T0 + 20_000].entries()) expect((await budget.take('C0WINDOW001', `esc-${i}`, at, 3)).granted).toBe(true);
    expect(await budget.take('C0WINDOW001', 'esc-early', T0 + BUDGET_WINDOW_MS - 1, 3)).toEqual({ granted: false, used: 3 });
    // The first page leaves the window at T0 + 1 h; the other two still count.
    expect(await budget.take('C0WINDOW001', 'esc-later', T0 + BUDGET_WINDOW_MS, 3)).toEqual({ granted: true, used: 3 });
    expect(await budget.used('C0WINDOW001', T0 + BUDGET_WINDOW_MS + 20_000)).toBe(1);
  });

  it('keeps each channel to its own budget', async () => {
    await Promise.all(Array.from({ length: 5 }, (_, i) => budget.take('C0NOISY0001', `noisy-${i}`, T0, 3)));
    expect(await budget.take('C0QUIET0001', 'quiet-1', T0, 3)).toEqual({ granted: true, used: 1 });
    expect(await budget.used('C0NOISY0001', T0)).toBe(3);
  });

  it('a take given the read made ahead (beside the escalation\'s first writes) writes only, and a read gone stale meanwhile still counts exactly', async () => {
    const { db, calls } = recordingClient(env.db);
    const counted = makePageBudget(db, env.dynamo.tableName, { ttlDays: 30 });
    const ahead = counted.read('C0AHEAD0001', 'esc-ahead');
    await ahead;
    calls.length = 0;
    expect(await counted.take('C0AHEAD0001', 'esc-ahead', T0, 2, ahead)).toEqual({ granted: true, used: 1 });
    expect(calls).toEqual(['Put']);

    // Read ahead, then two pages counted before the take: its version is stale, so it reads again and finds the budget spent.
    const stale = counted.read('C0AHEAD0001', 'esc-late');
    await stale;
    await budget.take('C0AHEAD0001', 'esc-between', T0 + 1000, 2);
    expect(await counted.take('C0AHEAD0001', 'esc-late', T0 + 2000, 2, stale)).toEqual({ granted: false, used: 2 });
    expect(await budget.used('C0AHEAD0001', T0 + 2000)).toBe(2);
  });

  it('counts concurrent takes exactly under a larger limit too (20 racing for 7)', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => budget.take('C0CONCUR002', `esc-${i}`, T0, 7)));
    expect(answers.filter((a) => a.granted)).toHaveLength(7);
    expect(await budget.used('C0CONCUR002', T0)).toBe(7);
  });

  it('reads once on the way to PagerDuty: the answer and the budget together, then writes the grant alone', async () => {
    const { db, calls } = recordingClient(env.db);
    const counted = makePageBudget(db, env.dynamo.tableName, { ttlDays: 30 });
    await budget.take('C0ROUNDS001', 'esc-earlier', T0, 3);
    expect(await counted.take('C0ROUNDS001', 'esc-first', T0 + 1000, 3)).toEqual({ granted: true, used: 2 });
    expect(calls).toEqual(['BatchGet', 'Put']);
    calls.length = 0;
    // A retry finds its answer in that same one read.
    expect(await counted.take('C0ROUNDS001', 'esc-first', T0 + 2000, 3)).toEqual({ granted: true, used: 2 });
    expect(calls).toEqual(['BatchGet']);
    calls.length = 0;
    // A refusal, which the budget does not hold, is written down beside it.
    await budget.take('C0ROUNDS001', 'esc-second', T0 + 3000, 3);
    expect(await counted.take('C0ROUNDS001', 'esc-refused', T0 + 4000, 3)).toEqual({ granted: false, used: 3 });
    expect(calls).toEqual(['BatchGet', 'Put']);
  });

  it('reads one by one what DynamoDB left unread, so a recorded refusal is still the answer', async () => {
    for (const i of [0, 1]) await budget.take('C0UNREAD001', `esc-${i}`, T0, 2);
    expect(await budget.take('C0UNREAD001', 'esc-refused', T0 + 1000, 2)).toEqual({ granted: false, used: 2 });
    // An hour later the budget has room again, and DynamoDB (throttled) leaves the answer unread.
    const { db, calls } = recordingClient(env.db, (operation, input, output) => {
      if (operation !== 'BatchGet') return output;
      const table = Object.keys(input.RequestItems)[0]!;
      const isAnswer = (item: { pk: string }) => item.pk.includes('#answer#');
      return {
        ...output,
        Responses: { [table]: output.Responses[table].filter((item: { pk: string }) => !isAnswer(item)) },
        UnprocessedKeys: { [table]: { Keys: input.RequestItems[table].Keys.filter(isAnswer), ConsistentRead: true } },
      };
    });
    const throttled = makePageBudget(db, env.dynamo.tableName, { ttlDays: 30 });
    expect(await throttled.take('C0UNREAD001', 'esc-refused', T0 + BUDGET_WINDOW_MS + 5000, 2)).toEqual({ granted: false, used: 2 });
    expect(calls).toEqual(['BatchGet', 'Get']);
  });
});
