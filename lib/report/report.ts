import type { HistoryRecord } from '../store/history';

/**
 * The response report's numbers, from history records alone (lib/store/history.ts): pure, so the
 * command, the console and the tests compute them the same way.
 *
 * Times run from when the person asked. Acknowledged means the first of acknowledged and resolved
 * (an incident resolved without an acknowledgement was answered then). The median of an even
 * count is the mean of the two middle values; p90 is the nearest rank (the smallest value at or
 * above 90 % of them). A target is met at exactly its time; an escalation paged but not yet
 * acknowledged (resolved) counts as missed once its target has passed at the report's end, as
 * pending before.
 */

/** A customer as the report names it, with its targets in minutes. */
export interface ReportCustomer {
  channel: string;
  name?: string;
  ackWithinMinutes?: number;
  resolveWithinMinutes?: number;
}

/** Durations in seconds. */
export interface Durations {
  count: number;
  median?: number;
  p90?: number;
  max?: number;
}

export interface TargetResult {
  /** The target; absent in a total across customers, each judged by its own. */
  targetMinutes?: number;
  met: number;
  missed: number;
  pending: number;
}

/** Why nobody was paged, or what went wrong after: each with its count. */
export const NOT_PAGED = ['folded', 'unregistered', 'paused', 'not-approved', 'cancelled', 'expired', 'confirmation-refused', 'rejected', 'no-incident', 'unfinished'] as const;
export type NotPaged = (typeof NOT_PAGED)[number];

export interface Summary {
  asked: number;
  paged: number;
  folded: number;
  /** Refused by the delivery gate (not registered, paused, a person not approved). */
  refused: number;
  notPaged: Record<NotPaged, number>;
  /** Paged escalations whose incident held other escalations too (a count, never who). */
  handledTogether: number;
  timeToPage: Durations;
  timeToAcknowledge: Durations;
  timeToResolve: Durations;
  ackTarget?: TargetResult;
  resolveTarget?: TargetResult;
}

export interface Week {
  /** Monday 00:00 UTC, as `2026-11-30`. */
  week: string;
  summary: Summary;
}

export interface CustomerReport {
  channel: string;
  name: string;
  ackWithinMinutes?: number;
  resolveWithinMinutes?: number;
  summary: Summary;
  weeks: Week[];
}

export interface Report {
  from: string;
  to: string;
  total: Summary;
  weeks: Week[];
  customers: CustomerReport[];
}

const seconds = (from: string, to: string) => (Date.parse(to) - Date.parse(from)) / 1000;

export function durations(values: number[]): Durations {
  if (!values.length) return { count: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const median = n % 2 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
  return { count: n, median, p90: sorted[Math.ceil(0.9 * n) - 1]!, max: sorted[n - 1]! };
}

/** When the escalation was first answered: acknowledged, or resolved without one. */
export function answeredAt(record: HistoryRecord): string | undefined {
  const times = [record.acknowledgedAt, record.resolvedAt].filter((t): t is string => t !== undefined);
  return times.length ? times.sort()[0] : undefined;
}

function notPagedOf(record: HistoryRecord): NotPaged | undefined {
  switch (record.outcome) {
    case 'paged':
      return record.noIncidentAt && !answeredAt(record) ? 'no-incident' : undefined;
    case 'folded':
    case 'rejected':
      return record.outcome;
    case 'refused':
      return record.reason === 'paused' || record.reason === 'not-approved' ? record.reason : 'unregistered';
    case 'cancelled':
      return record.reason === 'expired' ? 'expired' : record.reason === 'refused' ? 'confirmation-refused' : 'cancelled';
    default:
      // Asked, and no outcome yet: still being worked on, or waiting for its click.
      return 'unfinished';
  }
}

function target(records: HistoryRecord[], minutes: number | undefined, done: (r: HistoryRecord) => string | undefined, asOf: string): TargetResult | undefined {
  if (minutes === undefined) return undefined;
  const result: TargetResult = { targetMinutes: minutes, met: 0, missed: 0, pending: 0 };
  for (const record of records) {
    if (record.outcome !== 'paged') continue;
    const at = done(record);
    const limit = minutes * 60;
    if (at !== undefined) result[seconds(record.askedAt, at) <= limit ? 'met' : 'missed'] += 1;
    else result[seconds(record.askedAt, asOf) > limit ? 'missed' : 'pending'] += 1;
  }
  return result;
}

/** The numbers of a set of records; targets only when every record is one customer's (`targets`). */
export function summarize(records: HistoryRecord[], asOf: string, targets?: Pick<ReportCustomer, 'ackWithinMinutes' | 'resolveWithinMinutes'>): Summary {
  const notPaged = Object.fromEntries(NOT_PAGED.map((reason) => [reason, 0])) as Record<NotPaged, number>;
  const page: number[] = [];
  const ack: number[] = [];
  const resolve: number[] = [];
  let paged = 0;
  let handledTogether = 0;
  for (const record of records) {
    const reason = notPagedOf(record);
    if (reason) notPaged[reason] += 1;
    if (record.outcome !== 'paged') continue;
    paged += 1;
    if ((record.handledWith ?? 0) > 0) handledTogether += 1;
    if (record.pagedAt) page.push(seconds(record.askedAt, record.pagedAt));
    const answered = answeredAt(record);
    if (answered) ack.push(seconds(record.askedAt, answered));
    if (record.resolvedAt) resolve.push(seconds(record.askedAt, record.resolvedAt));
  }
  const ackTarget = target(records, targets?.ackWithinMinutes, answeredAt, asOf);
  const resolveTarget = target(records, targets?.resolveWithinMinutes, (r) => r.resolvedAt, asOf);
  return {
    asked: records.length,
    paged,
    folded: notPaged.folded,
    refused: notPaged.unregistered + notPaged.paused + notPaged['not-approved'],
    notPaged,
    handledTogether,
    timeToPage: durations(page),
    timeToAcknowledge: durations(ack),
    timeToResolve: durations(resolve),
    ...(ackTarget ? { ackTarget } : {}),
    ...(resolveTarget ? { resolveTarget } : {}),
  };
}

/** The Monday (UTC) of the week an instant falls in, as `2026-11-30`. */
export function weekOf(iso: string): string {
  const day = new Date(iso);
  const monday = new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate() - ((day.getUTCDay() + 6) % 7)));
  return monday.toISOString().slice(0, 10);
}

/** Every week a period touches, first to last, so a quiet week shows as a zero rather than a gap. */
export function weeksOf(from: Date, to: Date): string[] {
  const weeks: string[] = [];
  for (let at = new Date(`${weekOf(from.toISOString())}T00:00:00.000Z`); at < to; at.setUTCDate(at.getUTCDate() + 7)) weeks.push(at.toISOString().slice(0, 10));
  return weeks;
}

function byWeek(records: HistoryRecord[], from: Date, to: Date, asOf: string, targets?: Pick<ReportCustomer, 'ackWithinMinutes' | 'resolveWithinMinutes'>): Week[] {
  const groups = new Map<string, HistoryRecord[]>(weeksOf(from, to).map((week) => [week, []]));
  for (const record of records) groups.get(weekOf(record.askedAt))?.push(record);
  return [...groups].map(([week, group]) => ({ week, summary: summarize(group, asOf, targets) }));
}

/**
 * The report of a period. Customers are those that asked in it, and those named in `only`;
 * a channel no longer registered is shown by its id.
 * @param asOf when "not yet acknowledged" is judged against the targets (now, or the period's end if earlier)
 */
export function buildReport(records: HistoryRecord[], customers: ReportCustomer[], period: { from: Date; to: Date }, asOf: Date, only?: string): Report {
  const judged = new Date(Math.min(asOf.getTime(), period.to.getTime())).toISOString();
  const known = new Map(customers.map((c) => [c.channel, c]));
  const byChannel = new Map<string, HistoryRecord[]>();
  if (only) byChannel.set(only, []);
  for (const record of records) {
    if (only && record.channel !== only) continue;
    if (!byChannel.has(record.channel)) byChannel.set(record.channel, []);
    byChannel.get(record.channel)!.push(record);
  }
  const mine = only ? (byChannel.get(only) ?? []) : records;
  const customerReports = [...byChannel].map(([channel, group]): CustomerReport => {
    const customer = known.get(channel);
    const targets = { ...(customer?.ackWithinMinutes !== undefined ? { ackWithinMinutes: customer.ackWithinMinutes } : {}), ...(customer?.resolveWithinMinutes !== undefined ? { resolveWithinMinutes: customer.resolveWithinMinutes } : {}) };
    return { channel, name: customer?.name ?? channel, ...targets, summary: summarize(group, judged, targets), weeks: byWeek(group, period.from, period.to, judged, targets) };
  });
  customerReports.sort((a, b) => b.summary.asked - a.summary.asked || a.name.localeCompare(b.name));
  const onlyTargets = only ? customerReports[0] : undefined;
  const totalTargets = onlyTargets ? { ...(onlyTargets.ackWithinMinutes !== undefined ? { ackWithinMinutes: onlyTargets.ackWithinMinutes } : {}), ...(onlyTargets.resolveWithinMinutes !== undefined ? { resolveWithinMinutes: onlyTargets.resolveWithinMinutes } : {}) } : undefined;
  const total = summarize(mine, judged, totalTargets);
  // Across customers, each escalation is judged by its own customer's targets.
  if (!only) {
    for (const key of ['ackTarget', 'resolveTarget'] as const) {
      const parts = customerReports.map((c) => c.summary[key]).filter((t): t is TargetResult => t !== undefined);
      if (parts.length) total[key] = { met: sum(parts, 'met'), missed: sum(parts, 'missed'), pending: sum(parts, 'pending') };
    }
  }
  return { from: period.from.toISOString(), to: period.to.toISOString(), total, weeks: byWeek(mine, period.from, period.to, judged, totalTargets), customers: customerReports };
}

const sum = (parts: TargetResult[], key: 'met' | 'missed' | 'pending') => parts.reduce((n, t) => n + t[key], 0);

/** A customer's last days at a glance (the sandbox console's card): the report's numbers, and escalations per day. */
export interface RecentSummary {
  days: number;
  asked: number;
  paged: number;
  medianAckSeconds?: number;
  /** Escalations asked each day, oldest first, today last. */
  perDay: number[];
}

export function recentSummary(records: HistoryRecord[], now: Date, days = 30): RecentSummary {
  const summary = summarize(records, now.toISOString());
  const perDay = new Array<number>(days).fill(0);
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  for (const record of records) {
    const day = days - 1 - Math.floor((today - Date.parse(record.askedAt.slice(0, 10))) / 86_400_000);
    if (day >= 0 && day < days) perDay[day]! += 1;
  }
  return { days, asked: summary.asked, paged: summary.paged, ...(summary.timeToAcknowledge.median !== undefined ? { medianAckSeconds: summary.timeToAcknowledge.median } : {}), perDay };
}
