import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Where a running sandbox tells the helper commands how to reach it. The signing secret in it
 * is the sandbox's own, made up at start; real secrets are never written here.
 */
export const SANDBOX_STATE_FILE = path.join(process.cwd(), '.local-data', 'sandbox.json');

export interface SandboxState {
  url: string;
  slackApiUrl: string;
  pagerDutyUrl: string;
  slackSigningSecret: string;
  pagerDutySigningKey: string;
  /** The stack's own admin token, for `npm run customers` (made up at start, like the secrets above). */
  adminToken?: string;
}

export function writeSandboxState(state: SandboxState): void {
  mkdirSync(path.dirname(SANDBOX_STATE_FILE), { recursive: true });
  writeFileSync(SANDBOX_STATE_FILE, JSON.stringify(state, null, 2), { mode: 0o600 });
}

export function readSandboxState(): SandboxState | undefined {
  try {
    return JSON.parse(readFileSync(SANDBOX_STATE_FILE, 'utf8')) as SandboxState;
  } catch {
    return undefined;
  }
}

export function clearSandboxState(): void {
  rmSync(SANDBOX_STATE_FILE, { force: true });
}
