import { writeSync } from 'node:fs';
import { formatSoakReport, runSoak } from '../local/world/soak';
import { parseCommandLine, processOutput, usageError } from './cli';

const USAGE = `usage: npm run soak -- [--channels N] [--escalations N] [--fault-rate R] [--seed N] [--wave N]

Many customers escalating at once through the local stack, with every update webhook, against
stand-ins that fail a small fraction of calls (about 8 minutes with the defaults). Prints the
summary; exits 1 on any duplicate, misroute or loss.
  --channels N      customer channels (default 200)
  --escalations N   escalations in all (default 5000)
  --fault-rate R    share of Slack and PagerDuty calls that fail, 0 to 1 (default 0.01)
  --seed N          seed of the schedule, to replay a run (default: random)
  --wave N          escalations sent together (default 100)`;

type Flag = 'channels' | 'escalations' | 'fault-rate' | 'seed' | 'wave';

/** Each flag's check: what it must be, and whether a value passes. */
const CHECKS: Record<Flag, { what: string; ok: (n: number) => boolean }> = {
  channels: { what: 'a whole number of at least 1', ok: (n) => Number.isInteger(n) && n >= 1 },
  escalations: { what: 'a whole number of at least 1', ok: (n) => Number.isInteger(n) && n >= 1 },
  'fault-rate': { what: 'a number from 0 to 1', ok: (n) => n >= 0 && n <= 1 },
  seed: { what: 'a whole number from 0', ok: (n) => Number.isInteger(n) && n >= 0 },
  wave: { what: 'a whole number of at least 1', ok: (n) => Number.isInteger(n) && n >= 1 },
};

/**
 * `npm run soak`: many customers escalating at once through the local stack, with every update
 * webhook, against stand-ins that fail a small fraction of calls. Prints the summary and exits
 * non-zero on any duplicate, misroute or loss.
 *
 *   npm run soak -- --channels 200 --escalations 5000 --fault-rate 0.01 --seed 42
 */
async function main(): Promise<number> {
  const flags = Object.fromEntries(Object.keys(CHECKS).map((name) => [name, { type: 'string' as const }]));
  const parsed = parseCommandLine<Partial<Record<Flag, string>>>(process.argv.slice(2), flags, USAGE, processOutput);
  if ('exitCode' in parsed) return parsed.exitCode;
  const numbers = {} as Record<Flag, number | undefined>;
  for (const name of Object.keys(CHECKS) as Flag[]) {
    const raw = parsed.values[name];
    if (raw === undefined) continue;
    const value = raw.trim() === '' ? Number.NaN : Number(raw);
    if (!Number.isFinite(value) || !CHECKS[name].ok(value)) return usageError(processOutput, USAGE, `--${name} must be ${CHECKS[name].what}, not ${JSON.stringify(raw)}`);
    numbers[name] = value;
  }
  const options = {
    channels: numbers.channels ?? 200,
    escalations: numbers.escalations ?? 5000,
    faultRate: numbers['fault-rate'] ?? 0.01,
    seed: numbers.seed ?? Math.floor(Math.random() * 2 ** 31),
    wave: numbers.wave ?? 100,
  };
  const started = Date.now();
  // Straight to the file descriptor: the run captures process.stderr for the router's log lines.
  const report = await runSoak({ ...options, progress: (line) => writeSync(2, `[${((Date.now() - started) / 1000).toFixed(0)} s] ${line}\n`) });
  process.stdout.write(`${formatSoakReport(report)}\n`);
  return report.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    writeSync(2, `soak failed to run: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  },
);
