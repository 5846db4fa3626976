import type { TargetCheck } from './results-types';
import type { StormResult } from './storm';

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const trio = (x: { p50: number; p95: number; max: number }) => `${s(x.p50)} / ${s(x.p95)} / ${s(x.max)}`;

/** The storm goals of issue 16, checked against one storm run. */
export function stormTargets(storm: { own?: StormResult; shared?: StormResult }): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const clean = (r: StormResult) => Object.values(r.checks).every((n) => n === 0);
  for (const [label, r] of [['own keys', storm.own], ['one shared key', storm.shared]] as const) {
    if (!r) continue;
    checks.push({ target: `storm (${r.escalations} channels, ${label}): 0 duplicates, 0 lost, 0 in the DLQ`, measured: JSON.stringify(r.checks), met: clean(r) });
    checks.push({ target: `storm (${label}): never retried before Retry-After`, measured: `${r.slack429.honoured} of ${r.slack429.retried} refused posts retried no earlier`, met: r.slack429.honoured === r.slack429.retried });
  }
  if (storm.own) {
    checks.push({ target: `storm, own keys: every customer confirmed within 60 s`, measured: `max ${s(storm.own.confirmed.max)}`, met: storm.own.confirmed.max <= 60_000 });
    checks.push({ target: `storm, own keys: every channel shows the status update within 60 s`, measured: `max ${s(storm.own.statusUpdateShown.max)}`, met: storm.own.statusUpdateShown.n === storm.own.escalations && storm.own.statusUpdateShown.max <= 60_000 });
    checks.push({ target: `storm, own keys: every channel shows the resolution within 60 s`, measured: `max ${s(storm.own.resolutionShown.max)}`, met: storm.own.resolutionShown.n === storm.own.escalations && storm.own.resolutionShown.max <= 60_000 });
  }
  if (storm.shared?.pagerDutyBoundMs) {
    const r = storm.shared;
    checks.push({ target: `storm, one shared key: all paged within 10% of PagerDuty's bound (${s(r.pagerDutyBoundMs!)})`, measured: `${s(r.allPagedMs)}`, met: r.allPagedMs <= r.pagerDutyBoundMs! * 1.1 });
  }
  return checks;
}

/** The storm's table for bench/results/latest.md. */
export function renderStorm(storm: { own?: StormResult; shared?: StormResult }): string[] {
  const runs = [storm.own, storm.shared].filter((r): r is StormResult => !!r);
  if (!runs.length) return [];
  const lines = [
    `**Storm** — registered customer channels escalate within ${s(runs[0]!.options.spreadMs)}, the stand-ins enforcing Slack's and PagerDuty's documented limits (workspace-wide chat.postMessage: our choice, 600 a minute); on-call then merges every incident into one internal incident, publishes a status update and resolves it. Times from the customer's request. p50 / p95 / max.`,
    '',
    `| | ${runs.map((r) => `${r.escalations} channels, ${r.options.routingKeys === 'own' ? 'each its own routing key' : 'one shared routing key'}`).join(' | ')} |`,
    `|---|${runs.map(() => '---:').join('|')}|`,
  ];
  const row = (name: string, f: (r: StormResult) => string) => lines.push(`| ${name} | ${runs.map(f).join(' | ')} |`);
  row('paged (PagerDuty trigger accepted)', (r) => trio(r.paged));
  row('confirmed in the channel', (r) => trio(r.confirmed));
  row('last customer paged / confirmed', (r) => `${s(r.allPagedMs)} / ${s(r.allConfirmedMs)}`);
  row("PagerDuty's bound for these triggers (120 a minute per key)", (r) => (r.pagerDutyBoundMs ? s(r.pagerDutyBoundMs) : 'none (≤ 120 per key)'));
  row('status update published → posted in each channel', (r) => trio(r.statusUpdateShown));
  row('resolve → resolution posted in each channel', (r) => trio(r.resolutionShown));
  row("resolve → confirmation re-rendered resolved (chat.update, paced; Slack's 50 a minute bound these)", (r) => `${r.resolutionUpdated.n} of ${r.escalations}: ${trio(r.resolutionUpdated)} (bound ${s(r.updateBoundMs)})${r.settled ? '' : ' (run stopped before all)'}`);
  row('chat.update calls made (one per confirmation whose status changed)', (r) => `${r.updatesMade}`);
  row('Slack 429s: posts refused / retried no earlier than Retry-After; updates refused', (r) => `${r.slack429.received} / ${r.slack429.honoured} of ${r.slack429.retried}; ${r.slack429.updatesRefused}`);
  row('PagerDuty Events 429s (no Retry-After); shortest wait before a retry', (r) => `${r.pagerDuty429.received}; ${r.pagerDuty429.shortestRetryGapMs !== undefined ? s(r.pagerDuty429.shortestRetryGapMs) : '–'}`);
  row('duplicates (incidents, confirmations, status updates, resolutions)', (r) => `${r.checks.duplicateIncidents}, ${r.checks.duplicateConfirmations}, ${r.checks.duplicateStatusUpdates}, ${r.checks.duplicateResolutions}`);
  row('lost (triggers, confirmations, status updates, resolutions), DLQ', (r) => `${r.checks.missingTriggers}, ${r.checks.missingConfirmations}, ${r.checks.missingStatusUpdates}, ${r.checks.missingResolutions}, ${r.checks.deadLettered}`);
  row('CPU per escalation (whole one-process stack)', (r) => `${r.cpuMsPerEscalation} ms`);
  row('peak RSS', (r) => `${r.peakRssMb} MB`);
  row('run length; load average at the end', (r) => `${s(r.durationMs)}; ${r.loadAverage[0]}`);
  lines.push('');
  return lines;
}
