import { writeSync } from 'node:fs';
import { formatSoakReport, runSoak } from '../test/robustness/support/soak';

/**
 * `npm run soak`: many customers escalating at once through the local stack, with every update
 * webhook, against stand-ins that fail a small fraction of calls. Prints the summary and exits
 * non-zero on any duplicate, misroute or loss.
 *
 *   npm run soak -- --channels 200 --escalations 5000 --fault-rate 0.01 --seed 42
 */
function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index >= 0 ? Number(process.argv[index + 1]) : fallback;
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a non-negative number`);
  return value;
}

async function main() {
  const options = {
    channels: option('channels', 200),
    escalations: option('escalations', 5000),
    faultRate: option('fault-rate', 0.01),
    seed: option('seed', Math.floor(Math.random() * 2 ** 31)),
    wave: option('wave', 100),
  };
  const started = Date.now();
  // Straight to the file descriptor: the run captures process.stderr for the router's log lines.
  const report = await runSoak({ ...options, progress: (line) => writeSync(2, `[${((Date.now() - started) / 1000).toFixed(0)} s] ${line}\n`) });
  process.stdout.write(`${formatSoakReport(report)}\n`);
  process.exit(report.ok ? 0 : 1);
}

main().catch((error: unknown) => {
  process.stderr.write(`soak failed to run: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(2);
});
