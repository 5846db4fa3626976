import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface CliOutput {
  stdout: (line: string) => void;
  stderr: (line: string) => void;
}

/** Exit code of a command line the command refuses (as getopt-style tools do). */
export const USAGE_EXIT_CODE = 2;

/** The command's output streams, one line per call. */
export const processOutput: CliOutput = {
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (line) => process.stderr.write(`${line}\n`),
};

/**
 * Refuse a command line: one line saying what is wrong, then the usage, on stderr.
 * Returns the exit code to leave with.
 */
export function usageError(io: CliOutput, usage: string, problem: string): number {
  io.stderr(`${problem}\n\n${usage}`);
  return USAGE_EXIT_CODE;
}

/** node's parseArgs messages, cut to their first sentence (the rest explains `--` quoting). */
function describeParseError(error: Error): string {
  const code = (error as { code?: string }).code;
  const unknown = /^Unknown option '([^']+)'/.exec(error.message);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown) return `unknown option ${unknown[1]}`;
  const positional = /^Unexpected argument '([^']*)'/.exec(error.message);
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' && positional) return `unexpected argument '${positional[1]}': this command takes options only`;
  return error.message.split('. ')[0]!;
}

/**
 * Parse a command line strictly, with `--help`/`-h` added. On help or a usage error it prints
 * and gives the exit code instead of values (0 for help, 2 for a usage error). Positional
 * arguments are refused unless `allowPositionals` is set.
 */
export function parseCommandLine<V>(
  argv: readonly string[],
  options: NonNullable<ParseArgsConfig['options']>,
  usage: string,
  io: CliOutput,
  settings: { allowPositionals?: boolean } = {},
): { values: V; positionals: string[] } | { exitCode: number } {
  let values: Record<string, unknown>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: settings.allowPositionals ?? false,
    }));
  } catch (error) {
    return { exitCode: usageError(io, usage, describeParseError(error as Error)) };
  }
  if (values.help) {
    io.stdout(usage);
    return { exitCode: 0 };
  }
  return { values: values as V, positionals };
}
