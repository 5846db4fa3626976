import { helperEnvProblem, isUnreachable, readSandboxState, stackGoneMessage, whichSandboxLine, type SandboxState } from '../local/sandbox-state';
import { DataDirError } from '../local/data-dir';
import { resetKeptData } from '../local/sandbox-keep';
import { parseCommandLine, processOutput, usageError, type CliOutput } from './cli';

const USAGE = `usage: npm run sandbox -- <command>
  list                         the sandbox's PagerDuty incidents (the default)
  ack <incident>               acknowledge
  reassign <incident> [name]   reassign to someone else (default "Second On-Call")
  delegate <incident>          hand it to another team (another escalation policy)
  resolve <incident>           resolve
  merge <from> <into>          merge one incident into another, as on-call does in PagerDuty
                               (<from> resolves as merged; its alerts move to <into>)
  retitle <incident> "<title>" edit an incident's title, as on-call may
  open "<title>"               open an internal incident by hand (no customer behind it)
  update <incident> <message>  publish a status update (customers read it in their threads)
  webhooks off|on              lose every webhook from now on (changes still happen), or deliver again
  maintenance on|off           put the service in maintenance: escalations are accepted, no incident opens
  service                      show those two switches
  reset                        clear the sandbox data kept in PD_ROUTER_DATA_DIR (incidents,
                               numbering, transcripts, customers); refused while a stack runs on it

<incident> is its number (4 or #4) or its id, as \`list\` shows them.
It works the sandbox \`npm start\` runs: the one on PORT (default 3000), or at PD_ROUTER_URL.`;

const ACTIONS: Record<string, string> = { ack: 'acknowledge', acknowledge: 'acknowledge', reassign: 'reassign', delegate: 'delegate', resolve: 'resolve', merge: 'merge', retitle: 'retitle', update: 'status-update' };

/** How many arguments each command takes after its name: [at least, at most]. */
const ARITY: Record<string, [number, number]> = { list: [0, 0], acknowledge: [1, 1], reassign: [1, Infinity], delegate: [1, 1], resolve: [1, 1], merge: [2, 2], retitle: [2, 2], 'status-update': [1, Infinity], open: [1, 1], reset: [0, 0] };

interface Incident {
  id: string;
  number: number;
  title: string;
  status: string;
  assignees: string[];
}

/** A failure the user can act on: printed as one line. */
class SandboxCommandError extends Error {}

async function call<T>(state: SandboxState, path: string, init?: RequestInit): Promise<{ status: number; ok: boolean; body: T }> {
  try {
    const response = await fetch(`${state.pagerDutyUrl}${path}`, { ...init, signal: AbortSignal.timeout(10_000) });
    return { status: response.status, ok: response.ok, body: (await response.json()) as T };
  } catch (error) {
    throw new SandboxCommandError(isUnreachable(error) ? stackGoneMessage(state.url) : `the sandbox answered oddly: ${(error as Error).message}`);
  }
}

/** A refusal from the stand-in (PagerDuty's 400, an unknown incident), as its one line. */
function failed(io: CliOutput, result: { status: number; body: { error?: string } }): number {
  io.stderr(result.body.error ? `${result.body.error}${result.status === 404 ? ': npm run sandbox -- list shows them' : ''}` : `the sandbox answered ${result.status}`);
  return 1;
}

/**
 * Run `work` against the running sandbox: its environment checked, and one line, not a stack
 * trace, when there is none or it cannot be reached.
 */
async function againstSandbox(io: CliOutput & { env: Record<string, string | undefined> }, work: (state: SandboxState) => Promise<number>): Promise<number> {
  const envProblem = helperEnvProblem(io.env);
  if (envProblem) return usageError(io, USAGE, envProblem);
  const state = readSandboxState(io.env);
  if (!state) {
    const where = io.env.PD_ROUTER_URL?.trim() ? ` at PD_ROUTER_URL=${io.env.PD_ROUTER_URL.trim()}` : io.env.PORT?.trim() ? ` on PORT=${io.env.PORT.trim()}` : '';
    io.stderr(whichSandboxLine(io.env, 'npm run sandbox -- list') ?? `no running sandbox found${where}: start one with \`npm start\``);
    return 1;
  }
  try {
    return await work(state);
  } catch (error) {
    if (!(error instanceof SandboxCommandError)) throw error;
    io.stderr(error.message);
    return 1;
  }
}

/** `reset`: clear what PD_ROUTER_DATA_DIR keeps; it works on the folder, not on a running stack. */
function reset(io: CliOutput & { env: Record<string, string | undefined> }): number {
  const dir = io.env.PD_ROUTER_DATA_DIR?.trim();
  if (!dir) return usageError(io, USAGE, 'reset clears the folder PD_ROUTER_DATA_DIR names, and it is not set: without it the sandbox keeps nothing');
  try {
    const removed = resetKeptData(dir);
    io.stdout(removed ? `cleared the sandbox data in ${dir}: the next \`npm start\` begins afresh` : `nothing kept in ${dir}: nothing to reset`);
    return 0;
  } catch (error) {
    if (!(error instanceof DataDirError)) throw error;
    io.stderr(error.message);
    return 1;
  }
}

/** `npm run sandbox -- ack 1`: move a sandbox incident along, as on-call would in PagerDuty. Returns the exit code. */
export async function runSandbox(argv: readonly string[], io: CliOutput & { env: Record<string, string | undefined> }): Promise<number> {
  const parsed = parseCommandLine(argv, {}, USAGE, io, { allowPositionals: true });
  if ('exitCode' in parsed) return parsed.exitCode;
  const [command = 'list', ...args] = parsed.positionals;
  if (command === 'webhooks' || command === 'maintenance' || command === 'service') return runSwitch(command, args[0], args.slice(1), io);
  const action = ACTIONS[command];
  if (!['list', 'open', 'reset'].includes(command) && !action) return usageError(io, USAGE, `unknown command ${JSON.stringify(command)}`);
  const [least, most] = ARITY[action ?? command]!;
  if (most === 0 && args.length) return usageError(io, USAGE, `${command} takes no arguments`);
  const [ref, second] = args;
  if (command === 'open' && !ref?.trim()) return usageError(io, USAGE, 'open needs a title, e.g. open "INTERNAL: pg-shared-3 disk full"');
  if (least >= 1 && command !== 'open' && !ref?.trim()) return usageError(io, USAGE, `${command} needs an incident: its number (e.g. 1 or #1) or its id`);
  if (command === 'merge' && !second?.trim()) return usageError(io, USAGE, 'merge needs the incident to merge into, e.g. merge 2 1');
  if (command === 'retitle' && !second?.trim()) return usageError(io, USAGE, 'retitle needs the new title, e.g. retitle 1 "Checkout errors"');
  if (action === 'status-update' && !args.slice(1).join(' ').trim()) return usageError(io, USAGE, 'update needs a message: npm run sandbox -- update 1 "Fix rolling out, next update in 30 min"');
  if (args.length > most) return usageError(io, USAGE, `unexpected argument ${JSON.stringify(args[most])}`);

  if (command === 'reset') return reset(io);

  return againstSandbox(io, async (state) => {
    const { incidents } = (await call<{ incidents: Incident[] }>(state, '/sandbox/incidents')).body;
    if (command === 'list') {
      for (const i of incidents) io.stdout(`#${i.number}  ${i.id}  ${i.status.padEnd(12)}  ${i.assignees.join(', ')}  ${i.title}`);
      if (!incidents.length) io.stdout('no incidents yet: npm run escalate -- CACME "something is broken"');
      return 0;
    }
    const post = (path: string, body: Record<string, string>) =>
      call<{ incident?: Incident; error?: string }>(state, path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (command === 'open') {
      const result = await post('/sandbox/incidents', { title: ref!.trim() });
      if (!result.ok || !result.body.incident) return failed(io, result);
      io.stdout(`#${result.body.incident.number} opened: ${result.body.incident.title}`);
      return 0;
    }
    // The stand-in reads 4, #4 and ids alike, as on-call names incidents.
    const wanted = ref!.trim();
    const incident = incidents.find((i) => i.id === wanted || `#${i.number}` === wanted || String(i.number) === wanted);
    if (!incident) {
      io.stderr(`no sandbox incident ${wanted}: npm run sandbox -- list shows them`);
      return 1;
    }
    const body: Record<string, string> =
      action === 'reassign'
        ? { to: args.slice(1).join(' ').trim() || 'Second On-Call' }
        : action === 'merge'
          ? { into: second!.trim() }
          : action === 'retitle'
            ? { title: second!.trim() }
            : action === 'status-update'
              ? { message: args.slice(1).join(' ').trim() }
              : {};
    const result = await post(`/sandbox/incidents/${encodeURIComponent(incident.id)}/${action}`, body);
    if (!result.ok || !result.body.incident) return failed(io, result);
    const changed = result.body.incident;
    if (action === 'merge') io.stdout(`#${incident.number} merged into #${changed.number} (${changed.status})`);
    else if (action === 'retitle') io.stdout(`#${changed.number} is now titled: ${changed.title}`);
    else if (action === 'status-update') io.stdout(`#${changed.number}: status update published`);
    else io.stdout(`#${changed.number} is now ${changed.status} (${changed.assignees.join(', ')})`);
    return 0;
  });
}

interface ServiceState {
  webhooks: 'on' | 'off';
  lostWebhooks: number;
  maintenance: boolean;
  suppressedAlerts: number;
}

function describeService(service: ServiceState): string {
  const webhooks = service.webhooks === 'on' ? 'webhooks on' : `webhooks OFF (${service.lostWebhooks} lost so far)`;
  const maintenance = service.maintenance ? `maintenance ON (${service.suppressedAlerts} escalations accepted without an incident)` : 'maintenance off';
  return `${webhooks}; ${maintenance}`;
}

/** `webhooks off|on`, `maintenance on|off`, `service`: the sandbox PagerDuty service's switches. */
async function runSwitch(command: 'webhooks' | 'maintenance' | 'service', value: string | undefined, rest: readonly string[], io: CliOutput & { env: Record<string, string | undefined> }): Promise<number> {
  if (command === 'service' && value !== undefined) return usageError(io, USAGE, 'service takes no arguments');
  if (command !== 'service' && value !== 'on' && value !== 'off') return usageError(io, USAGE, `${command} needs on or off`);
  if (rest.length) return usageError(io, USAGE, `unexpected argument ${JSON.stringify(rest[0])}`);
  return againstSandbox(io, async (state) => {
    const result =
      command === 'service'
        ? await call<ServiceState>(state, '/sandbox/service')
        : await call<ServiceState & { error?: string }>(state, `/sandbox/${command}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ on: value === 'on' }) });
    if (!result.ok) {
      io.stderr((result.body as { error?: string }).error ?? `the sandbox answered ${result.status}`);
      return 1;
    }
    io.stdout(describeService(result.body));
    return 0;
  });
}

if (require.main === module) {
  runSandbox(process.argv.slice(2), { ...processOutput, env: process.env }).then(
    (code) => (process.exitCode = code),
    (error: unknown) => {
      process.stderr.write(`sandbox command failed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
