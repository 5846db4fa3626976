import { writeFileSync } from 'node:fs';
import { runStorm, type StormOptions } from './storm';

/**
 * One storm run in its own process (started by bench/run.ts), so that its peak RSS is the
 * stack's own: `tsx bench/storm-child.ts '<options json>' <result file>`.
 */
async function main() {
  const [options, resultFile] = process.argv.slice(2);
  if (!options || !resultFile) throw new Error('usage: storm-child.ts <options json> <result file>');
  writeFileSync(resultFile, JSON.stringify(await runStorm(JSON.parse(options) as StormOptions)));
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`storm run failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
