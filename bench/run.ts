import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import path from 'node:path';
import { buildBundles, BUILD_DIR, readDeployBuild, ROOT, type BundleResult } from './bundles';
import { measureColdInit, type FunctionName } from './cold-init';
import type { EndToEndOptions, EndToEndResult, OperationCounts } from './end-to-end';
import { measureIngress } from './ingress-latency';
import { measureReportRead } from './report-read';
import { evaluateTargets, renderMarkdown } from './report';
import type { BenchResults } from './results-types';
import { STORM_VARIANTS, type StormOptions, type StormResult, type StormRuns, type StormVariant } from './storm';
import { renderStorm, stormTargets } from './storm-report';
import { round } from './lib/stats';
import { stormBounds } from './lib/storm-bounds';
import { DOCUMENTED_LIMITS } from '../local/stand-ins/rate-limits';
import { SETTINGS } from '../lib/runtime/settings';
import { parseCommandLine, processOutput, usageError } from '../scripts/cli';

/**
 * `npm run bench` (about 22 minutes with the storms), `npm run bench -- --quick` (under 30 s, run by
 * CI so the benchmark never rots) and `npm run bench -- --storm` (the storm alone). Builds the
 * bundles as the deploy does, measures size, cold init, ingress answer time, the whole stack end
 * to end next to the baseline and a 300-customer outage under Slack's and PagerDuty's rate limits,
 * prints the tables and writes bench/results/latest.json and latest.md (quick mode:
 * bench/results/quick.json.tmp).
 */
const USAGE = `usage: npm run bench [-- --quick | --storm] [--channels <n>] [--keys own|shared|unheard]

Builds the five functions as the deploy does and measures bundle sizes, cold starts, ingress
answer times and the whole stack end to end next to the single-function baseline, then a
300-customer outage under Slack's and PagerDuty's rate limits (about 22 minutes in all).
Prints the tables and writes bench/results/latest.json and latest.md.
  --quick   the same code on small numbers, under 30 s; writes bench/results/quick.json.tmp only
  --storm   only the storm (300 customers: own keys, one shared key, then own keys with the
            resolve's webhooks lost; about 20 minutes); its figures replace the storm's in
            bench/results/latest.json and latest.md
  --channels <n>  customer channels in the storm (default 300; 20 with --quick), e.g. --storm --channels 1000
  --keys own|shared|unheard  with --storm: only the storm on the customers' own routing keys, only
            on one shared key, or only on own keys with the resolve's webhooks lost, so that the
            reconciler tells every channel (the others' last figures of the same size are kept)`;

const parsed = parseCommandLine<{ quick?: boolean; storm?: boolean; channels?: string; keys?: string }>(
  process.argv.slice(2),
  { quick: { type: 'boolean' }, storm: { type: 'boolean' }, channels: { type: 'string' }, keys: { type: 'string' } },
  USAGE,
  processOutput,
);
if ('exitCode' in parsed) process.exit(parsed.exitCode);
const quick = parsed.values.quick === true;
const stormOnly = parsed.values.storm === true;
if (quick && stormOnly) process.exit(usageError(processOutput, USAGE, '--quick and --storm exclude each other (--quick already runs a small storm)'));
const keysOnly = parsed.values.keys;
const isVariant = (value: string): value is StormVariant => (STORM_VARIANTS as readonly string[]).includes(value);
if (keysOnly !== undefined && !isVariant(keysOnly)) process.exit(usageError(processOutput, USAGE, `--keys takes own, shared or unheard (not "${keysOnly}")`));
if (keysOnly !== undefined && !stormOnly) process.exit(usageError(processOutput, USAGE, '--keys goes with --storm (the full run makes every storm)'));
/** The full run's storm size; `--storm --channels <other>` is kept beside it (results.stormLarge). */
const DEFAULT_STORM_CHANNELS = 300;
const stormChannels = parsed.values.channels === undefined ? (quick ? 20 : DEFAULT_STORM_CHANNELS) : Number(parsed.values.channels);
if (!Number.isInteger(stormChannels) || stormChannels < 1 || stormChannels > 10_000) process.exit(usageError(processOutput, USAGE, `--channels must be a whole number from 1 to 10000, not "${parsed.values.channels}"`));

/** The reconciler's schedule as deployed (`reconcileEverySeconds`, RECONCILE_EVERY_SECONDS's default). */
const RECONCILE_EVERY_SECONDS_DEPLOYED = SETTINGS.RECONCILE_EVERY_SECONDS.default;

/**
 * A storm's options. Its waits scale with what the limits allow for its size: twice the bound of
 * the last confirmation (1,000 channels on one key need 8 minutes of PagerDuty's 120 a minute).
 */
function stormOptions(variant: StormVariant, channels: number, base: Omit<StormOptions, 'channels' | 'routingKeys' | 'timeoutMs'> & { timeoutMs: number }): StormOptions {
  const keys = variant === 'shared' ? 'shared' : 'own';
  const bounds = stormBounds(DOCUMENTED_LIMITS, { channels, routingKeys: keys, spreadMs: base.spreadMs, callMs: base.standInLatencyMs });
  // The reconciler on its deployed schedule: in a storm long enough, its runs meet the fan-outs.
  return {
    ...base,
    channels,
    routingKeys: keys,
    timeoutMs: Math.max(base.timeoutMs, Math.ceil(2 * bounds.lastConfirmedMs)),
    workerProcesses: true,
    reconcileEverySeconds: RECONCILE_EVERY_SECONDS_DEPLOYED,
    ...(variant === 'unheard' ? { resolutionUnheard: true } : {}),
  };
}

/** The storm runs: each stops once every channel shows the resolution, except the full own-key run, which waits for every queue to drain. */
const wanted = (variant: StormVariant) => keysOnly === undefined || keysOnly === variant;
const STORM: Record<StormVariant, StormOptions | undefined> = quick
  ? { own: stormOptions('own', stormChannels, { spreadMs: 2000, standInLatencyMs: 100, concurrency: 10, timeoutMs: 20_000, settle: false }), shared: undefined, unheard: undefined }
  : {
      // These two run until every confirmation is re-rendered too (Slack's chat.update limit makes that 6+ minutes at 300 channels).
      own: wanted('own') ? stormOptions('own', stormChannels, { spreadMs: 10_000, standInLatencyMs: 100, concurrency: 10, timeoutMs: 300_000, settle: true }) : undefined,
      shared: wanted('shared') ? stormOptions('shared', stormChannels, { spreadMs: 10_000, standInLatencyMs: 100, concurrency: 10, timeoutMs: 300_000, settle: true }) : undefined,
      // Until every channel is told by the reconciler: its re-renders take the paced refresh the own-key run measures.
      unheard: wanted('unheard') ? stormOptions('unheard', stormChannels, { spreadMs: 10_000, standInLatencyMs: 100, concurrency: 10, timeoutMs: 300_000, settle: false }) : undefined,
    };

const PLAN = quick
  ? {
      coldInit: { runs: 3, functions: ['slack-ingress', 'pagerduty-ingress', 'slack-worker', 'baseline', 'floor', 'worker-floor'] as FunctionName[], deployedFor: ['slack-ingress', 'floor'] as FunctionName[] },
      ingress: { requests: 100, warmup: 20, latencies: [0, 100], baselineRequests: { 0: { count: 10, concurrency: 1 }, 100: { count: 10, concurrency: 10 } } },
      burst: { channels: 4, escalationsPerChannel: 3 },
      light: { channels: 3, escalationsPerChannel: 2, ratePerSecond: 4, warmUp: false, concurrency: 5, workerProcesses: true },
      operations: false,
      reportRead: { escalations: 1_000, days: 40, customers: 30, runs: 3 },
    }
  : {
      coldInit: {
        runs: 20,
        functions: ['slack-ingress', 'pagerduty-ingress', 'slack-worker', 'pagerduty-worker', 'baseline', 'floor', 'worker-floor'] as FunctionName[],
        deployedFor: ['slack-ingress', 'pagerduty-ingress', 'floor'] as FunctionName[],
        compileCacheFor: ['slack-ingress', 'slack-worker'] as FunctionName[],
        profileRuns: 5,
      },
      ingress: { requests: 2000, warmup: 200, latencies: [0, 100], baselineRequests: { 0: { count: 200, concurrency: 1 }, 100: { count: 100, concurrency: 10 } } },
      burst: { channels: 50, escalationsPerChannel: 20 },
      light: { channels: 10, escalationsPerChannel: 5, ratePerSecond: 5, warmUp: false, concurrency: 5, workerProcesses: true },
      operations: true,
      reportRead: { escalations: 10_000, days: 400, customers: 300, runs: 5 },
    };

const E2E_DEFAULTS: Omit<EndToEndOptions, 'channels' | 'escalationsPerChannel' | 'mode'> = {
  standInLatencyMs: 100,
  // Pollers per queue. The burst uses the local stack's default of 2: fauxqs wakes every waiting
  // poller for each message, and with more pollers the empty receives that follow cost more CPU
  // than the parallelism saves. The light run uses 5 so that a message rarely waits for a poller.
  concurrency: 2,
  acknowledgeEvery: 2,
  resolveEvery: 4,
  timeoutMs: quick ? 20_000 : 200_000,
};

const say = (line: string) => process.stderr.write(`[bench] ${line}\n`);

/**
 * Run bench/end-to-end-child.ts in a fresh process, so the peak RSS it reports is the stack's alone.
 * Its whole stderr is kept in bench/.build (the stack's warnings, a probe's lines); a failure quotes
 * the end of it.
 */
function inChild<T>(label: string, what: string, script = 'end-to-end-child.ts'): Promise<T> {
  mkdirSync(BUILD_DIR, { recursive: true });
  const resultFile = path.join(BUILD_DIR, `e2e-${process.pid}-${Date.now()}.json`);
  const logFile = path.join(BUILD_DIR, `${label.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '')}.stderr.log`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, script), what, resultFile], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    const log = createWriteStream(logFile);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      log.write(chunk);
      stderr = (stderr + chunk.toString('utf8')).slice(-4000);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      log.end();
      if (code !== 0) return reject(new Error(`end-to-end child exited with ${code} (its whole stderr: ${path.relative(ROOT, logFile)}): ${stderr}`));
      const result = JSON.parse(readFileSync(resultFile, 'utf8')) as T;
      rmSync(resultFile, { force: true });
      resolve(result);
    });
  });
}

async function timed<T>(results: BenchResults, phase: string, run: () => Promise<T>): Promise<T | undefined> {
  const start = Date.now();
  say(`${phase}…`);
  try {
    return await run();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    results.skipped.push({ phase, reason: reason.split('\n')[0]! });
    say(`${phase} failed: ${reason}`);
    return undefined;
  } finally {
    results.phaseSeconds[phase] = round((Date.now() - start) / 1000, 1);
  }
}

async function runStorms(results: BenchResults): Promise<StormRuns> {
  const storm: StormRuns = {};
  for (const variant of STORM_VARIANTS) {
    const options = STORM[variant];
    if (!options) continue;
    const phase = `storm (${options.channels} channels, ${variant === 'unheard' ? 'own keys, the resolve unheard' : `${variant} keys`})`;
    const result = await timed(results, phase, () => inChild<StormResult>(phase, JSON.stringify(options), 'storm-child.ts'));
    if (result) storm[variant] = { ...result, ranAt: new Date().toISOString(), ...commitOf() };
  }
  return storm;
}

function commitOf(): { commit?: string } {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  return head.status === 0 ? { commit: head.stdout.trim() } : {};
}

function keptLargeStorm(): BenchResults['stormLarge'] {
  try {
    return (JSON.parse(readFileSync(path.join(ROOT, 'bench', 'results', 'latest.json'), 'utf8')) as BenchResults).stormLarge;
  } catch {
    return undefined;
  }
}

/** `--storm`: the storm alone, its figures put into the last full run's results. */
async function stormOnlyMain() {
  mkdirSync(BUILD_DIR, { recursive: true });
  const dir = path.join(ROOT, 'bench', 'results');
  const results = JSON.parse(readFileSync(path.join(dir, 'latest.json'), 'utf8')) as BenchResults;
  // The default size replaces the full run's storm; another size is kept beside it.
  const atDefaultSize = stormChannels === DEFAULT_STORM_CHANNELS;
  const previous = atDefaultSize ? results.storm : results.stormLarge;
  const previousSizes = new Set([...Object.values(previous ?? {}).map((r) => r.escalations), stormChannels].map((n) => `storm (${n} channels`));
  results.skipped = results.skipped.filter((s) => !s.phase.startsWith(`storm (${stormChannels} channels`));
  // One key mode alone keeps the other's last figures of this size.
  const sameSize = previous && Object.values(previous).some((r) => r.escalations === stormChannels) ? previous : {};
  const storm = { ...(keysOnly ? sameSize : {}), ...(await runStorms(results)) };
  if (atDefaultSize) results.storm = storm;
  else results.stormLarge = storm;
  results.targets = [...results.targets.filter((t) => ![...previousSizes].some((prefix) => t.target.startsWith(prefix))), ...stormTargets(storm)];
  const markdown = renderMarkdown(results);
  process.stdout.write(`\n${renderStorm(storm).join('\n')}\n`);
  writeFileSync(path.join(dir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(path.join(dir, 'latest.md'), markdown);
  say('storm done; results in bench/results/latest.json and latest.md');
  process.exit(results.skipped.length ? 1 : 0);
}

async function main() {
  if (stormOnly) return stormOnlyMain();
  mkdirSync(BUILD_DIR, { recursive: true });
  const results: BenchResults = {
    generatedAt: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    machine: {
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
      memoryGb: round(totalmem() / 2 ** 30, 1),
      loadAverageAtStart: loadavg().map((v) => round(v, 2)),
      loadAverageAtEnd: [],
    },
    targets: [],
    skipped: [],
    phaseSeconds: {},
  };
  const started = Date.now();

  let bundles: BundleResult[] | undefined;
  const settings = await timed(results, 'bundles', async () => {
    const deploy = readDeployBuild();
    results.esbuild = {
      declared: deploy.declared,
      options: deploy.options as Record<string, unknown>,
      ...(deploy.runtime ? { runtime: deploy.runtime } : {}),
      ...(deploy.architecture ? { architecture: deploy.architecture } : {}),
    };
    bundles = await buildBundles(deploy, { baseline: 'bench/baseline/handler.ts', floor: 'bench/floor/sqs-send.ts', 'worker-floor': 'bench/floor/worker.ts' });
    results.bundles = bundles;
    return deploy;
  });

  if (settings && bundles) {
    const files = Object.fromEntries(bundles.map((b) => [b.name, b.file])) as Partial<Record<FunctionName, string>>;
    results.coldInit = await timed(results, 'cold init', () =>
      measureColdInit({ bundles: files, ...PLAN.coldInit, deployedEnvironment: settings.providerEnvironment, log: say }),
    );
  } else {
    results.skipped.push({ phase: 'cold init', reason: 'needs the bundles' });
  }

  results.ingress = await timed(results, 'ingress answer time', () => measureIngress(PLAN.ingress));

  const endToEnd: NonNullable<BenchResults['endToEnd']> = {};
  if (PLAN.operations) {
    const operations = await timed(results, 'calls per step', () => inChild<OperationCounts>('calls per step', 'operations'));
    if (operations) results.operations = operations;
  }
  const burst = await timed(results, 'end to end (burst)', () => inChild<EndToEndResult>('end to end (burst)', JSON.stringify({ ...E2E_DEFAULTS, ...PLAN.burst, mode: 'burst' })));
  if (burst) endToEnd.burst = burst;
  const light = await timed(results, 'end to end (light)', () => inChild<EndToEndResult>('end to end (light)', JSON.stringify({ ...E2E_DEFAULTS, ...PLAN.light, mode: 'paced' })));
  if (light) endToEnd.light = light;
  results.endToEnd = endToEnd;
  const { reportRead } = PLAN;
  results.reportRead = await timed(results, `report (${reportRead.escalations} escalations)`, () => measureReportRead(reportRead));
  results.storm = await runStorms(results);
  // A larger storm (`--storm --channels 1000`, an hour) is not rerun by a full run: kept from the
  // last results, with the time it ran.
  const kept = quick ? undefined : keptLargeStorm();
  if (kept) results.stormLarge = kept;

  results.machine.loadAverageAtEnd = loadavg().map((v) => round(v, 2));
  results.phaseSeconds.total = round((Date.now() - started) / 1000, 1);
  results.targets = [...evaluateTargets(results), ...stormTargets(results.storm), ...stormTargets(results.stormLarge ?? {})];
  const markdown = renderMarkdown(results);
  process.stdout.write(`\n${markdown}`);

  const dir = path.join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  if (quick) {
    writeFileSync(path.join(dir, 'quick.json.tmp'), `${JSON.stringify(results, null, 2)}\n`);
  } else {
    writeFileSync(path.join(dir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(path.join(dir, 'latest.md'), markdown);
  }
  say(`done in ${results.phaseSeconds.total} s; results in bench/results/${quick ? 'quick.json.tmp' : 'latest.json and latest.md'}`);
  // The benchmark fails only when it could not measure, never because a target was missed:
  // targets are read from the output.
  process.exit(results.skipped.length ? 1 : 0);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
