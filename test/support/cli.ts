import { execFile } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.join(__dirname, '..', '..');
const TSX = path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');

/** What a command run as a process did. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run one of the repository's scripts as a person runs it (`npm run <x>` is tsx on the script),
 * with `env` over this process's environment less PORT (so it never finds a sandbox running on
 * this machine), and `stdin` as its input.
 */
export function runScript(script: string, args: string[], options: { env?: Record<string, string>; stdin?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise<Run>((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
    delete env.PORT;
    const child = execFile(process.execPath, [TSX, script, ...args], { cwd: ROOT, env, timeout: options.timeoutMs ?? 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(options.stdin ?? '');
  });
}
