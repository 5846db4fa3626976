import { readSandboxState } from '../local/sandbox-state';

const USAGE = `usage: npm run sandbox -- <command>
  list                         the sandbox's PagerDuty incidents
  ack <incident>               acknowledge (number, e.g. 1, or id)
  reassign <incident> [name]   reassign to someone else
  resolve <incident>           resolve`;

interface Incident {
  id: string;
  number: number;
  title: string;
  status: string;
  assignees: string[];
}

/** `npm run sandbox -- ack 1`: move a sandbox incident along, as on-call would in PagerDuty. */
async function main() {
  const [command, ref, ...rest] = process.argv.slice(2);
  const state = readSandboxState();
  if (!state) throw new Error('no running sandbox found: start one with `npm start`');
  const incidents = ((await (await fetch(`${state.pagerDutyUrl}/sandbox/incidents`)).json()) as { incidents: Incident[] }).incidents;
  if (!command || command === 'list') {
    for (const i of incidents) process.stdout.write(`#${i.number}  ${i.id}  ${i.status.padEnd(12)}  ${i.assignees.join(', ')}  ${i.title}\n`);
    if (!incidents.length) process.stdout.write('no incidents yet: npm run escalate -- CACME "something is broken"\n');
    return;
  }
  const action = { ack: 'acknowledge', acknowledge: 'acknowledge', reassign: 'reassign', resolve: 'resolve' }[command];
  const incident = incidents.find((i) => i.id === ref || String(i.number) === ref);
  if (!action || !incident) throw new Error(action ? `no sandbox incident ${ref ?? ''}` : USAGE);
  const response = await fetch(`${state.pagerDutyUrl}/sandbox/incidents/${incident.id}/${action}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(action === 'reassign' ? { to: rest.join(' ') || 'Second On-Call' } : {}),
  });
  const result = (await response.json()) as { incident?: Incident; error?: string };
  if (!response.ok || !result.incident) throw new Error(result.error ?? `sandbox answered ${response.status}`);
  process.stdout.write(`#${result.incident.number} is now ${result.incident.status} (${result.incident.assignees.join(', ')})\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
