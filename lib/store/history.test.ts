import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { recordingClient, startTestDynamo } from '../../test/support/dynamo';
import { LAYOUT } from '../layout/layout';
import { makeHistory, monthsOf, type History, type HistoryIdentity } from './history';

const ASKED = '2026-11-30T23:50:00.000Z';
const who = (dedupKey: string, channel = 'C0ACME00001', askedAt = ASKED): HistoryIdentity => ({ dedupKey, channel, askedAt });

describe('the escalation history (on dynalite)', () => {
  let env: Awaited<ReturnType<typeof startTestDynamo>>;
  let history: History;
  let calls: string[];

  beforeAll(async () => {
    env = await startTestDynamo();
    const recording = recordingClient(env.db);
    calls = recording.calls;
    history = makeHistory(recording.db, env.dynamo.tableName, { ttlDays: 400 });
  });
  afterAll(() => env.stop());

  const stored = async (dedupKey: string) => (await env.db.send(new GetCommand({ TableName: env.dynamo.tableName, Key: { pk: `history#${dedupKey}` } }))).Item!;

  it('keeps each step once: a retry, a redelivery or a later time changes nothing, and the earliest acknowledgement wins whatever order they come in', async () => {
    await history.record(who('k1'), { step: 'asked' });
    await history.record(who('k1'), { step: 'paged', at: '2026-11-30T23:50:02.000Z', ref: 7 });
    await history.record(who('k1'), { step: 'paged', at: '2026-11-30T23:59:00.000Z', ref: 8 });
    await history.record(who('k1'), { step: 'folded' });
    await history.record(who('k1'), { step: 'acknowledged', at: '2026-12-01T00:05:00.000Z' });
    await history.record(who('k1'), { step: 'acknowledged', at: '2026-12-01T00:03:00.000Z' });
    await history.record(who('k1'), { step: 'acknowledged', at: '2026-12-01T00:04:00.000Z' });
    await history.record(who('k1'), { step: 'handled-together', count: 2 });
    await history.record(who('k1'), { step: 'handled-together', count: 1 });
    await history.record(who('k1'), { step: 'resolved', at: '2026-12-01T01:00:00.000Z' });
    await history.record(who('k1'), { step: 'resolved', at: '2026-12-01T01:00:00.000Z' });
    const item = await stored('k1');
    expect(item).toMatchObject({ outcome: 'paged', pagedAt: '2026-11-30T23:50:02.000Z', ref: 7, acknowledgedAt: '2026-12-01T00:03:00.000Z', resolvedAt: '2026-12-01T01:00:00.000Z', handledWith: 2 });
    // Kept for 400 days from when it was asked, in the month it was asked (not the month of its last step).
    expect(item[LAYOUT.table.ttlAttribute]).toBe(Date.parse(ASKED) / 1000 + 400 * 86400);
    expect(item[LAYOUT.table.historyIndex.partitionKey]).toBe('2026-11');
    expect(Object.keys(item).sort()).toEqual(
      ['pk', 'dedupKey', 'channel', 'askedAt', 'outcome', 'pagedAt', 'ref', 'acknowledgedAt', 'resolvedAt', 'handledWith', LAYOUT.table.ttlAttribute, LAYOUT.table.historyIndex.partitionKey, LAYOUT.table.historyIndex.sortKey].sort(),
    );
  });

  it('makes a whole record from whichever step arrives first (a crash lost the ones before)', async () => {
    await history.record(who('k2'), { step: 'resolved', at: '2026-12-01T02:00:00.000Z' });
    await history.record(who('k2', 'C0WRONG0001', '2026-12-01T00:00:00.000Z'), { step: 'merged' });
    const [record] = await history.query({ from: new Date('2026-11-30T00:00:00Z'), to: new Date('2026-12-01T00:00:00Z'), channel: 'C0ACME00001' }).then((r) => r.filter((x) => x.dedupKey === 'k2'));
    expect(record).toEqual({ dedupKey: 'k2', channel: 'C0ACME00001', askedAt: ASKED, resolvedAt: '2026-12-01T02:00:00.000Z', merged: true });
  });

  it('records why nobody was paged, once: the first reason stays', async () => {
    await history.record(who('k3'), { step: 'refused', reason: 'paused' });
    await history.record(who('k3'), { step: 'refused', reason: 'unregistered' });
    await history.record(who('k4'), { step: 'cancelled', reason: 'expired' });
    await history.record(who('k5'), { step: 'paged', at: ASKED });
    await history.record(who('k5'), { step: 'no-incident', at: '2026-12-01T00:00:00.000Z' });
    expect(await stored('k3')).toMatchObject({ outcome: 'refused', reason: 'paused' });
    expect(await stored('k4')).toMatchObject({ outcome: 'cancelled', reason: 'expired' });
    expect(await stored('k5')).toMatchObject({ outcome: 'paged', noIncidentAt: '2026-12-01T00:00:00.000Z' });
  });

  it('reads a customer\'s period and everyone\'s by Query only, time-ordered, across months', async () => {
    const times = ['2026-10-31T23:59:59.999Z', '2026-11-01T00:00:00.000Z', '2026-11-15T12:00:00.000Z', '2026-12-01T00:00:00.000Z', '2026-12-02T00:00:00.000Z'];
    for (const [i, at] of times.entries()) {
      await history.record(who(`q-acme-${i}`, 'C0QACME0001', at), { step: 'asked' });
      await history.record(who(`q-acme1-${i}`, 'C0QACME00011', at), { step: 'asked' });
      await history.record(who(`q-globex-${i}`, 'C0QGLOBEX01', at), { step: 'asked' });
    }
    calls.length = 0;
    const from = new Date('2026-11-01T00:00:00.000Z');
    const to = new Date('2026-12-02T00:00:00.000Z');
    const acme = await history.query({ from, to, channel: 'C0QACME0001' });
    // From inclusive, to exclusive; a channel whose id starts with another's is another customer.
    expect(acme.map((r) => r.askedAt)).toEqual(times.slice(1, 4));
    expect(acme.every((r) => r.channel === 'C0QACME0001')).toBe(true);
    const pages: number[] = [];
    const everyone = (await history.query({ from, to, onPage: (n) => pages.push(n) })).filter((r) => r.channel.startsWith('C0Q'));
    expect(everyone).toHaveLength(9);
    expect(everyone.map((r) => r.askedAt)).toEqual([...everyone.map((r) => r.askedAt)].sort());
    expect(pages.length).toBeGreaterThan(0);
    expect(new Set(calls)).toEqual(new Set(['Query']));
  });

  it('names the months a period touches', () => {
    expect(monthsOf(new Date('2026-11-20T00:00:00Z'), new Date('2027-01-01T00:00:00Z'))).toEqual(['2026-11', '2026-12']);
    expect(monthsOf(new Date('2026-11-20T00:00:00Z'), new Date('2027-01-01T00:00:01Z'))).toEqual(['2026-11', '2026-12', '2027-01']);
  });
});
