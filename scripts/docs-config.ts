import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseCommandLine, processOutput } from './cli';
import { CONFIGURATION_DOC, renderConfigurationDoc } from './configuration-doc';

const USAGE = `usage: npm run docs:config -- [--check]

Writes ${CONFIGURATION_DOC} from the settings table in lib/runtime/settings.ts (every environment
variable pd-router reads: its default, the values it allows, what it means, who reads it).
  --check  write nothing; exit 1 when the document differs from the table`;

const ROOT = path.join(__dirname, '..');

function main(): number {
  const parsed = parseCommandLine<{ check?: boolean }>(process.argv.slice(2), { check: { type: 'boolean' } }, USAGE, processOutput);
  if ('exitCode' in parsed) return parsed.exitCode;
  const file = path.join(ROOT, CONFIGURATION_DOC);
  const wanted = renderConfigurationDoc();
  let current: string | undefined;
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    current = undefined;
  }
  if (current === wanted) {
    processOutput.stdout(`${CONFIGURATION_DOC} matches the settings table`);
    return 0;
  }
  if (parsed.values.check) {
    processOutput.stderr(`${CONFIGURATION_DOC} differs from the settings table: run npm run docs:config`);
    return 1;
  }
  writeFileSync(file, wanted);
  processOutput.stdout(`${CONFIGURATION_DOC} written from the settings table`);
  return 0;
}

process.exitCode = main();
