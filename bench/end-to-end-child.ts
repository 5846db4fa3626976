import { writeFileSync } from 'node:fs';
import { measureOperations, runEndToEnd, type EndToEndOptions } from './end-to-end';

/**
 * One end-to-end run in its own process (started by bench/run.ts), so that its peak RSS is the
 * stack's own: `tsx bench/end-to-end-child.ts '<options json>|operations' <result file>`.
 */
async function main() {
  const [what, resultFile] = process.argv.slice(2);
  if (!what || !resultFile) throw new Error('usage: end-to-end-child.ts <options json>|operations <result file>');
  const result = what === 'operations' ? await measureOperations() : await runEndToEnd(JSON.parse(what) as EndToEndOptions);
  writeFileSync(resultFile, JSON.stringify(result));
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`end-to-end run failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
