import { helperEnvProblem, isUnreachable, readSandboxState, stackGoneMessage, type SandboxState } from '../local/sandbox-state';
import { parseCommandLine, processOutput, usageError, type CliOutput } from './cli';

const USAGE = `usage: npm run sandbox -- <command>
  list                         the sandbox's PagerDuty incidents (the default)
  ack <incident>               acknowledge (its number, e.g. 1, or its id)
  reassign <incident> [name]   reassign to someone else (default "Second On-Call")
  resolve <incident>           resolve
  update <incident> <message>  publish a status update (customers read it in their threads)
  webhooks off|on              lose every webhook from now on (changes still happen), or deliver again
  maintenance on|off           put the service in maintenance: escalations are accepted, no incident opens
  service                      show those two switches

It works the sandbox \`npm start\` runs: the one on PORT (default 3000), or at PD_ROUTER_URL.`;

const ACTIONS: Record<string, string> = { ack: 'acknowledge', acknowledge: 'acknowledge', reassign: 'reassign', resolve: 'resolve', update: 'status-update' };

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

/** `npm run sandbox -- ack 1`: move a sandbox incident along, as on-call would in PagerDuty. Returns the exit code. */
export async function runSandbox(argv: readonly string[], io: CliOutput & { env: Record<string, string | undefined> }): Promise<number> {
  const parsed = parseCommandLine(argv, {}, USAGE, io, { allowPositionals: true });
  if ('exitCode' in parsed) return parsed.exitCode;
  const [command = 'list', ref, ...rest] = parsed.positionals;
  if (command === 'webhooks' || command === 'maintenance' || command === 'service') return runSwitch(command, ref, rest, io);
  const action = ACTIONS[command];
  if (command !== 'list' && !action) return usageError(io, USAGE, `unknown command ${JSON.stringify(command)}`);
  if (command === 'list' && ref !== undefined) return usageError(io, USAGE, 'list takes no arguments');
  if (action && !ref?.trim()) return usageError(io, USAGE, `${command} needs an incident: its number (e.g. 1) or its id`);
  if (action === 'status-update' && !rest.join(' ').trim()) return usageError(io, USAGE, 'update needs a message: npm run sandbox -- update 1 "Fix rolling out, next update in 30 min"');
  if (action !== 'reassign' && action !== 'status-update' && rest.length) return usageError(io, USAGE, `unexpected argument ${JSON.stringify(rest[0])}`);

  const envProblem = helperEnvProblem(io.env);
  if (envProblem) return usageError(io, USAGE, envProblem);
  const state = readSandboxState(io.env);
  if (!state) {
    const where = io.env.PD_ROUTER_URL?.trim() ? ` at PD_ROUTER_URL=${io.env.PD_ROUTER_URL.trim()}` : io.env.PORT?.trim() ? ` on PORT=${io.env.PORT.trim()}` : '';
    io.stderr(`no running sandbox found${where}: start one with \`npm start\``);
    return 1;
  }
  try {
    const { incidents } = (await call<{ incidents: Incident[] }>(state, '/sandbox/incidents')).body;
    if (!action) {
      for (const i of incidents) io.stdout(`#${i.number}  ${i.id}  ${i.status.padEnd(12)}  ${i.assignees.join(', ')}  ${i.title}`);
      if (!incidents.length) io.stdout('no incidents yet: npm run escalate -- CACME "something is broken"');
      return 0;
    }
    const wanted = ref!.replace(/^#/, '');
    const incident = incidents.find((i) => i.id === wanted || String(i.number) === wanted);
    if (!incident) {
      io.stderr(`no sandbox incident ${ref}: npm run sandbox -- list shows them`);
      return 1;
    }
    const result = await call<{ incident?: Incident; error?: string }>(state, `/sandbox/incidents/${incident.id}/${action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(action === 'reassign' ? { to: rest.join(' ').trim() || 'Second On-Call' } : action === 'status-update' ? { message: rest.join(' ').trim() } : {}),
    });
    if (!result.ok || !result.body.incident) {
      io.stderr(result.body.error ?? `the sandbox answered ${result.status}`);
      return 1;
    }
    const changed = result.body.incident;
    if (action === 'status-update') io.stdout(`#${changed.number}: status update published`);
    else io.stdout(`#${changed.number} is now ${changed.status} (${changed.assignees.join(', ')})`);
    return 0;
  } catch (error) {
    if (error instanceof SandboxCommandError) {
      io.stderr(error.message);
      return 1;
    }
    throw error;
  }
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
  const envProblem = helperEnvProblem(io.env);
  if (envProblem) return usageError(io, USAGE, envProblem);
  const state = readSandboxState(io.env);
  if (!state) {
    io.stderr('no running sandbox found: start one with `npm start`');
    return 1;
  }
  try {
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
  } catch (error) {
    if (error instanceof SandboxCommandError) {
      io.stderr(error.message);
      return 1;
    }
    throw error;
  }
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
