import type { HistoryRecord } from '../store/history';
import { buildReport, durations, recentSummary, weekOf, weeksOf } from './report';
import { formatSeconds, renderCsv, renderText } from './render';

const at = (iso: string, plusSeconds = 0) => new Date(Date.parse(iso) + plusSeconds * 1000).toISOString();
const ACME = 'C0ACME00001';
const GLOBEX = 'C0GLOBEX001';

/** Paged `asked` at; acknowledged and resolved the given seconds after asking (undefined: not yet). */
function paged(dedupKey: string, channel: string, asked: string, page: number, ack?: number, resolve?: number, extra: Partial<HistoryRecord> = {}): HistoryRecord {
  return {
    dedupKey,
    channel,
    askedAt: asked,
    outcome: 'paged',
    pagedAt: at(asked, page),
    ...(ack !== undefined ? { acknowledgedAt: at(asked, ack) } : {}),
    ...(resolve !== undefined ? { resolvedAt: at(asked, resolve) } : {}),
    ...extra,
  };
}

// The scenario, computed by hand below: two weeks, Monday 2 to Monday 16 November 2026.
const PERIOD = { from: new Date('2026-11-02T00:00:00.000Z'), to: new Date('2026-11-16T00:00:00.000Z') };
const RECORDS: HistoryRecord[] = [
  // Acme, targets 15 minutes to acknowledge, 4 hours to resolve.
  paged('a1', ACME, '2026-11-02T10:00:00.000Z', 10, 900, 14400), // exactly on both targets: met
  paged('a2', ACME, '2026-11-03T10:00:00.000Z', 20, 901, 14401), // one second over both: missed
  paged('a3', ACME, '2026-11-04T10:00:00.000Z', 30, 300, 3600),
  { dedupKey: 'a4', channel: ACME, askedAt: '2026-11-10T09:00:00.000Z', outcome: 'folded' },
  paged('a5', ACME, '2026-11-10T10:00:00.000Z', 40), // never answered, targets long past: missed
  paged('a6', ACME, '2026-11-15T23:50:00.000Z', 50), // 10 minutes before the period ends: pending
  { dedupKey: 'a7', channel: ACME, askedAt: '2026-11-11T10:00:00.000Z', outcome: 'refused', reason: 'paused' },
  paged('a9', ACME, '2026-11-12T10:00:00.000Z', 10, undefined, 720), // resolved without an acknowledgement: answered at 12 minutes
  // Globex, no targets.
  paged('g1', GLOBEX, '2026-11-05T12:00:00.000Z', 5, 120, 1800, { handledWith: 1 }),
  { dedupKey: 'g2', channel: GLOBEX, askedAt: '2026-11-06T12:00:00.000Z', outcome: 'cancelled', reason: 'expired' },
  paged('g3', GLOBEX, '2026-11-07T12:00:00.000Z', 5, undefined, undefined, { noIncidentAt: '2026-11-07T12:05:05.000Z' }),
  // A channel that is no customer.
  { dedupKey: 's1', channel: 'C0STRANGER1', askedAt: '2026-11-08T12:00:00.000Z', outcome: 'refused', reason: 'unregistered' },
];
const CUSTOMERS = [
  { channel: ACME, name: 'Acme Corp', ackWithinMinutes: 15, resolveWithinMinutes: 240 },
  { channel: GLOBEX, name: 'Globex' },
  { channel: 'C0QUIET0001', name: 'Quiet Ltd', ackWithinMinutes: 5 },
];
const AS_OF = new Date('2026-11-20T00:00:00.000Z');

describe('the response report\'s numbers', () => {
  it('match the hand-computed scenario for one customer: counts, median / p90 / max, targets at their boundaries, week by week', () => {
    const report = buildReport(RECORDS, CUSTOMERS, PERIOD, AS_OF, ACME);
    expect(report.customers.map((c) => c.name)).toEqual(['Acme Corp']);
    const acme = report.total;
    expect(acme).toMatchObject({ asked: 8, paged: 6, folded: 1, refused: 1, handledTogether: 0 });
    expect(acme.notPaged).toMatchObject({ folded: 1, paused: 1, unregistered: 0, unfinished: 0 });
    // Pages at 10, 10, 20, 30, 40, 50 s: median (20 + 30) / 2, p90 the 6th of 6.
    expect(acme.timeToPage).toEqual({ count: 6, median: 25, p90: 50, max: 50 });
    // Answered at 300, 720 (resolved only), 900, 901 s.
    expect(acme.timeToAcknowledge).toEqual({ count: 4, median: 810, p90: 901, max: 901 });
    expect(acme.timeToResolve).toEqual({ count: 4, median: 9000, p90: 14401, max: 14401 });
    // Met at exactly 15 minutes and 4 hours, missed one second later; never answered and past: missed; within: pending.
    expect(acme.ackTarget).toEqual({ targetMinutes: 15, met: 3, missed: 2, pending: 1 });
    expect(acme.resolveTarget).toEqual({ targetMinutes: 240, met: 3, missed: 2, pending: 1 });
    const weeks = report.customers[0]!.weeks;
    expect(weeks.map((w) => w.week)).toEqual(['2026-11-02', '2026-11-09']);
    expect(weeks[0]!.summary).toMatchObject({ asked: 3, paged: 3, ackTarget: { met: 2, missed: 1, pending: 0 } });
    expect(weeks[1]!.summary).toMatchObject({ asked: 5, paged: 3, folded: 1, refused: 1, ackTarget: { met: 1, missed: 1, pending: 1 } });
  });

  it('match it across customers: each judged by its own targets, a channel no longer registered by its id', () => {
    const report = buildReport(RECORDS, CUSTOMERS, PERIOD, AS_OF);
    expect(report.customers.map((c) => [c.name, c.summary.asked])).toEqual([['Acme Corp', 8], ['Globex', 3], ['C0STRANGER1', 1]]);
    expect(report.total).toMatchObject({ asked: 12, paged: 8, folded: 1, refused: 2, handledTogether: 1 });
    expect(report.total.notPaged).toMatchObject({ folded: 1, paused: 1, unregistered: 1, expired: 1, 'no-incident': 1 });
    // 120, 300, 720, 900, 901 s.
    expect(report.total.timeToAcknowledge).toEqual({ count: 5, median: 720, p90: 901, max: 901 });
    expect(report.total.ackTarget).toEqual({ met: 3, missed: 2, pending: 1 });
    expect(report.customers[1]!.summary.ackTarget).toBeUndefined();
  });

  it('judges "not yet answered" at the period\'s end when the report runs later, and at now while it runs', () => {
    const record = paged('x', ACME, '2026-11-15T23:50:00.000Z', 5);
    expect(buildReport([record], CUSTOMERS, PERIOD, AS_OF, ACME).total.ackTarget).toMatchObject({ missed: 0, pending: 1 });
    expect(buildReport([record], CUSTOMERS, { ...PERIOD, to: new Date('2026-11-16T00:06:00.000Z') }, AS_OF, ACME).total.ackTarget).toMatchObject({ missed: 1, pending: 0 });
  });

  it('computes median, p90 and max by the rules it states', () => {
    expect(durations([])).toEqual({ count: 0 });
    expect(durations([7])).toEqual({ count: 1, median: 7, p90: 7, max: 7 });
    expect(durations([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])).toEqual({ count: 10, median: 5.5, p90: 9, max: 10 });
    expect(durations([10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11])).toEqual({ count: 11, median: 6, p90: 10, max: 11 });
  });

  it('sums up a customer\'s last 30 days for its console card: today is the last day, 29 days ago the first', () => {
    const now = new Date('2026-11-30T15:00:00.000Z');
    const recent = recentSummary([paged('t1', ACME, '2026-11-30T01:00:00.000Z', 5, 60), paged('t2', ACME, '2026-11-30T02:00:00.000Z', 5, 180), paged('t3', ACME, '2026-11-01T23:00:00.000Z', 5, 120)], now);
    expect(recent).toMatchObject({ days: 30, asked: 3, paged: 3, medianAckSeconds: 120 });
    expect(recent.perDay[29]).toBe(2);
    expect(recent.perDay[0]).toBe(1);
    expect(recent.perDay.reduce((a, b) => a + b, 0)).toBe(3);
  });

  it('groups by weeks starting Monday 00:00 UTC, quiet weeks included', () => {
    expect(weekOf('2026-11-08T23:59:59.999Z')).toBe('2026-11-02');
    expect(weekOf('2026-11-09T00:00:00.000Z')).toBe('2026-11-09');
    expect(weeksOf(new Date('2026-11-04T00:00:00Z'), new Date('2026-11-24T00:00:00Z'))).toEqual(['2026-11-02', '2026-11-09', '2026-11-16', '2026-11-23']);
  });

  it('renders the table and CSV from the same numbers, never a customer\'s formula', () => {
    const report = buildReport(RECORDS, [...CUSTOMERS.slice(1), { channel: ACME, name: '=HYPERLINK("x")', ackWithinMinutes: 15 }], PERIOD, AS_OF);
    const text = renderText(report);
    expect(text).toMatch(/^all\s+12\s+8\s+1\s+2\s+/m);
    expect(text).toContain('12m 00s / 15m 01s / 15m 01s');
    const csv = renderCsv(report).split('\n');
    expect(csv[0]).toMatch(/^channel,customer,week,asked,paged,folded,refused,/);
    expect(csv[1]).toMatch(/^C0ACME00001,"'=HYPERLINK\(""x""\)",,8,6,1,1,/);
    expect(csv.at(-3)).toMatch(/^,all customers,,12,8,1,2,/);
    expect(formatSeconds(59)).toBe('59s');
    expect(formatSeconds(3661)).toBe('1h 01m');
    expect(formatSeconds(90061)).toBe('1d 1h');
  });
});
