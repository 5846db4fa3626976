import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SETTINGS } from '../lib/runtime/settings';

/**
 * Where a running sandbox tells the helper commands how to reach it: one file per port, so two
 * stacks side by side never read or delete each other's. The signing secret and keys in it are the
 * sandbox's own, made up at start; real secrets are never written here.
 */
export const SANDBOX_STATE_DIR = path.join(process.cwd(), '.local-data');

/** The port `npm start` listens on when PORT is not set. */
export const DEFAULT_PORT = SETTINGS.PORT.default;

export interface SandboxState {
  url: string;
  slackApiUrl: string;
  pagerDutyUrl: string;
  slackSigningSecret: string;
  pagerDutySigningKey: string;
  /** The sandbox's other made-up keys, for `npm run doctor` (which checks them as a deployed stage's secret). */
  slackBotToken?: string;
  pagerDutyEventsApiKey?: string;
  pagerDutyRestApiKey?: string;
  /** The stack's own admin token, for `npm run customers` (made up at start, like the secrets above). */
  adminToken?: string;
  /** The process that wrote it: only that one removes it. */
  pid?: number;
}

/** The hand-off file of the sandbox listening on `port`. */
export function sandboxStateFile(port: number): string {
  return path.join(SANDBOX_STATE_DIR, `sandbox-${port}.json`);
}

const portOf = (url: string): number | undefined => {
  try {
    const parsed = new URL(url);
    return Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80));
  } catch {
    return undefined;
  }
};

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Same scheme, port and host, with every name of this machine's loopback counted as one. */
function sameOrigin(a: string, b: string): boolean {
  const [x, y] = [new URL(a), new URL(b)];
  const host = (u: URL) => (LOOPBACK.has(u.hostname) ? 'loopback' : u.hostname);
  return x.protocol === y.protocol && x.port === y.port && host(x) === host(y);
}

function readStateFile(file: string): SandboxState | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SandboxState;
  } catch {
    return undefined;
  }
}

/** Write the hand-off file of the sandbox at `state.url`. */
export function writeSandboxState(state: SandboxState): void {
  mkdirSync(SANDBOX_STATE_DIR, { recursive: true });
  writeFileSync(sandboxStateFile(portOf(state.url)!), JSON.stringify({ ...state, pid: process.pid }, null, 2), { mode: 0o600 });
}

/**
 * What is wrong with the variables a helper command picks its sandbox by (PORT, PD_ROUTER_URL),
 * as one line naming the variable, or undefined when they are fine.
 */
export function helperEnvProblem(env: Record<string, string | undefined> = process.env): string | undefined {
  const port = env.PORT?.trim();
  if (port && (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535)) {
    return `environment variable PORT must be the port of a running \`npm start\` (1 to 65535), not ${JSON.stringify(env.PORT)}`;
  }
  const url = env.PD_ROUTER_URL?.trim();
  if (url && (!/^https?:\/\/[^/]/.test(url) || portOf(url) === undefined)) return `environment variable PD_ROUTER_URL must be an http(s) URL, not ${JSON.stringify(env.PD_ROUTER_URL)}`;
  return undefined;
}

/**
 * The sandbox a helper command should talk to: the one at PD_ROUTER_URL when that is set, else
 * the one on PORT, else the one on the default port, else the only one running.
 */
export function readSandboxState(env: Record<string, string | undefined> = process.env): SandboxState | undefined {
  const routerUrl = env.PD_ROUTER_URL?.trim();
  if (routerUrl) {
    const port = portOf(routerUrl);
    const state = port === undefined ? undefined : readStateFile(sandboxStateFile(port));
    // A PD_ROUTER_URL that only shares the port (another host) is not this sandbox.
    return state && sameOrigin(state.url, routerUrl) ? state : undefined;
  }
  const port = env.PORT?.trim();
  if (port) return readStateFile(sandboxStateFile(Number(port)));
  const onDefault = readStateFile(sandboxStateFile(DEFAULT_PORT));
  if (onDefault) return onDefault;
  const running = runningSandboxes();
  return running.length === 1 ? running[0] : undefined;
}

/** Whether the process that wrote a hand-off file still runs (a killed stack leaves its file behind). */
function stillRunning(pid: number | undefined): boolean {
  if (pid === undefined) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The sandboxes that left a hand-off file here and still run, by port. */
export function runningSandboxes(): SandboxState[] {
  let files: string[] = [];
  try {
    files = readdirSync(SANDBOX_STATE_DIR).filter((name) => /^sandbox-\d+\.json$/.test(name));
  } catch {
    return [];
  }
  return files
    .map((name) => readStateFile(path.join(SANDBOX_STATE_DIR, name)))
    .filter((state): state is SandboxState => state !== undefined && stillRunning(state.pid))
    .sort((a, b) => (portOf(a.url) ?? 0) - (portOf(b.url) ?? 0));
}

/**
 * When a helper found no sandbox because several run and nothing says which (neither PORT nor
 * PD_ROUTER_URL is set, none is on the default port): one line naming them and how to pick one,
 * with `example` (the helper's own command) as the example. Undefined otherwise.
 */
export function whichSandboxLine(env: Record<string, string | undefined>, example: string): string | undefined {
  if (env.PORT?.trim() || env.PD_ROUTER_URL?.trim()) return undefined;
  const running = runningSandboxes();
  if (running.length < 2) return undefined;
  const ports = running.map((state) => portOf(state.url));
  const list = `${ports.slice(0, -1).join(', ')} and ${ports.at(-1)}`;
  return `${running.length} sandboxes are running, on ports ${list}: say which with PORT, e.g. \`PORT=${ports[0]} ${example}\``;
}

/**
 * The URL of the local stack a helper command talks to: PD_ROUTER_URL when set, else the stack on
 * PORT (on 127.0.0.1, where `npm start` listens; a stack given real Slack and PagerDuty settings
 * writes no hand-off file, so PORT is all there is), else the sandbox whose hand-off file was found.
 * Check the variables with helperEnvProblem first.
 */
export function localStackUrl(env: Record<string, string | undefined>, handOff: Pick<SandboxState, 'url'> | undefined): string | undefined {
  const port = env.PORT?.trim();
  const url = env.PD_ROUTER_URL?.trim() || (port ? `http://127.0.0.1:${port}` : handOff?.url);
  return url?.replace(/\/+$/, '');
}

/** Remove the hand-off file of the sandbox at `url`, if this process wrote it. */
export function clearSandboxState(url: string): void {
  const file = sandboxStateFile(portOf(url)!);
  if (readStateFile(file)?.pid === process.pid) rmSync(file, { force: true });
}

/** True when a fetch failed because nothing answered (refused, reset, unreachable), not with an HTTP error. */
export function isUnreachable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const cause = (error as { cause?: { code?: string } }).cause;
  return (error.name === 'TypeError' && error.message === 'fetch failed') || error.name === 'TimeoutError' || ['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENOTFOUND', 'UND_ERR_SOCKET'].includes(cause?.code ?? '');
}

/** The one line a helper prints when the stack it talks to stopped answering. */
export function stackGoneMessage(url: string): string {
  return `the pd-router stack at ${url} is not answering; is \`npm start\` running?`;
}
