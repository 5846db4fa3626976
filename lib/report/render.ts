import { formatMinutes } from '../runtime/duration';
import { formatSeconds } from './format';
import { NOT_PAGED, type CustomerReport, type Durations, type Report, type Summary, type TargetResult, type Week } from './report';

/** The report as a person reads it: a terminal table, CSV, JSON, or one HTML file with its charts. */

export { formatSeconds };

const triple = (d: Durations) => (d.count ? `${formatSeconds(d.median)} / ${formatSeconds(d.p90)} / ${formatSeconds(d.max)}` : '–');

function targetText(t: TargetResult | undefined): string {
  if (!t) return '–';
  return `${t.targetMinutes !== undefined ? `≤${formatSeconds(t.targetMinutes * 60)}: ` : ''}${t.met} met, ${t.missed} missed${t.pending ? `, ${t.pending} pending` : ''}`;
}

function notPagedText(s: Summary): string {
  const parts = NOT_PAGED.filter((reason) => reason !== 'folded' && s.notPaged[reason] > 0).map((reason) => `${reason} ${s.notPaged[reason]}`);
  return parts.join(', ') || '–';
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '─'.repeat(w))), ...rows.map(line)];
}

const SUMMARY_HEADER = ['', 'asked', 'paged', 'folded', 'refused', 'page p50/p90/max', 'ack p50/p90/max', 'resolve p50/p90/max', 'ack target', 'resolve target'];
const summaryCells = (label: string, s: Summary) => [label, String(s.asked), String(s.paged), String(s.folded), String(s.refused), triple(s.timeToPage), triple(s.timeToAcknowledge), triple(s.timeToResolve), targetText(s.ackTarget), targetText(s.resolveTarget)];

function scopeOf(report: Report, only?: string): string {
  if (only) {
    const c = report.customers[0];
    return c ? `${c.name} (${c.channel})` : only;
  }
  return `all customers (${report.customers.length} asked)`;
}

/** The terminal table: the period per customer, then week by week, then why escalations were not paged. */
export function renderText(report: Report, only?: string): string {
  const lines = [`Response report, ${report.from.slice(0, 10)} to ${report.to.slice(0, 10)} (to ${report.to.slice(11, 16)} UTC), ${scopeOf(report, only)}`, ''];
  lines.push(...table(SUMMARY_HEADER, [...(only ? [] : report.customers.map((c) => summaryCells(c.name, c.summary))), summaryCells(only ? 'period' : 'all', report.total)]));
  lines.push('', 'Week by week (weeks start Monday, UTC)');
  const weeks = only ? (report.customers[0]?.weeks ?? report.weeks) : report.weeks;
  lines.push(...table(['week of', ...SUMMARY_HEADER.slice(1)], weeks.map((w) => summaryCells(w.week, w.summary))));
  lines.push('', `Not paged: ${notPagedText(report.total)}; handled together with other escalations: ${report.total.handledTogether}`);
  if (!report.total.asked) lines.push('', 'No escalation was asked in this period.');
  return lines.join('\n');
}

const CSV_HEADER = [
  'channel', 'customer', 'week', 'asked', 'paged', 'folded', 'refused', ...NOT_PAGED.filter((r) => r !== 'folded').map((r) => `not_paged_${r.replace(/-/g, '_')}`), 'handled_together',
  ...['page', 'ack', 'resolve'].flatMap((what) => [`${what}_count`, `${what}_median_s`, `${what}_p90_s`, `${what}_max_s`]),
  'ack_target_min', 'ack_met', 'ack_missed', 'ack_pending', 'resolve_target_min', 'resolve_met', 'resolve_missed', 'resolve_pending',
];

function csvCell(value: string | number | undefined): string {
  if (value === undefined) return '';
  const text = String(value);
  // A leading = + - @ makes spreadsheets run the cell as a formula: names are a customer's to choose.
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

function csvRow(channel: string, name: string, week: string, s: Summary): string {
  const d = (x: Durations) => [x.count, x.median, x.p90, x.max];
  const t = (x: TargetResult | undefined) => (x ? [x.targetMinutes, x.met, x.missed, x.pending] : [undefined, undefined, undefined, undefined]);
  return [channel, name, week, s.asked, s.paged, s.folded, s.refused, ...NOT_PAGED.filter((r) => r !== 'folded').map((r) => s.notPaged[r]), s.handledTogether, ...d(s.timeToPage), ...d(s.timeToAcknowledge), ...d(s.timeToResolve), ...t(s.ackTarget), ...t(s.resolveTarget)]
    .map(csvCell)
    .join(',');
}

/** CSV: one row per customer for the period (week empty) and per customer and week; then the same for all customers (channel empty). */
export function renderCsv(report: Report): string {
  const rows = [CSV_HEADER.join(',')];
  for (const c of report.customers) {
    rows.push(csvRow(c.channel, c.name, '', c.summary));
    for (const w of c.weeks) rows.push(csvRow(c.channel, c.name, w.week, w.summary));
  }
  rows.push(csvRow('', 'all customers', '', report.total));
  for (const w of report.weeks) rows.push(csvRow('', 'all customers', w.week, w.summary));
  return rows.join('\n');
}

export function renderJson(report: Report): string {
  return JSON.stringify(report, null, 2);
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const minutes = (s: number | undefined) => (s === undefined ? null : Math.round((s / 60) * 10) / 10);

/** One colour per measure, a target in its measure's hue (drawn dashed); the legend below, its labels whole. */
function measureColor(targets: string[]) {
  return {
    field: 'measure',
    type: 'nominal',
    title: null,
    scale: {
      domain: ['acknowledge, median', 'acknowledge, p90', 'resolve, median', 'resolve, p90', ...targets],
      range: ['#1f77b4', '#aec7e8', '#2ca02c', '#98df8a', ...targets.map((t) => (t.includes('acknowledge') ? '#1f77b4' : '#2ca02c'))],
    },
    legend: { orient: 'bottom', labelLimit: 0, columns: 3 },
  };
}

/** Vega-Lite specs of the report's charts: response times per week (targets as lines), per customer, and counts per week. */
export function chartSpecs(report: Report, only?: string): { title: string; spec: Record<string, unknown> }[] {
  const focus: CustomerReport | undefined = only ? report.customers[0] : undefined;
  const weeks: Week[] = focus?.weeks ?? report.weeks;
  const perWeek = weeks.flatMap((w) => [
    { week: w.week, measure: 'acknowledge, median', minutes: minutes(w.summary.timeToAcknowledge.median) },
    { week: w.week, measure: 'acknowledge, p90', minutes: minutes(w.summary.timeToAcknowledge.p90) },
    { week: w.week, measure: 'resolve, median', minutes: minutes(w.summary.timeToResolve.median) },
    { week: w.week, measure: 'resolve, p90', minutes: minutes(w.summary.timeToResolve.p90) },
  ]).filter((d) => d.minutes !== null);
  const targetLines = focus
    ? [
        ...(focus.ackWithinMinutes !== undefined ? [{ measure: `target: acknowledge within ${formatMinutes(focus.ackWithinMinutes)}`, minutes: focus.ackWithinMinutes }] : []),
        ...(focus.resolveWithinMinutes !== undefined ? [{ measure: `target: resolve within ${formatMinutes(focus.resolveWithinMinutes)}`, minutes: focus.resolveWithinMinutes }] : []),
      ]
    : [];
  const x = { field: 'week', type: 'temporal', title: 'week of', axis: { format: '%b %d' } };
  const charts: { title: string; spec: Record<string, unknown> }[] = [
    {
      title: 'Time to acknowledge and resolve, per week (minutes; dashed: targets)',
      spec: {
        width: 640,
        height: 260,
        layer: [
          { data: { values: perWeek }, mark: { type: 'line', point: true }, encoding: { x, y: { field: 'minutes', type: 'quantitative', title: 'minutes after asking', scale: { type: 'log' } }, color: measureColor(targetLines.map((t) => t.measure)) } },
          ...(targetLines.length ? [{ data: { values: targetLines }, mark: { type: 'rule', strokeDash: [6, 4], strokeWidth: 2 }, encoding: { y: { field: 'minutes', type: 'quantitative' }, color: measureColor(targetLines.map((t) => t.measure)) } }] : []),
        ],
      },
    },
    {
      title: 'Escalations per week',
      spec: {
        width: 640,
        height: 200,
        data: { values: weeks.flatMap((w) => [{ week: w.week, what: 'paged', count: w.summary.paged }, { week: w.week, what: 'folded', count: w.summary.folded }, { week: w.week, what: 'not paged', count: w.summary.asked - w.summary.paged - w.summary.folded }]) },
        mark: 'bar',
        encoding: { x: { field: 'week', type: 'ordinal', title: 'week of', axis: { labelAngle: 0 } }, y: { field: 'count', type: 'quantitative', title: 'escalations', stack: true }, color: { field: 'what', type: 'nominal', title: null } },
      },
    },
  ];
  if (!only && report.customers.length) {
    const rows = report.customers.slice(0, 40);
    charts.push({
      title: 'Median time to acknowledge per customer (minutes; ticks: its target)',
      spec: {
        width: 640,
        height: Math.max(120, rows.length * 18),
        layer: [
          { data: { values: rows.map((c) => ({ customer: c.name, minutes: minutes(c.summary.timeToAcknowledge.median) })).filter((d) => d.minutes !== null) }, mark: 'bar', encoding: { y: { field: 'customer', type: 'nominal', sort: null, title: null }, x: { field: 'minutes', type: 'quantitative', title: 'minutes after asking' } } },
          { data: { values: rows.filter((c) => c.ackWithinMinutes !== undefined).map((c) => ({ customer: c.name, minutes: c.ackWithinMinutes })) }, mark: { type: 'tick', color: '#d62728', thickness: 2 }, encoding: { y: { field: 'customer', type: 'nominal', sort: null }, x: { field: 'minutes', type: 'quantitative' } } },
        ],
      },
    });
  }
  return charts;
}

/** A Vega-Lite spec drawn as SVG now, so the file needs no script and no network when opened. */
export async function renderSvg(spec: Record<string, unknown>): Promise<string> {
  // Both are ES modules with top-level await: loaded only when a chart is drawn.
  const vega = await import('vega');
  const vegaLite = await import('vega-lite');
  const compiled = vegaLite.compile({ $schema: 'https://vega.github.io/schema/vega-lite/v6.json', ...spec } as never).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** One self-contained HTML file: the charts as inline SVG, the tables as HTML. */
export async function renderHtml(report: Report, only?: string): Promise<string> {
  const charts = await Promise.all(chartSpecs(report, only).map(async (chart) => `<figure><figcaption>${escapeHtml(chart.title)}</figcaption>${await renderSvg(chart.spec)}</figure>`));
  const htmlTable = (header: string[], rows: string[][]) =>
    `<table><thead><tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
  const weeks = only ? (report.customers[0]?.weeks ?? report.weeks) : report.weeks;
  const scope = scopeOf(report, only);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pd-router response report: ${escapeHtml(scope)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}figure{margin:2em 0}figcaption{font-weight:600;margin-bottom:.5em}</style>
</head><body>
<h1>Response report</h1>
<p>${escapeHtml(report.from.slice(0, 10))} to ${escapeHtml(report.to.slice(0, 10))}, ${escapeHtml(scope)}. Times run from when the customer asked.</p>
${htmlTable(SUMMARY_HEADER, [...(only ? [] : report.customers.map((c) => summaryCells(c.name, c.summary))), summaryCells(only ? 'period' : 'all', report.total)])}
<p>Not paged: ${escapeHtml(notPagedText(report.total))}; handled together with other escalations: ${report.total.handledTogether}.</p>
${charts.join('\n')}
<h2>Week by week</h2>
${htmlTable(['week of', ...SUMMARY_HEADER.slice(1)], weeks.map((w) => summaryCells(w.week, w.summary)))}
</body></html>
`;
}
