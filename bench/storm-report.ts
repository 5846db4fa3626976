import type { TargetCheck } from './results-types';
import { STORM_VARIANTS, variantOf, type StormResult, type StormRuns, type StormVariant } from './storm';
import { SETTINGS } from '../lib/runtime/settings';

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const trio = (x: { p50: number; p95: number; max: number }) => `${s(x.p50)} / ${s(x.p95)} / ${s(x.max)}`;

/** Issue 27's goal: every step of the storm within 15% of the least time the rate limits allow. */
export const STORM_RATIO_GOAL = 1.15;
/** The sizes the goal is set for; smaller runs (the quick run's 20 channels) show their ratios without it. */
const GOAL_SIZES = [300, 1000];
/** What pd-router paces its re-renders at by default (SLACK_UPDATES_PER_MINUTE), at Slack's 50 a minute. */
const UPDATES_PER_MINUTE = SETTINGS.SLACK_UPDATES_PER_MINUTE.default;
/** How a fan-out's posts go by default: a burst, then turns under the workspace's refill. */
const FANOUT_BURST = SETTINGS.SLACK_FANOUT_POST_BURST.default;
const FANOUT_PER_MINUTE = SETTINGS.SLACK_FANOUT_POSTS_PER_MINUTE.default;
/** How each variant is named in the tables: in a column's head, and in a target. */
const VARIANT_COLUMN: Record<StormVariant, string> = { own: 'each its own routing key', shared: 'one shared routing key', unheard: "own keys, the resolve's webhooks lost (the reconciler tells)" };
const VARIANT_SHORT: Record<StormVariant, string> = { own: 'own keys', shared: 'one shared key', unheard: 'own keys, resolve unheard' };
/** Where the run's workers ran (results written before worker processes ran everything in one). */
const workersOf = (r: StormResult) => (r.options.workerProcesses ? 'each worker in its own process' : 'one process for everything');

export interface StormStep {
  step: 'paged' | 'confirmed' | 'status update' | 'resolution' | 're-render';
  label: string;
  /** The measured time, or undefined when the run did not see every channel through the step. */
  measuredMs?: number;
  boundMs: number;
  ratio?: number;
}

/** Each step of one storm run against its bound (none for results written before the bounds). */
export function stormSteps(r: StormResult): StormStep[] {
  const b = r.bounds;
  if (!b) return [];
  const all = (x: { n: number; max: number }) => (x.n === r.escalations ? x.max : undefined);
  const steps: Omit<StormStep, 'ratio'>[] = [
    { step: 'paged', label: 'first request → last customer paged (PagerDuty accepted its trigger)', measuredMs: r.checks.missingTriggers ? undefined : r.allPagedMs, boundMs: b.lastPagedMs },
    { step: 'confirmed', label: 'first request → last customer confirmed in its channel', measuredMs: r.checks.missingConfirmations ? undefined : r.allConfirmedMs, boundMs: b.lastConfirmedMs },
    { step: 'status update', label: 'status update published → shown in every channel', measuredMs: all(r.statusUpdateShown), boundMs: b.statusUpdateMs },
    // Unheard, the channels learn it from one read of PagerDuty (the reconciler's) before their posts.
    r.options.resolutionUnheard
      ? { step: 'resolution', label: 'resolve (webhooks lost) → resolution shown in every channel', measuredMs: all(r.resolutionShown), boundMs: b.resolutionMs + r.options.standInLatencyMs }
      : { step: 'resolution', label: 'resolve → resolution shown in every channel', measuredMs: all(r.resolutionShown), boundMs: b.resolutionMs },
    { step: 're-render', label: 'resolve → every confirmation re-rendered resolved (chat.update)', measuredMs: all(r.resolutionUpdated), boundMs: b.rerenderMs },
  ];
  return steps.map((x) => ({ ...x, ...(x.measuredMs !== undefined ? { ratio: x.measuredMs / x.boundMs } : {}) }));
}

const ratio = (x: number) => `${x.toFixed(2)}×`;

/** Why a step is over (or not measured against) its bound, from what the run recorded. */
function whyMissed(r: StormResult, step: StormStep, steps: StormStep[]): string {
  switch (step.step) {
    case 'paged':
    case 'confirmed': {
      const paged = steps.find((x) => x.step === 'paged');
      if (r.options.routingKeys === 'shared' && paged?.ratio !== undefined && paged.ratio > STORM_RATIO_GOAL) {
        return `the last trigger itself came at ${ratio(paged.ratio)} its bound: triggers take turns under the key's window, but one that reaches PagerDuty later than its recorded turn (a busy event loop, a late redelivery) finds the window full (${r.pagerDuty429.received} 429s, no Retry-After) and backs off up to 20 s`;
      }
      if (step.step === 'paged') return `PagerDuty accepted the triggers later than its limit allows: every customer's first escalation in ${s(r.options.spreadMs)}, each a run of DynamoDB round trips, on the ${r.cores} cores the emulators, the stand-ins, the ingress and the workers (${workersOf(r)}) share (${r.cpuMsPerEscalation} ms of CPU per escalation in all)`;
      return `the triggers came late (above), and the confirmations share the workspace's post limit: one refused (${r.slack429.retried} 429s in the run) is retried no earlier than its Retry-After, when the queue next delivers it`;
    }
    case 'status update':
    case 'resolution':
      if (step.step === 'resolution' && r.options.resolutionUnheard) {
        const runs = r.reconcilerRuns ?? [];
        return `the reconciler tells the channels ten side by side, its posts on the lane the fan-outs take (SLACK_FANOUT_POST_BURST ${FANOUT_BURST}, then ${FANOUT_PER_MINUTE} a minute under the bucket's 600); ${runs.length === 1 ? 'one run told every channel' : `${runs.length} runs, ${r.options.reconcileEverySeconds ?? 300} s apart, told them (a run starts no link once the next is due, or with less than a link's time left of its 300 s)`}`;
      }
      return `the fan-out's posts spend SLACK_FANOUT_POST_BURST (${FANOUT_BURST} of the bucket's 20) and then go at SLACK_FANOUT_POSTS_PER_MINUTE (${FANOUT_PER_MINUTE} a minute under its refill of 600), and a post whose turn is more than 3 s away leaves and comes back when the queue next delivers it, a second or more late${step.step === 'status update' ? "; the status update follows the merge, whose announcements to on-call (each reading every follower of the incident) may still be running" : ''}`;
    case 're-render':
      return `pd-router paces re-renders evenly at SLACK_UPDATES_PER_MINUTE (${UPDATES_PER_MINUTE} a minute; the bound also spends the bucket's burst of 10 at once), and a refresh whose turn is more than 1 s away leaves and comes back when the queue next delivers it`;
  }
}

/** The storm goals of issues 16 and 27, checked against each storm run. */
export function stormTargets(storm: StormRuns): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const clean = (r: StormResult) => Object.values(r.checks).every((n) => n === 0);
  for (const variant of STORM_VARIANTS) {
    const r = storm[variant];
    if (!r) continue;
    const label = VARIANT_SHORT[variant];
    checks.push({ target: `storm (${r.escalations} channels, ${label}): 0 duplicates, 0 lost, 0 in the DLQ`, measured: JSON.stringify(r.checks), met: clean(r) });
    checks.push({ target: `storm (${r.escalations} channels, ${label}): never retried before Retry-After`, measured: `${r.slack429.honoured} of ${r.slack429.retried} refused posts retried no earlier`, met: r.slack429.honoured === r.slack429.retried });
    const steps = stormSteps(r);
    const goalHere = GOAL_SIZES.includes(r.escalations);
    for (const step of steps) {
      if (step.step === 'paged') continue;
      // Unheard, every step but the resolution is the own-key run's again (and its re-renders the same paced refresh).
      if (variant === 'unheard' && step.step !== 'resolution') continue;
      const target = `storm (${r.escalations} channels, ${label}): ${step.step} ≤ ${STORM_RATIO_GOAL} × the least time the rate limits allow (${s(step.boundMs)})`;
      if (step.ratio === undefined) {
        const why = step.step === 're-render' && !r.settled ? 'not measured: the run stopped before every confirmation was re-rendered' : 'not measured: not every channel got there in the run';
        checks.push({ target, measured: 'n/a', met: goalHere ? false : null, note: why });
        continue;
      }
      const met = step.ratio <= STORM_RATIO_GOAL;
      const note = !goalHere ? `the goal is set at ${GOAL_SIZES.join(' and ')} channels` : met ? `within ${Math.round((STORM_RATIO_GOAL - 1) * 100)}% of the bound` : whyMissed(r, step, steps);
      checks.push({ target, measured: `${s(step.measuredMs!)}: ${ratio(step.ratio)}`, met: goalHere ? met : null, note });
    }
  }
  return checks;
}

/** The storm's table for bench/results/latest.md. */
export function renderStorm(storm: StormRuns, larger?: StormRuns): string[] {
  const runs = [storm, larger ?? {}].flatMap((sized) => STORM_VARIANTS.map((variant) => sized[variant])).filter((r): r is StormResult => !!r);
  if (!runs.length) return [];
  const lines = [
    `**Storm** — registered customer channels escalate within ${s(runs[0]!.options.spreadMs)}, the stand-ins enforcing Slack's and PagerDuty's documented limits (workspace-wide chat.postMessage: our choice, 600 a minute); on-call then merges every incident into one internal incident, publishes a status update and resolves it${runs[0]!.options.reconcileEverySeconds ? `; the reconciler runs every ${runs[0]!.options.reconcileEverySeconds} s, as deployed` : ''}${runs.some((r) => r.options.resolutionUnheard) ? `. Where the resolve's webhooks are lost, only the reconciler tells the channels: its runs start at the resolve and every ${runs[0]!.options.reconcileEverySeconds ?? 300} s after (deployed, the first comes up to that long after the resolve: not counted)` : ''}. Times from the customer's request. p50 / p95 / max.`,
    '',
    `| | ${runs.map((r) => `${r.escalations} channels, ${VARIANT_COLUMN[variantOf(r.options)]}`).join(' | ')} |`,
    `|---|${runs.map(() => '---:').join('|')}|`,
  ];
  const row = (name: string, f: (r: StormResult) => string) => lines.push(`| ${name} | ${runs.map(f).join(' | ')} |`);
  row('paged (PagerDuty trigger accepted)', (r) => trio(r.paged));
  row('confirmed in the channel', (r) => trio(r.confirmed));
  row('last customer paged / confirmed', (r) => `${s(r.allPagedMs)} / ${s(r.allConfirmedMs)}`);
  row('status update published → posted in each channel', (r) => trio(r.statusUpdateShown));
  row('resolve → resolution posted in each channel', (r) => trio(r.resolutionShown));
  if (runs.some((r) => r.reconcilerRuns)) row('reconciler runs from the resolve (each: started at, examined, took)', (r) => (r.reconcilerRuns ? r.reconcilerRuns.map((run) => `${s(run.startedMs)}: ${run.examined}, ${s(run.tookMs)}`).join('; ') : '–'));
  row("resolve → confirmation re-rendered resolved (chat.update, paced under Slack's 50 a minute)", (r) => `${r.resolutionUpdated.n} of ${r.escalations}: ${trio(r.resolutionUpdated)}${r.settled ? '' : ' (run stopped before all)'}`);
  row('chat.update calls made (one per confirmation whose status changed)', (r) => `${r.updatesMade}`);
  row('Slack 429s: posts refused / retried no earlier than Retry-After; updates refused', (r) => `${r.slack429.received} / ${r.slack429.honoured} of ${r.slack429.retried}; ${r.slack429.updatesRefused}`);
  row('refused posts by kind (s after the first request: first–last)', (r) => refusedByKind(r.slack429.byKind));
  row('PagerDuty Events 429s (no Retry-After); shortest wait before a retry', (r) => `${r.pagerDuty429.received}; ${r.pagerDuty429.shortestRetryGapMs !== undefined ? s(r.pagerDuty429.shortestRetryGapMs) : '–'}`);
  row('PagerDuty REST calls (960 a minute per API key): answered / refused with 429', (r) => {
    const rest = r.rateLimits.pagerDuty['pagerduty.rest.token'];
    return `${rest.allowed} / ${rest.refused}`;
  });
  row('duplicates (incidents, confirmations, status updates, resolutions)', (r) => `${r.checks.duplicateIncidents}, ${r.checks.duplicateConfirmations}, ${r.checks.duplicateStatusUpdates}, ${r.checks.duplicateResolutions}`);
  row('lost (triggers, confirmations, status updates, resolutions), DLQ', (r) => `${r.checks.missingTriggers}, ${r.checks.missingConfirmations}, ${r.checks.missingStatusUpdates}, ${r.checks.missingResolutions}, ${r.checks.deadLettered}`);
  row('workers', workersOf);
  row('CPU per escalation (the whole stack: emulators, stand-ins, ingress, workers)', (r) => `${r.cpuMsPerEscalation} ms`);
  row('peak RSS (with worker processes: the sum of each one\'s peak)', (r) => `${r.peakRssMb} MB`);
  row('run length; load average at the end', (r) => `${s(r.durationMs)}; ${r.loadAverage[0]}`);
  row('ran at (commit)', (r) => (r.ranAt ? `${r.ranAt.slice(0, 16).replace('T', ' ')} UTC${r.commit ? ` (${r.commit})` : ''}` : '–'));
  lines.push('');
  const measured = runs.filter((r) => r.bounds);
  if (measured.length) {
    lines.push(
      `**The storm against its bound** — each step's measured time over the least time Slack's and PagerDuty's limits allow for this run's shape (bench/lib/storm-bounds.ts: the limits the stand-ins enforce, the channels, own keys or one shared, the spread, one ${measured[0]!.options.standInLatencyMs} ms call at the end of each step). Goal: ≤ ${STORM_RATIO_GOAL}× at ${GOAL_SIZES.join(' and ')} channels.`,
      '',
      `| step | ${measured.map((r) => `${r.escalations} channels, ${VARIANT_SHORT[variantOf(r.options)]}: measured / bound = ratio`).join(' | ')} |`,
      `|---|${measured.map(() => '---:').join('|')}|`,
    );
    const stepsOf = measured.map(stormSteps);
    for (const [i, step] of stepsOf[0]!.entries()) {
      const cells = stepsOf.map((steps) => {
        const x = steps[i]!;
        return x.ratio === undefined ? `not measured / ${s(x.boundMs)}` : `${s(x.measuredMs!)} / ${s(x.boundMs)} = **${ratio(x.ratio)}**`;
      });
      lines.push(`| ${step.label} | ${cells.join(' | ')} |`);
    }
    lines.push('');
  }
  return lines;
}

/** "confirm 50 (3.1–12.0 s), joined 3 (…)", or "–" (none refused, or a run from before the breakdown). */
function refusedByKind(byKind: StormResult['slack429']['byKind']): string {
  const kinds = Object.entries(byKind ?? {}).sort(([, a], [, b]) => b.refused - a.refused);
  if (kinds.length === 0) return '–';
  return kinds.map(([kind, k]) => `${kind} ${k.refused} (${(k.firstAtMs / 1000).toFixed(1)}–${(k.lastAtMs / 1000).toFixed(1)} s)`).join(', ');
}
