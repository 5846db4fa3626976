import { readFile } from 'node:fs/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import YAML from 'yaml';
import { tableName } from '../lib/layout/layout';
import type { SlackApi } from '../lib/slack/web-api';
import { PdRouterError } from '../lib/errors';
import {
  checkChannelId,
  isMaskedRoutingKey,
  makeCustomerAdmin,
  makeCustomers,
  maskRoutingKey,
  parseNewCustomer,
  SEVERITIES,
  unapprovedOrgs,
  DEFAULT_PAGES_PER_HOUR,
  type CustomerAdmin,
  type CustomerChanges,
  type MaskedCustomer,
  type NewCustomer,
} from '../lib/store/customers';
import { ADMIN_TOKEN_HEADER } from '../local/admin-routes';
import { localStackUrl, readSandboxState, whichSandboxLine, type SandboxState } from '../local/sandbox-state';
import { parseCommandLine, type CliOutput } from './cli';
import { formatMinutes, parseMinutes } from '../lib/runtime/duration';

const USAGE = `usage: npm run customers -- <command> [options]

commands:
  add <channel-id> --name "<name>" [settings] [--org <team-id>]...
                                                register a customer channel (--org: each Slack organization
                                                it is shared with now, approved from the start)
  update <channel-id> [settings]                change a customer's settings
  remove <channel-id>                           unregister a customer channel
  list                                          every customer (routing keys masked)
  show <channel-id>                             one customer (routing key masked)
  approve <channel-id>                          approve the organizations the channel is shared with now
  export                                        every customer as YAML (routing keys masked)
  import <file.yaml>                            add or update the customers in the file (as export writes it)

settings:
  --name "<name>"                   the customer's display name
  --routing-key <key>               its own PagerDuty Events routing key ("default": the deployment's key;
                                    "-": read it from stdin, so it stays out of the shell's history)
  --severity ${SEVERITIES.join('|')}  ("default": the deployment's severity)
  --contact "<text>"                support contact named in its failure messages ("default": the deployment's)
  --pages-per-hour <n>              page budget per rolling hour (default ${DEFAULT_PAGES_PER_HOUR})
  --confirm | --no-confirm          ask "Page on-call?" before paging (default: no)
  --no-names | --names              hide or show responders' names (default: the deployment's setting)
  --ack-within <duration>           response target: acknowledged within, e.g. 15m ("none": no target);
                                    npm run report says which escalations met it
  --resolve-within <duration>       response target: resolved within, e.g. 4h ("none": no target)
  --receipt on|off                  after resolution, one line in the escalation's thread with its own
                                    times ("Acknowledged 4 minutes after you asked; …"; default: off)

organizations (--org, add only): the Slack team id of the other organization in a Slack Connect channel
  (T… for a workspace, E… for an Enterprise Grid organization; not its name or domain). Find it:
  - with Slack's conversations.info for the channel and the app's bot token: its connected_team_ids;
  - from the other organization: Slack in a browser shows it in the address, app.slack.com/client/<team id>/…;
  - in pd-router's logs: a registered channel shared later logs Slack's channel_shared event ("shared with
    an organization nobody approved", organizations); someone of an organization not approved who tries to
    escalate, click or reply logs "refused by the delivery gate" with actorOrganization.
  A channel already shared when it is added without --org is not paused (pd-router only hears of shares
  made after it is registered), but nobody of the other organization can page, click or reply: each is
  answered "not set up". Remove the customer and add it again with --org <team id> (approve only approves
  organizations pd-router saw join the channel).

target (default: the running \`npm start\`, found through .local-data/sandbox-<port>.json, PORT or
PD_ROUTER_URL with PD_ROUTER_ADMIN_TOKEN):
  --stage <stage> --region <region> a deployed stack's table, with your AWS credentials`;

const HINT = 'see npm run customers -- --help';

const TARGET_OPTIONS = { stage: { type: 'string' }, region: { type: 'string' } } as const;
const SETTING_OPTIONS = {
  name: { type: 'string' },
  'routing-key': { type: 'string' },
  severity: { type: 'string' },
  contact: { type: 'string' },
  'pages-per-hour': { type: 'string' },
  confirm: { type: 'boolean' },
  'no-confirm': { type: 'boolean' },
  names: { type: 'boolean' },
  'no-names': { type: 'boolean' },
  'ack-within': { type: 'string' },
  'resolve-within': { type: 'string' },
  receipt: { type: 'string' },
} as const;

/** Only at registration: later changes of the organizations go through the guard and `approve`. */
const ORG_OPTION = { org: { type: 'string', multiple: true } } as const;

type Values = Partial<Record<keyof typeof SETTING_OPTIONS | keyof typeof TARGET_OPTIONS, string | boolean>> & { org?: string[] };

const COMMANDS: Record<string, { args: string[]; options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> }> = {
  add: { args: ['channel-id'], options: { ...SETTING_OPTIONS, ...ORG_OPTION, ...TARGET_OPTIONS } },
  update: { args: ['channel-id'], options: { ...SETTING_OPTIONS, ...TARGET_OPTIONS } },
  remove: { args: ['channel-id'], options: TARGET_OPTIONS },
  list: { args: [], options: TARGET_OPTIONS },
  show: { args: ['channel-id'], options: TARGET_OPTIONS },
  approve: { args: ['channel-id'], options: TARGET_OPTIONS },
  export: { args: [], options: TARGET_OPTIONS },
  import: { args: ['file.yaml'], options: TARGET_OPTIONS },
};

/** A problem with what the person typed or asked for: one line, exit code 1 (2 for usage). */
class CliError extends PdRouterError {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** Where the command acts: the running local stack over HTTP, or a deployed stack's table. */
export type Target = { kind: 'http'; url: string; token: string } | { kind: 'table'; stage: string; region: string };

/**
 * The target from the flags and the environment, as the sandbox helpers find the stack:
 * `--stage`/`--region`, else PD_ROUTER_URL, else PORT, else the hand-off `npm start` wrote.
 */
export function resolveTarget(values: Values, env: Record<string, string | undefined>, handOff: SandboxState | undefined): Target {
  const stage = typeof values.stage === 'string' ? values.stage.trim() : undefined;
  const region = typeof values.region === 'string' ? values.region.trim() : undefined;
  if (stage !== undefined || region !== undefined) {
    if (!stage || !region) throw new CliError('--stage and --region go together: give both to reach a deployed stack', 2);
    if (!/^[a-zA-Z0-9-]+$/.test(stage)) throw new CliError(`malformed stage "${stage.slice(0, 40)}"`, 2);
    return { kind: 'table', stage, region };
  }
  const url = localStackUrl(env, handOff);
  if (!url) throw new CliError(whichSandboxLine(env, 'npm run customers -- list') ?? 'no running pd-router found: start one with `npm start`, set PD_ROUTER_URL, or give --stage and --region');
  const sameStack = handOff !== undefined && new URL(handOff.url).port === new URL(url).port;
  const token = env.PD_ROUTER_ADMIN_TOKEN?.trim() || (sameStack ? handOff.adminToken : undefined);
  if (!token) throw new CliError(`no admin token for ${url}: set PD_ROUTER_ADMIN_TOKEN to the one \`npm start\` was given`);
  return { kind: 'http', url: url.replace(/\/+$/, ''), token };
}

/** The registry of the running local stack, through its `/admin/customers` route. */
export function httpCustomerAdmin(url: string, token: string): CustomerAdmin {
  const call = async (method: string, path: string, body?: unknown): Promise<{ customer?: MaskedCustomer | null; customers?: MaskedCustomer[] }> => {
    let response: Response;
    try {
      response = await fetch(`${url}/admin/customers${path}`, {
        method,
        headers: { [ADMIN_TOKEN_HEADER]: token, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(15_000),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
      throw new CliError(`could not reach pd-router at ${url} (${cause}): is \`npm start\` running?`);
    }
    const payload = (await response.json().catch(() => ({}))) as { error?: string; customer?: MaskedCustomer | null; customers?: MaskedCustomer[] };
    if (!response.ok) throw new CliError(payload.error ?? `pd-router at ${url} answered HTTP ${response.status}`);
    return payload;
  };
  const one = async (method: string, path: string, body?: unknown) => {
    const { customer } = await call(method, path, body);
    if (!customer) throw new CliError(`pd-router at ${url} answered without the customer`);
    return customer;
  };
  const at = (channel: string) => `/${encodeURIComponent(channel)}`;
  return {
    get: async (channel) => (await call('GET', at(channel))).customer ?? undefined,
    add: (input) => one('POST', '', input),
    update: (channel, changes) => one('PATCH', at(channel), changes),
    remove: (channel) => one('DELETE', at(channel)),
    all: async () => (await call('GET', '')).customers ?? [],
    approve: (channel) => one('POST', `${at(channel)}/approve`),
  };
}

/** The registry of a deployed stack: its table, reached with the caller's AWS credentials. */
export function tableCustomerAdmin(stage: string, region: string): CustomerAdmin {
  const db = DynamoDBDocumentClient.from(new DynamoDBClient({ region }), { marshallOptions: { removeUndefinedValues: true } });
  // Read once per command: an import of many customers asks Slack once each, not AWS once each too.
  let slack: Promise<SlackApi | undefined> | undefined;
  const channelName = async (channel: string) => (await (slack ??= deployedSlack(stage, region)))?.channelName(channel);
  return makeCustomerAdmin(makeCustomers(db, tableName(stage)), { channelName });
}

/**
 * Slack with the stage's own bot token (read from its secret with your AWS credentials), so that
 * registration learns each channel's name and its first escalation names it to on-call. Undefined
 * when the token cannot be read: the slack-worker then learns the name after the first escalation.
 */
async function deployedSlack(stage: string, region: string): Promise<SlackApi | undefined> {
  const [{ deployedSecrets }, { LambdaClient }, { SecretsManagerClient }, { makeSlackApi }] = await Promise.all([
    import('./doctor'),
    import('@aws-sdk/client-lambda'),
    import('@aws-sdk/client-secrets-manager'),
    import('../lib/slack/web-api'),
  ]);
  try {
    for (const source of await deployedSecrets(new LambdaClient({ region }), new SecretsManagerClient({ region }), stage, region)) {
      if (!source.names.includes('SLACK_BOT_TOKEN')) continue;
      const token = (await source.read()).SLACK_BOT_TOKEN;
      if (typeof token === 'string' && token) return makeSlackApi({ token, apiUrl: 'https://slack.com/api/', timeoutMs: 5000 });
    }
  } catch {
    // No access to the stage's functions or secret: registration goes on without the names.
  }
  return undefined;
}

function flag(values: Values, name: keyof Values): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

/** The settings the flags give; "default" clears a setting back to the deployment's (update only). */
function settingsFromFlags(values: Values, forAdd: boolean): CustomerChanges {
  const changes: CustomerChanges = {};
  const clearable = (raw: string | undefined) => (raw === undefined ? undefined : raw.trim() === 'default' ? null : raw);
  const name = flag(values, 'name');
  if (name !== undefined) changes.name = name;
  const routingKey = clearable(flag(values, 'routing-key'));
  if (routingKey !== undefined) changes.routingKey = routingKey;
  const severity = clearable(flag(values, 'severity'));
  if (severity !== undefined) {
    if (severity !== null && !(SEVERITIES as readonly string[]).includes(severity)) throw new CliError(`--severity is one of ${SEVERITIES.join(', ')} (or default)`, 2);
    changes.severity = severity as CustomerChanges['severity'];
  }
  const contact = clearable(flag(values, 'contact'));
  if (contact !== undefined) changes.contact = contact;
  const pages = flag(values, 'pages-per-hour');
  if (pages !== undefined) {
    if (!/^\d{1,4}$/.test(pages.trim())) throw new CliError('--pages-per-hour is a whole number from 1 to 1000', 2);
    changes.pagesPerHour = Number(pages);
  }
  if (values.confirm && values['no-confirm']) throw new CliError('--confirm and --no-confirm contradict each other', 2);
  if (values.confirm || values['no-confirm']) changes.confirm = Boolean(values.confirm);
  for (const [option, setting] of [['ack-within', 'ackWithinMinutes'], ['resolve-within', 'resolveWithinMinutes']] as const) {
    const raw = flag(values, option);
    if (raw === undefined) continue;
    try {
      changes[setting] = raw.trim() === 'none' ? null : parseMinutes(raw, `--${option}`);
    } catch (error) {
      throw new CliError((error as Error).message, 2);
    }
  }
  const receipt = flag(values, 'receipt');
  if (receipt !== undefined) {
    if (!['on', 'off'].includes(receipt.trim())) throw new CliError('--receipt is on or off', 2);
    changes.receipt = receipt.trim() === 'on';
  }
  if (values.names && values['no-names']) throw new CliError('--names and --no-names contradict each other', 2);
  if (values.names || values['no-names']) changes.showResponderNames = Boolean(values.names);
  if (forAdd) {
    if (changes.name === undefined) throw new CliError('add needs --name "<name>"', 2);
    // Nothing to clear on a new customer: "default" simply leaves the setting out.
    for (const [key, value] of Object.entries(changes)) if (value === null) delete (changes as Record<string, unknown>)[key];
  } else if (Object.keys(changes).length === 0) {
    throw new CliError(`update needs at least one setting to change; ${HINT}`, 2);
  }
  return changes;
}

/** How `show`, `add` and `update` describe a customer. */
function describe(customer: MaskedCustomer): string[] {
  const unapproved = unapprovedOrgs(customer);
  return [
    `${customer.channel}  ${customer.name}`,
    `  channel name:     ${customer.channelName ? `#${customer.channelName}` : 'not known yet (pd-router learns it at the first escalation; until then on-call reads the channel id)'}`,
    `  routing key:      ${customer.routingKey ?? "the deployment's"}`,
    `  severity:         ${customer.severity ?? "the deployment's"}`,
    `  support contact:  ${customer.contact ?? "the deployment's"}`,
    `  responder names:  ${customer.showResponderNames === undefined ? "the deployment's setting" : customer.showResponderNames ? 'shown' : 'hidden'}`,
    `  pages per hour:   ${customer.pagesPerHour}`,
    `  confirmation:     ${customer.confirm ? 'on (Page on-call button first)' : 'off'}`,
    `  targets:          ${describeTargets(customer)}`,
    `  receipt:          ${customer.receipt ? 'on (its own times in the thread after resolution)' : 'off'}`,
    `  organizations:    ${customer.approvedOrgs.join(', ') || '(none recorded)'}`,
    ...(unapproved.length ? [`  NOT APPROVED:     ${unapproved.join(', ')} (paused; \`npm run customers -- approve ${customer.channel}\` after checking)`] : []),
  ];
}

function describeTargets(customer: Pick<MaskedCustomer, 'ackWithinMinutes' | 'resolveWithinMinutes'>): string {
  const parts = [
    ...(customer.ackWithinMinutes !== undefined ? [`acknowledge within ${formatMinutes(customer.ackWithinMinutes)}`] : []),
    ...(customer.resolveWithinMinutes !== undefined ? [`resolve within ${formatMinutes(customer.resolveWithinMinutes)}`] : []),
  ];
  return parts.join(', ') || 'none';
}

function listLine(customer: MaskedCustomer): string {
  const paused = unapprovedOrgs(customer).length ? '  PAUSED (unapproved organization)' : '';
  return [
    customer.channel.padEnd(12),
    customer.name.padEnd(24),
    `key ${customer.routingKey ?? 'default'}`.padEnd(12),
    `${customer.severity ?? 'default'}`.padEnd(9),
    `${customer.pagesPerHour}/h`.padEnd(6),
    `confirm ${customer.confirm ? 'on' : 'off'}`,
  ].join('  ') + paused;
}

/** The fields export writes and import reads, in that order. */
const FILE_FIELDS = ['channel', 'name', 'routingKey', 'severity', 'contact', 'showResponderNames', 'pagesPerHour', 'confirm', 'ackWithinMinutes', 'resolveWithinMinutes', 'receipt', 'orgs'] as const;

function exportYaml(customers: MaskedCustomer[]): string {
  const entries = customers.map((c) => {
    const entry: Record<string, unknown> = { channel: c.channel, name: c.name };
    for (const key of ['routingKey', 'severity', 'contact', 'showResponderNames'] as const) if (c[key] !== undefined) entry[key] = c[key];
    entry.pagesPerHour = c.pagesPerHour;
    entry.confirm = c.confirm;
    for (const key of ['ackWithinMinutes', 'resolveWithinMinutes'] as const) if (c[key] !== undefined) entry[key] = c[key];
    if (c.receipt) entry.receipt = true;
    if (c.approvedOrgs.length) entry.orgs = c.approvedOrgs;
    return entry;
  });
  return [
    '# pd-router customers. Routing keys are masked: on import a masked key keeps the key stored for',
    '# that channel; write a full key to change it, or leave routingKey out for the deployment\'s key.',
    YAML.stringify({ customers: entries }).trimEnd(),
  ].join('\n');
}

interface ImportPlan {
  add: NewCustomer[];
  update: { channel: string; changes: CustomerChanges }[];
  unchanged: string[];
  notInFile: string[];
}

/**
 * What an import will do, decided before anything is written: every entry is checked first, so
 * a bad file changes nothing. The file describes each customer it lists completely (a setting
 * left out goes back to its default); customers it does not list are left alone.
 */
export function planImport(text: string, file: string, existing: MaskedCustomer[]): ImportPlan {
  let document: unknown;
  try {
    document = YAML.parse(text);
  } catch (error) {
    throw new CliError(`${file}: not YAML (${(error as Error).message.split('\n')[0]})`);
  }
  const list = (document as { customers?: unknown } | null)?.customers;
  if (!Array.isArray(list)) throw new CliError(`${file}: expected a top-level "customers:" list, as export writes`);
  const byChannel = new Map(existing.map((c) => [c.channel, c]));
  const seen = new Set<string>();
  const plan: ImportPlan = { add: [], update: [], unchanged: [], notInFile: [] };
  list.forEach((raw: unknown, index) => {
    const where = `${file}: customer ${index + 1}`;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new CliError(`${where}: expected a mapping with channel and name`);
    const entry = raw as Record<string, unknown>;
    const unknown = Object.keys(entry).filter((key) => !(FILE_FIELDS as readonly string[]).includes(key));
    if (unknown.length) throw new CliError(`${where}: unknown field ${unknown[0]}; the fields are ${FILE_FIELDS.join(', ')}`);
    const channel = typeof entry.channel === 'string' ? entry.channel : '';
    if (seen.has(channel)) throw new CliError(`${where}: channel ${channel} is listed twice`);
    seen.add(channel);
    const stored = byChannel.get(channel);
    const key = typeof entry.routingKey === 'string' ? entry.routingKey : undefined;
    const masked = key !== undefined && isMaskedRoutingKey(key);
    if (masked && !stored?.routingKey) throw new CliError(`${where}: the routing key of ${channel} is masked and none is stored for it: give the full key`);
    if (masked && stored?.routingKey !== key) throw new CliError(`${where}: the masked routing key of ${channel} is not the stored one's (${stored?.routingKey}): give the full key`);
    let parsed;
    try {
      parsed = parseNewCustomer({ ...entry, ...(masked ? { routingKey: undefined } : {}) });
    } catch (error) {
      throw new CliError(`${where}${channel ? ` (${channel})` : ''}: ${(error as Error).message}`);
    }
    if (!stored) {
      plan.add.push(parsed);
      return;
    }
    const changes: CustomerChanges = {
      name: parsed.name,
      severity: parsed.severity ?? null,
      contact: parsed.contact ?? null,
      showResponderNames: parsed.showResponderNames ?? null,
      pagesPerHour: parsed.pagesPerHour,
      confirm: parsed.confirm,
      ackWithinMinutes: parsed.ackWithinMinutes ?? null,
      resolveWithinMinutes: parsed.resolveWithinMinutes ?? null,
      receipt: parsed.receipt ?? false,
      ...(masked ? {} : { routingKey: parsed.routingKey ?? null }),
    };
    const same =
      stored.name === parsed.name &&
      stored.severity === parsed.severity &&
      stored.contact === parsed.contact &&
      stored.showResponderNames === parsed.showResponderNames &&
      stored.pagesPerHour === parsed.pagesPerHour &&
      stored.confirm === parsed.confirm &&
      stored.ackWithinMinutes === parsed.ackWithinMinutes &&
      stored.resolveWithinMinutes === parsed.resolveWithinMinutes &&
      Boolean(stored.receipt) === Boolean(parsed.receipt) &&
      (masked || (stored.routingKey === undefined && parsed.routingKey === undefined));
    if (same) plan.unchanged.push(channel);
    else plan.update.push({ channel, changes });
  });
  plan.notInFile = existing.map((c) => c.channel).filter((channel) => !seen.has(channel));
  return plan;
}

export interface CustomersIo extends CliOutput {
  env: Record<string, string | undefined>;
  /** Everything piped to stdin (for `--routing-key -`). */
  readStdin: () => Promise<string>;
  readFile: (path: string) => Promise<string>;
  readHandOff: () => SandboxState | undefined;
  admin: (target: Target) => CustomerAdmin;
  /**
   * After `add` or `update` with a routing key: one line saying whether that key's PagerDuty
   * service sends this stack its incidents (none: not checked).
   */
  coverage?: (target: Target, routingKey: string) => Promise<string>;
}

/**
 * Whether a routing key's service is covered by a webhook subscription to the target stack: the
 * line `customers add` prints. It reads the stack as the doctor does (its secret, its webhook URL)
 * and asks PagerDuty's REST API which service the key is an integration of.
 */
export async function keyCoverageLine(target: Target, routingKey: string, env: Record<string, string | undefined>): Promise<string> {
  const { stageView } = await import('./doctor');
  const { coverageOf, listServiceKeys, listSubscriptions } = await import('./webhook-coverage');
  try {
    const view = await stageView(target.kind === 'table' ? { stage: target.stage, region: target.region } : {}, target.kind === 'http' ? { ...env, PD_ROUTER_URL: target.url } : env);
    const token = view.restKey ?? env.PAGER_DUTY_REST_API_KEY?.trim();
    if (!token) return 'Not checked whether its PagerDuty service sends pd-router webhooks: no PAGER_DUTY_REST_API_KEY (npm run doctor checks it).';
    const base = (view.apiUrl ?? 'https://api.pagerduty.com').replace(/\/?$/, '/');
    const get = async (path: string) => {
      const response = await fetch(new URL(path, base), { headers: { authorization: `Token token=${token}`, accept: 'application/vnd.pagerduty+json;version=2' }, signal: AbortSignal.timeout(10_000) });
      if (!response.ok) throw new Error(`HTTP ${response.status} for GET /${path.split('?')[0]}`);
      return (await response.json()) as Record<string, unknown>;
    };
    const [result] = coverageOf([{ who: 'this', key: routingKey }], await listServiceKeys(get), await listSubscriptions(get), view.webhookUrl);
    const flags = target.kind === 'table' ? ` -- --stage ${target.stage} --region ${target.region}` : '';
    if (result!.state === 'unknown') {
      return "! PagerDuty lists no service with this routing key as an integration key: check the key (the service's Events API V2 integration → Integration Key); escalations from this channel would be refused.";
    }
    const service = `${result!.service.name} (${result!.service.id})`;
    if (result!.state === 'covered') return `Its PagerDuty service ${service} sends pd-router its incidents (webhook subscription ${result!.subscription.id}).`;
    return `! Its PagerDuty service ${service} sends pd-router no webhooks (${result!.why}): run \`npm run pd:subscribe${flags}\` and add the secret it prints to PAGER_DUTY_SIGNING_KEY, or this channel hears acknowledgements only when the reconciler catches up, and status updates never.`;
  } catch (error) {
    return `Could not check whether its PagerDuty service sends pd-router webhooks (${String((error as Error).message ?? error).split('\n')[0]}): npm run doctor checks it.`;
  }
}

/** One line for any failure; the usage text only on --help. */
function oneLineError(error: unknown): string {
  if (error instanceof PdRouterError) {
    const cause = (error as { cause?: { name?: string; message?: string } }).cause;
    if (cause?.name === 'ResourceNotFoundException') return `${error.message}: the table does not exist there (is pd-router deployed with this --stage and --region?)`;
    return cause?.name ? `${error.message}: ${cause.name}: ${String(cause.message ?? '').split('\n')[0]}` : error.message;
  }
  return `${(error as Error)?.name ?? 'Error'}: ${String((error as Error)?.message ?? error).split('\n')[0]}`;
}

/** `npm run customers -- <command>`: the provider's tool for the customer registry. Returns the exit code. */
export async function runCustomers(argv: readonly string[], io: CustomersIo): Promise<number> {
  // A routing key typed on the command line is never written back in full, whatever fails.
  const secrets = argv.filter((arg, i) => argv[i - 1] === '--routing-key' || arg.startsWith('--routing-key=')).map((arg) => arg.replace(/^--routing-key=/, '')).filter((key) => key.length >= 8);
  const scrub = (text: string) => secrets.reduce((out, key) => out.split(key).join(maskRoutingKey(key)), text);
  const out = (line: string) => io.stdout(scrub(line));
  const err = (line: string) => io.stderr(scrub(line));
  // The shared parser says what is wrong on one line, then gives the usage, as every command does.
  const parserIo: CliOutput = { stdout: out, stderr: err };

  const [command, ...rest] = argv;
  if (command === undefined || command.startsWith('-')) {
    const parsed = parseCommandLine(argv, {}, USAGE, parserIo);
    if ('exitCode' in parsed) return parsed.exitCode;
    err(`no command given; ${HINT}`);
    return 2;
  }
  const spec = COMMANDS[command];
  if (!spec) {
    err(`unknown command "${command.slice(0, 40)}"; the commands are ${Object.keys(COMMANDS).join(', ')}`);
    return 2;
  }
  // Help wins over everything else on the line: a command never acts on --help.
  if (rest.includes('--help') || rest.includes('-h')) {
    out(USAGE);
    return 0;
  }
  const positionals = rest.slice(0, spec.args.length);
  if (positionals.length < spec.args.length || positionals.some((arg) => arg.startsWith('-'))) {
    err(`${command} needs <${spec.args.join('> <')}>; ${HINT}`);
    return 2;
  }
  const parsed = parseCommandLine<Values>(rest.slice(spec.args.length), spec.options, USAGE, parserIo);
  if ('exitCode' in parsed) return parsed.exitCode;
  const { values } = parsed;

  try {
    if (values['routing-key'] === '-') {
      const key = (await io.readStdin()).trim().split(/\r?\n/)[0] ?? '';
      if (!key) throw new CliError('--routing-key - reads the key from stdin, and stdin was empty', 2);
      if (key.length >= 8) secrets.push(key);
      values['routing-key'] = key;
    }
    const channel = spec.args[0] === 'channel-id' ? checkChannelId(positionals[0]!) : undefined;
    const settings = command === 'add' || command === 'update' ? settingsFromFlags(values, command === 'add') : undefined;
    const target = resolveTarget(values, io.env, io.readHandOff());
    const admin = io.admin(target);
    switch (command) {
      case 'add': {
        const added = await admin.add({ ...(settings as NewCustomer), channel: channel!, ...(values.org ? { orgs: values.org } : {}) });
        out(`Added ${added.channel} (${added.name}).`);
        describe(added).forEach((line) => out(line));
        if (typeof settings?.routingKey === 'string' && io.coverage) out(await io.coverage(target, settings.routingKey));
        break;
      }
      case 'update': {
        const updated = await admin.update(channel!, settings!);
        out(`Updated ${updated.channel} (${updated.name}).`);
        describe(updated).forEach((line) => out(line));
        if (typeof settings?.routingKey === 'string' && io.coverage) out(await io.coverage(target, settings.routingKey));
        break;
      }
      case 'remove': {
        const removed = await admin.remove(channel!);
        out(`Removed ${removed.channel} (${removed.name}): it can no longer page on-call.`);
        break;
      }
      case 'show': {
        const customer = await admin.get(channel!);
        if (!customer) throw new CliError(`channel ${channel} is not a customer`);
        describe(customer).forEach((line) => out(line));
        break;
      }
      case 'list': {
        const customers = await admin.all();
        if (!customers.length) out('No customers yet: npm run customers -- add <channel-id> --name "<name>"');
        customers.forEach((customer) => out(listLine(customer)));
        break;
      }
      case 'approve': {
        const approved = await admin.approve(channel!);
        out(`Approved for ${approved.channel} (${approved.name}): ${approved.approvedOrgs.join(', ') || '(no organizations recorded)'}.`);
        break;
      }
      case 'export':
        out(exportYaml(await admin.all()));
        break;
      case 'import': {
        const file = positionals[0]!;
        let text: string;
        try {
          text = await io.readFile(file);
        } catch (error) {
          throw new CliError(`cannot read ${file}: ${(error as { code?: string }).code ?? (error as Error).message}`);
        }
        const plan = planImport(text, file, await admin.all());
        for (const customer of plan.add) await admin.add(customer);
        for (const { channel: ch, changes } of plan.update) await admin.update(ch, changes);
        out(`Imported ${file}: ${plan.add.length} added, ${plan.update.length} updated, ${plan.unchanged.length} unchanged.`);
        if (plan.add.length) out(`  added:     ${plan.add.map((c) => c.channel).join(', ')}`);
        if (plan.update.length) out(`  updated:   ${plan.update.map((u) => u.channel).join(', ')}`);
        if (plan.notInFile.length) out(`  not in the file, left as they are: ${plan.notInFile.join(', ')}`);
        break;
      }
    }
    return 0;
  } catch (error) {
    err(oneLineError(error));
    return error instanceof CliError ? error.exitCode : 1;
  }
}

if (require.main === module) {
  void runCustomers(process.argv.slice(2), {
    env: process.env,
    readFile: (path) => readFile(path, 'utf8'),
    readStdin: async () => {
      if (process.stdin.isTTY) throw new CliError('--routing-key - reads the key from stdin: pipe it in');
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    readHandOff: readSandboxState,
    admin: (target) => (target.kind === 'http' ? httpCustomerAdmin(target.url, target.token) : tableCustomerAdmin(target.stage, target.region)),
    coverage: (target, routingKey) => keyCoverageLine(target, routingKey, process.env),
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
  }).then((code) => {
    process.exitCode = code;
  });
}
