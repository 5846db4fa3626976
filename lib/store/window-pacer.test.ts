import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { recordingClient, startTestDynamo } from '../../test/support/dynamo';
import { makeWindowPacer, routingKeyLane, type WindowPacer } from './window-pacer';

const T0 = Date.parse('2026-11-30T10:00:00.000Z');

describe('turns under a sliding-window limit (on dynalite)', () => {
  let env: Awaited<ReturnType<typeof startTestDynamo>>;
  let pacer: WindowPacer;

  beforeAll(async () => {
    env = await startTestDynamo();
    // 3 calls in any 1 s, with no margin so turns read exactly.
    pacer = makeWindowPacer(env.db, env.dynamo.tableName, { limit: 3, windowMs: 1000, marginMs: 0, settleMs: 200 });
  });
  afterAll(() => env.stop());

  it('the first `limit` turns are at once; each later one is a window after the one `limit` before it', async () => {
    const turns = [];
    for (const [i, asked] of [T0, T0 + 100, T0 + 200, T0 + 300, T0 + 300, T0 + 300, T0 + 300].entries()) turns.push(await pacer.keptTurn('lane-a', `esc-${i}`, asked));
    expect(turns).toEqual([T0, T0 + 100, T0 + 200, T0 + 1000, T0 + 1100, T0 + 1200, T0 + 2000]);
  });

  it('a slot whose window has room goes now: a quiet lane does not wait for old turns', async () => {
    for (const i of [0, 1, 2]) await pacer.keptTurn('lane-b', `esc-${i}`, T0);
    expect(await pacer.keptTurn('lane-b', 'esc-3', T0 + 5000)).toBe(T0 + 5000);
  });

  it('a holder keeps its turn across asks, and a new one after it is forgotten', async () => {
    for (const i of [0, 1, 2]) await pacer.keptTurn('lane-c', `esc-${i}`, T0);
    const kept = await pacer.keptTurn('lane-c', 'esc-3', T0);
    expect(kept).toBe(T0 + 1000);
    // Coming back later (a redelivery), it finds its own turn, not the next free one.
    expect(await pacer.keptTurn('lane-c', 'esc-3', T0 + 900)).toBe(kept);
    expect(await pacer.keptTurn('lane-c', 'esc-4', T0 + 900)).toBe(T0 + 1000);
    expect(await pacer.keptTurn('lane-c', 'esc-5', T0 + 900)).toBe(T0 + 1000);
    // Refused anyway (another sender on the key): its next ask queues behind the slots taken meanwhile.
    await pacer.forget('lane-c', 'esc-3');
    expect(await pacer.keptTurn('lane-c', 'esc-3', T0 + 900)).toBe(T0 + 2000);
  });

  it('a first ask: a near turn is used at once, not kept, its slot recorded beside the call; a far one is kept for the redelivery', async () => {
    const near = await Promise.all([0, 1, 2].map((i) => pacer.firstTurn('lane-h', `esc-${i}`, T0, 300)));
    expect(near.map((t) => t.turnAt)).toEqual([T0, T0, T0]);
    await Promise.all(near.map((t) => t.recorded));
    // The slot a window later follows the recorded ones; it is too far to wait in place, so it is kept.
    const far = await pacer.firstTurn('lane-h', 'esc-3', T0 + 100, 300);
    expect(far.turnAt).toBe(T0 + 1000);
    expect(await pacer.keptTurn('lane-h', 'esc-3', T0 + 900)).toBe(T0 + 1000);
    // A near turn was not kept: asking again reserves a new slot, behind the far one.
    expect(await pacer.keptTurn('lane-h', 'esc-0', T0 + 200)).toBe(T0 + 1000);
    expect(await pacer.keptTurn('lane-h', 'esc-1', T0 + 200)).toBe(T0 + 1000);
    expect(await pacer.keptTurn('lane-h', 'esc-2', T0 + 200)).toBe(T0 + 2000);
  });

  it('concurrent reservations get distinct slots: no window holds more than the limit', async () => {
    const turns = await Promise.all(Array.from({ length: 12 }, (_, i) => pacer.keptTurn('lane-d', `esc-${i}`, T0)));
    expect([...turns].sort((a, b) => a - b)).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3].map((w) => T0 + w * 1000));
  });

  it('two attempts of one escalation racing agree on one turn', async () => {
    const turns = await Promise.all(Array.from({ length: 4 }, () => pacer.keptTurn('lane-e', 'esc-x', T0)));
    expect(new Set(turns).size).toBe(1);
  });

  it('racing attempts agree on the slot too, though their turns are the same time (the slot is what its call\'s record is filed under)', async () => {
    // An idle lane: every slot reserved is at T0, so only the slot tells them apart.
    const turns = await Promise.all(Array.from({ length: 3 }, () => pacer.kept('lane-s', 'esc-y', T0)));
    expect(new Set(turns.map((t) => t.turnAt))).toEqual(new Set([T0]));
    expect(new Set(turns.map((t) => t.slot)).size).toBe(1);
  });

  it('a slot reserved by a caller that never says when it goes: the next one waits briefly, then assumes the latest it could go', async () => {
    for (const i of [0, 1, 2]) await pacer.keptTurn('lane-f', `esc-${i}`, T0);
    // Slot 3 is taken (the atomic add) by a caller that stops before recording its turn.
    await env.db.send(new UpdateCommand({ TableName: env.dynamo.tableName, Key: { pk: 'window#lane-f' }, UpdateExpression: 'ADD #count :one', ExpressionAttributeNames: { '#count': 'count' }, ExpressionAttributeValues: { ':one': 1 } }));
    for (const i of [4, 5]) await pacer.keptTurn('lane-f', `esc-${i}`, T0);
    // Slot 6 follows slot 3, which could go as late as now (it was reserved before): a window from now.
    const started = Date.now();
    expect(await pacer.keptTurn('lane-f', 'esc-6', T0 + 1500)).toBe(T0 + 2500);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    // Later slots follow the turns recorded.
    for (const i of [7, 8]) expect(await pacer.keptTurn('lane-f', `esc-${i}`, T0 + 1500)).toBe(T0 + 2000);
    expect(await pacer.keptTurn('lane-f', 'esc-9', T0 + 1500)).toBe(T0 + 3500);
  });

  it('nor sooner than a window after the slots known before the silent one', async () => {
    for (const i of [0, 1, 2]) await pacer.keptTurn('lane-g', `esc-${i}`, T0);
    await env.db.send(new UpdateCommand({ TableName: env.dynamo.tableName, Key: { pk: 'window#lane-g' }, UpdateExpression: 'ADD #count :one', ExpressionAttributeNames: { '#count': 'count' }, ExpressionAttributeValues: { ':one': 1 } }));
    for (const i of [4, 5]) await pacer.keptTurn('lane-g', `esc-${i}`, T0);
    // Slot 3 goes a window after slot 0 at the earliest (T0 + 1 s), so slot 6 a window after that.
    expect(await pacer.keptTurn('lane-g', 'esc-6', T0 + 100)).toBe(T0 + 2000);
  });

  it('a slot whose earlier slot a window before went late waits for a window after that call, not its planned turn', async () => {
    const first = await Promise.all([0, 1, 2].map((i) => pacer.firstTurn('lane-w', `esc-${i}`, T0, 300)));
    await Promise.all(first.map((t) => t.recorded));
    // Slot 3 is planned a window after slot 0's turn (T0).
    const fourth = await pacer.kept('lane-w', 'esc-3', T0 + 100);
    expect(fourth).toMatchObject({ turnAt: T0 + 1000, slot: 3, follows: T0 });
    // Nothing recorded yet for slot 0 (it has not gone): the planned turn stands.
    expect(await pacer.clearAt('lane-w', fourth, T0 + 1000)).toBe(T0 + 1000);
    // Slot 0's call went 400 ms late: slot 3 waits a window after it.
    await pacer.went('lane-w', first[0]!.slot, T0 + 400);
    expect(await pacer.clearAt('lane-w', fourth, T0 + 1000)).toBe(T0 + 1400);
    // Slot 1 went on time: slot 4 keeps its turn.
    await pacer.went('lane-w', first[1]!.slot, T0);
    const fifth = await pacer.kept('lane-w', 'esc-4', T0 + 100);
    expect(await pacer.clearAt('lane-w', fifth, T0 + 1000)).toBe(fifth.turnAt);
    // The slot kept across asks keeps its slot and what it follows too (a redelivery checks the same).
    expect(await pacer.kept('lane-w', 'esc-3', T0 + 900)).toEqual(fourth);
  });

  it('a quiet lane reads nothing more before a call: a turn that follows a slot long gone is clear', async () => {
    const recording = recordingClient(env.db);
    const counted = makeWindowPacer(recording.db, env.dynamo.tableName, { limit: 3, windowMs: 1000, marginMs: 0, settleMs: 200 });
    for (const i of [0, 1, 2]) await counted.keptTurn('lane-q', `esc-${i}`, T0);
    const later = await counted.kept('lane-q', 'esc-3', T0 + 60_000);
    recording.calls.length = 0;
    expect(await counted.clearAt('lane-q', later, T0 + 60_000)).toBe(T0 + 60_000);
    expect(recording.calls).toEqual([]);
  });

  it('lanes are hashes of routing keys: independent, and never the key itself', async () => {
    const lane = routingKeyLane('R0UTINGKEYSECRET00000000000000AB');
    expect(lane).not.toContain('R0UTINGKEYSECRET');
    expect(lane).not.toBe(routingKeyLane('another-key'));
    for (const i of [0, 1, 2, 3]) await pacer.keptTurn(lane, `esc-${i}`, T0);
    expect(await pacer.keptTurn(routingKeyLane('another-key'), 'esc-0', T0)).toBe(T0);
  });
});
