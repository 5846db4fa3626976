import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface CliOutput {
  stdout: (line: string) => void;
  stderr: (line: string) => void;
}

/**
 * Parse a command line strictly, with `--help`/`-h` added. On help or a usage error it prints
 * and gives the exit code instead of values (0 for help, 2 for a usage error).
 */
export function parseCommandLine<V>(
  argv: readonly string[],
  options: NonNullable<ParseArgsConfig['options']>,
  usage: string,
  io: CliOutput,
): { values: V } | { exitCode: number } {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: [...argv], options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (error) {
    io.stderr(`${(error as Error).message}\n\n${usage}`);
    return { exitCode: 2 };
  }
  if (values.help) {
    io.stdout(usage);
    return { exitCode: 0 };
  }
  return { values: values as V };
}
