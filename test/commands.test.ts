import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { verifySlackSignature } from '../lib/slack/signature';

/**
 * Every `npm run` script as a new user meets it: spawned as a real process (node with tsx, as
 * `npm run` does), in an empty folder, with every address it could reach pointed at a local
 * receiver that must hear nothing. `--help` explains and does nothing; a wrong command line gets
 * one line saying what is wrong, then the usage, and a non-zero exit; `npm start` refuses what it
 * cannot run (bad settings, a port or data folder in use) in one line.
 */

const ROOT = path.join(__dirname, '..');
const TSX_LOADER = pathToFileURL(path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const SPAWN_TIMEOUT_MS = 20_000;
/** Spawning tsx costs about a second of CPU: a few at a time on a shared two-core machine. */
const POOL_SIZE = 3;

/** The npm scripts that are not commands of pd-router (the toolchain's own). */
const TOOLCHAIN_SCRIPTS = ['test', 'typecheck', 'lint'];

/** Each command's npm script name → its entry file, read from package.json as `npm run` reads it. */
const SCRIPTS: Record<string, string> = Object.fromEntries(
  Object.entries((JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts)
    .filter(([name]) => !TOOLCHAIN_SCRIPTS.includes(name))
    .map(([name, command]) => [name, /^tsx (\S+\.ts)$/.exec(command)?.[1] ?? `(not a tsx command: ${command})`]),
);

interface Refusal {
  args: string[];
  /** What the one line must say. */
  says: RegExp;
  /** Variables set (over the shared ones) for this row only. */
  env?: Record<string, string>;
}

/**
 * The command lines each script must refuse beyond an unknown flag (which every script is tried
 * with): missing or empty required arguments, and values it cannot use. A new script gets the
 * `--help` and unknown-flag checks from package.json alone; add its row here for the rest.
 * escalate's rows carry --yes, so that a check that let them through would send at once (to the
 * receiver that must hear nothing).
 */
const REFUSALS: Record<string, Refusal[]> = {
  start: [{ args: ['now'], says: /^unexpected argument 'now'/ }],
  demo: [
    { args: ['quickly'], says: /^unexpected argument 'quickly'/ },
    { args: [], env: { PD_ROUTER_URL: 'localhost:3000' }, says: /^environment variable PD_ROUTER_URL must be an http\(s\) URL, not "localhost:3000"$/ },
  ],
  escalate: [
    { args: ['--yes'], says: /^a channel id is required$/ },
    { args: ['--yes', '', 'API is down'], says: /^a channel id is required$/ },
    { args: ['--yes', 'general', 'API is down'], says: /^"general" is a channel name; give the channel's id/ },
    { args: ['--yes', '#general', 'API is down'], says: /^"#general" is a channel name; give the channel's id/ },
    { args: ['--yes', 'C01-23', 'API is down'], says: /^"C01-23" is not a Slack channel id/ },
    { args: ['--yes', 'C0123ABC'], says: /^a description of what is wrong is required/ },
    { args: ['--yes', 'C0123ABC', '   '], says: /^a description of what is wrong is required/ },
    { args: ['--yes', 'C0123ABC', 'API is down'], env: { PORT: 'abc' }, says: /^environment variable PORT must be the port of a running `npm start`/ },
  ],
  sandbox: [
    { args: ['ack'], says: /^ack needs an incident/ },
    { args: ['resolve', ''], says: /^resolve needs an incident/ },
    { args: ['frobnicate', '1'], says: /^unknown command "frobnicate"$/ },
    { args: ['list', 'all'], says: /^list takes no arguments$/ },
    { args: ['update', '1'], says: /^update needs a message/ },
    { args: ['webhooks'], says: /^webhooks needs on or off$/ },
    { args: ['webhooks', 'maybe'], says: /^webhooks needs on or off$/ },
    { args: ['maintenance', 'on', 'now'], says: /^unexpected argument "now"$/ },
    { args: ['service', 'x'], says: /^service takes no arguments$/ },
    { args: ['delegate'], says: /^delegate needs an incident/ },
    { args: ['merge'], says: /^merge needs an incident/ },
    { args: ['merge', '#2'], says: /^merge needs the incident to merge into/ },
    { args: ['merge', '2', '1', '3'], says: /^unexpected argument "3"$/ },
    { args: ['retitle', '1'], says: /^retitle needs the new title/ },
    { args: ['retitle', '1', '  '], says: /^retitle needs the new title/ },
    { args: ['open'], says: /^open needs a title/ },
    { args: ['open', ' '], says: /^open needs a title/ },
    { args: ['reset', 'now'], says: /^reset takes no arguments$/ },
    { args: ['reset'], says: /^reset clears the folder PD_ROUTER_DATA_DIR names, and it is not set/ },
    { args: ['list'], env: { PORT: 'abc' }, says: /^environment variable PORT must be the port of a running `npm start` \(1 to 65535\), not "abc"$/ },
  ],
  soak: [
    { args: ['--channels', 'many'], says: /^--channels must be a whole number of at least 1, not "many"$/ },
    { args: ['--channels', ''], says: /^--channels must be a whole number/ },
    { args: ['--fault-rate', '2'], says: /^--fault-rate must be a number from 0 to 1/ },
  ],
  bench: [
    { args: ['--quick', 'now'], says: /^unexpected argument 'now'/ },
    { args: ['--quick', '--storm'], says: /^--quick and --storm exclude each other/ },
    { args: ['--storm', '--channels', 'many'], says: /^--channels must be a whole number from 1 to 10000, not "many"$/ },
    { args: ['--storm', '--keys', 'heard'], says: /^--keys takes own, shared or unheard \(not "heard"\)$/ },
    { args: ['--keys', 'unheard'], says: /^--keys goes with --storm/ },
  ],
  package: [
    { args: ['--stage', ''], says: /^--stage must be letters, digits and dashes, not ""$/ },
    { args: ['--stage'], says: /^Option '--stage <value>' argument missing$/ },
    { args: ['--region', 'Ireland'], says: /^--region must be an AWS region like eu-west-1/ },
    { args: ['--param', 'alarmEmail'], says: /^--param must be name=value/ },
  ],
  'pd:subscribe': [
    { args: ['--service', 'PSVC001'], says: /^--url is required with --service or --team/ },
    { args: ['--url', '', '--service', 'PSVC001'], says: /^--url is required with --service or --team/ },
    { args: ['--url', 'https://x.example/pagerduty/webhooks'], says: /^--url goes with --service or --team/ },
    { args: ['--url', 'https://x.example/pagerduty/webhooks', '--service', ' '], says: /^--service and --team need an id$/ },
    { args: ['--stage', 'prod!'], says: /^--stage must be a stage name/ },
    { args: ['--url', 'https://x.example/pagerduty/webhooks', '--service', 'PSVC001', '--team', 'PTEAM'], says: /^give --service <id> \(one or more\) or --team <id>, not both$/ },
  ],
  'secrets:put': [
    { args: [], says: /^say which secret: --secret-id, or --signing-secret-id with --api-token-secret-id$/ },
    { args: ['--secret-id', '  '], says: /^say which secret: --secret-id, or --signing-secret-id with --api-token-secret-id$/ },
  ],
  doctor: [
    { args: ['--region', 'eu-west-1'], says: /^--region goes with --stage \(a deployed stage\)$/ },
    { args: ['--stage', ''], says: /^--stage must be a stage name/ },
    { args: ['--stage', 'prod', '--region', 'Ireland'], says: /^--region must be an AWS region like eu-west-1/ },
    { args: ['--timeout', 'soon'], says: /^--timeout must be a number of seconds from 0 to 300, not "soon"$/ },
    { args: ['now'], says: /^unexpected argument 'now'/ },
    { args: [], env: { PORT: 'abc' }, says: /^environment variable PORT must be the port of a running `npm start`/ },
  ],
};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** An HTTP server on 127.0.0.1 that records every request and answers 200. */
async function receiver(): Promise<{ url: string; port: number; requests: { method: string; path: string; headers: IncomingMessage['headers']; body: string }[]; close: () => Promise<void> }> {
  const requests: { method: string; path: string; headers: IncomingMessage['headers']; body: string }[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      requests.push({ method: request.method ?? '', path: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A minimal environment: none of the developer's own Slack, PagerDuty, AWS or pd-router settings leak in. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...extra };
}

/** Spawn a script as `npm run` would (node with tsx), in `cwd`. */
function spawnScript(script: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd: string): ChildProcess {
  const entry = SCRIPTS[script];
  if (!entry?.endsWith('.ts')) throw new Error(`npm script ${script} is ${entry ?? 'missing'}`);
  return spawn(process.execPath, ['--import', TSX_LOADER, path.join(ROOT, entry), ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Run a script to its end, killed after SPAWN_TIMEOUT_MS. */
function run(script: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawnScript(script, args, env, cwd);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, SPAWN_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

/** Run `jobs` with at most `size` at a time. */
async function pooled<T>(jobs: (() => Promise<T>)[], size: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const index = next++;
      results[index] = await jobs[index]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(size, jobs.length) }, worker));
  return results;
}

/** The first line of a script's usage: `usage: [VAR=… ]npm [run ]<script>`. */
const usageLine = (script: string) => new RegExp(`^usage: (\\S+=\\S+ )*npm (run )?${script.replace(/[:]/g, '\\$&')}(\\s|$)`);

const STACK_FRAME = /^\s+at .+\(?.*:\d+:\d+\)?$/m;

/** A refused command line: exit 2, one line saying what is wrong, a blank line, the usage; nothing on stdout. */
function expectRefusal(script: string, result: Run, says: RegExp) {
  expect(result.timedOut).toBe(false);
  const [problem, blank, usage] = result.stderr.split('\n');
  expect({ code: result.code, problem, blank, usage }).toEqual({ code: 2, problem: expect.stringMatching(says), blank: '', usage: expect.stringMatching(usageLine(script)) });
  expect(result.stdout).toBe('');
  expect(result.stderr).not.toMatch(STACK_FRAME);
}

/** A failure that is not about the command line: a non-zero exit and exactly one line, no stack trace. */
function expectOneLineFailure(result: Run, says: RegExp) {
  expect(result.timedOut).toBe(false);
  expect(result.code).not.toBe(0);
  expect(result.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(says)]);
  expect(result.stderr).not.toMatch(STACK_FRAME);
}

describe('every npm script explains itself and refuses a wrong command line without acting', () => {
  let silent: Awaited<ReturnType<typeof receiver>>;
  let cwd: string;
  const results = new Map<string, Run>();
  const key = (script: string, args: readonly string[], env: Record<string, string> = {}) => `${script} ${JSON.stringify(args)} ${JSON.stringify(env)}`;

  beforeAll(async () => {
    silent = await receiver();
    cwd = mkdtempSync(path.join(tmpdir(), 'pd-router-commands-'));
    // Everything a script could reach points at the silent receiver: the router (PD_ROUTER_URL),
    // the port `npm start` and the helpers use, PagerDuty's REST API and Secrets Manager.
    const env = cleanEnv({
      PORT: String(silent.port),
      PD_ROUTER_URL: silent.url,
      SLACK_SIGNING_SECRET: 'signing-secret-of-the-test',
      PAGER_DUTY_API_URL: silent.url,
      PAGER_DUTY_REST_API_KEY: 'rest-key-of-the-test',
      AWS_ENDPOINT_URL_SECRETS_MANAGER: silent.url,
      AWS_ENDPOINT_URL: silent.url,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    });
    const lines: [string, string[], Record<string, string>][] = [];
    for (const script of Object.keys(SCRIPTS)) {
      lines.push([script, ['--help'], {}], [script, ['--no-such-flag'], {}]);
      for (const refusal of REFUSALS[script] ?? []) lines.push([script, refusal.args, refusal.env ?? {}]);
    }
    const runs = await pooled(
      lines.map(([script, args, extra]) => () => run(script, args, { ...env, ...extra }, cwd)),
      POOL_SIZE,
    );
    lines.forEach(([script, args, extra], i) => results.set(key(script, args, extra), runs[i]!));
  }, 120_000);

  afterAll(async () => {
    await silent?.close();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  it('covers every npm script, each of them a tsx command with refusals listed here', () => {
    expect(Object.keys(SCRIPTS).length).toBeGreaterThanOrEqual(9);
    for (const [script, entry] of Object.entries(SCRIPTS)) expect({ script, entry }).toEqual({ script, entry: expect.stringMatching(/\.ts$/) });
    expect(Object.keys(REFUSALS).filter((script) => !(script in SCRIPTS))).toEqual([]);
  });

  it.each(Object.keys(SCRIPTS))('npm run %s -- --help prints its usage and exits 0', (script) => {
    const result = results.get(key(script, ['--help']))!;
    expect(result.timedOut).toBe(false);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(usageLine(script));
  });

  it.each(Object.keys(SCRIPTS))('npm run %s -- --no-such-flag is refused in one line, then the usage', (script) => {
    expectRefusal(script, results.get(key(script, ['--no-such-flag']))!, /^unknown option --no-such-flag$/);
  });

  const refusals = Object.entries(REFUSALS).flatMap(([script, rows]) => rows.map((row) => [script, JSON.stringify(row.args), row.env ? ` with ${JSON.stringify(row.env)}` : '', row] as const));
  it.each(refusals)('npm run %s -- %s%s is refused in one line, then the usage', (script, _args, _env, row) => {
    expectRefusal(script, results.get(key(script, row.args, row.env))!, row.says);
  });

  it('none of them did anything: no request reached any address they were given, and they wrote no file', () => {
    expect(results.size).toBeGreaterThan(30);
    expect(silent.requests).toEqual([]);
    expect(readdirSync(cwd)).toEqual([]);
  });
});

describe('npm run escalate pages only what it was clearly asked to', () => {
  let target: Awaited<ReturnType<typeof receiver>>;
  let cwd: string;
  const secret = 'signing-secret-of-the-test';

  beforeAll(async () => {
    target = await receiver();
    cwd = mkdtempSync(path.join(tmpdir(), 'pd-router-escalate-'));
  });
  afterAll(async () => {
    await target?.close();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  it('without a terminal to confirm on, refuses a router that is not the local sandbox unless --yes, naming its URL; with --yes it sends one signed mention', async () => {
    const env = cleanEnv({ PD_ROUTER_URL: target.url, SLACK_SIGNING_SECRET: secret });
    const [refused, unsigned, sent] = await pooled(
      [
        () => run('escalate', ['C0123ABC', 'checkout', 'returns', '500'], env, cwd),
        () => run('escalate', ['--yes', 'C0123ABC', 'checkout returns 500'], cleanEnv({ PD_ROUTER_URL: target.url }), cwd),
        () => run('escalate', ['--yes', 'C0123ABC', 'checkout', 'returns', '500'], env, cwd),
      ],
      POOL_SIZE,
    );

    expectOneLineFailure(refused!, new RegExp(`^not sent: ${target.url} is not the local sandbox, so this would page real on-call; add --yes`));
    expectOneLineFailure(unsigned!, /^SLACK_SIGNING_SECRET is not set/);

    expect({ code: sent!.code, stderr: sent!.stderr }).toEqual({ code: 0, stderr: `Paging through the pd-router at ${target.url}\n` });
    expect(target.requests).toHaveLength(1);
    const [request] = target.requests;
    expect({ method: request!.method, path: request!.path }).toEqual({ method: 'POST', path: '/slack/events' });
    const headers = Object.fromEntries(Object.entries(request!.headers).map(([k, v]) => [k, String(v)]));
    expect(() => verifySlackSignature({ signingSecret: secret, rawBody: Buffer.from(request!.body), headers, nowSeconds: Math.floor(Date.now() / 1000) })).not.toThrow();
    const event = (JSON.parse(request!.body) as { event: { type: string; channel: string; text: string } }).event;
    expect(event).toMatchObject({ type: 'app_mention', channel: 'C0123ABC', text: expect.stringMatching(/> escalate checkout returns 500$/) });
  });
});

interface Spawned {
  child: ChildProcess;
  /** Everything it wrote so far, stdout and stderr apart. */
  output: { stdout: string; stderr: string };
  exited: Promise<number | null>;
}

/** Spawn a script and resolve once its output matches `pattern` (killed after SPAWN_TIMEOUT_MS). */
async function spawnUntil(script: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd: string, pattern: RegExp): Promise<Spawned & { match: RegExpExecArray }> {
  const child = spawnScript(script, args, env, cwd);
  const output = { stdout: '', stderr: '' };
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const killer = setTimeout(() => child.kill('SIGKILL'), SPAWN_TIMEOUT_MS);
  void exited.then(() => clearTimeout(killer));
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const check = () => {
      const found = pattern.exec(output.stdout);
      if (found) resolve(found);
    };
    child.stdout!.on('data', (chunk: Buffer) => {
      output.stdout += chunk.toString('utf8');
      check();
    });
    child.stderr!.on('data', (chunk: Buffer) => (output.stderr += chunk.toString('utf8')));
    void exited.then(() => reject(new Error(`npm run ${script} ended before printing ${pattern}: ${output.stdout}${output.stderr}`)));
  });
  return { child, output, exited, match };
}

/** `npm start` in `cwd`, once it says it is listening. */
async function startRouter(env: NodeJS.ProcessEnv, cwd: string): Promise<Spawned & { url: string; port: number }> {
  const started = await spawnUntil('start', [], env, cwd, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  return { ...started, url: started.match[1]!, port: Number(new URL(started.match[1]!).port) };
}

describe('npm start refuses what it cannot run, in one line', () => {
  let busy: Awaited<ReturnType<typeof receiver>>;
  let cwd: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    busy = await receiver();
    cwd = mkdtempSync(path.join(tmpdir(), 'pd-router-start-'));
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await busy?.close();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  it('names the variable of a bad setting, the port in use and a data folder that is a file', async () => {
    writeFileSync(path.join(cwd, 'a-file'), 'not a folder');
    const cases: [Record<string, string>, RegExp][] = [
      [{ PORT: 'abc' }, /^pd-router did not start: environment variable PORT must be a port number from 0 to 65535, not "abc"$/],
      [{ PORT: '70000' }, /^pd-router did not start: environment variable PORT must be a port number/],
      [{ PORT: '0', LOG_LEVEL: 'verbose' }, /^pd-router did not start: environment variable LOG_LEVEL must be one of debug, info, warn, error, silent, not "verbose"$/],
      [{ PORT: '0', HTTP_TIMEOUT_MS: 'soon' }, /^pd-router did not start: environment variable HTTP_TIMEOUT_MS must be a number of 0 or more, not "soon"$/],
      [{ PORT: '0', SHOW_RESPONDER_NAMES: 'maybe' }, /^pd-router did not start: environment variable SHOW_RESPONDER_NAMES must be true or false, not "maybe"$/],
      [{ PORT: '0', PAGER_DUTY_SEVERITY: 'critcal' }, /^pd-router did not start: environment variable PAGER_DUTY_SEVERITY must be one of critical, error, warning, info, not "critcal"$/],
      [{ PORT: String(busy.port) }, new RegExp(`^pd-router did not start: port ${busy.port} is in use .*set PORT to a free port$`)],
      [{ PORT: '0', PD_ROUTER_DATA_DIR: path.join(cwd, 'a-file') }, /^pd-router did not start: the data folder .*a-file is a file, not a folder: set PD_ROUTER_DATA_DIR to a folder/],
    ];
    const runs = await pooled(
      cases.map(([env]) => () => run('start', [], cleanEnv(env), cwd)),
      POOL_SIZE,
    );
    runs.forEach((result, i) => expectOneLineFailure(result, cases[i]![1]));
    expect(busy.requests).toEqual([]);
  });

  it('keeps one stack per data folder and one hand-off file per port, and tells helpers when their stack is gone', async () => {
    const dataDir = path.join(cwd, 'data');
    const handOff = (port: number) => path.join(cwd, '.local-data', `sandbox-${port}.json`);

    const first = await startRouter(cleanEnv({ PORT: '0', PD_ROUTER_DATA_DIR: dataDir }), cwd);
    children.push(first.child);
    const [second, other] = await Promise.all([
      run('start', [], cleanEnv({ PORT: '0', PD_ROUTER_DATA_DIR: dataDir }), cwd),
      startRouter(cleanEnv({ PORT: '0' }), cwd),
    ]);
    children.push(other.child);
    expectOneLineFailure(second, new RegExp(`^pd-router did not start: the data folder ${dataDir} is in use by another pd-router \\(pid ${first.child.pid}\\): stop that one first`));

    // Two stacks side by side, each with its own hand-off file; stopping one leaves the other's.
    expect([existsSync(handOff(first.port)), existsSync(handOff(other.port))]).toEqual([true, true]);
    other.child.kill('SIGTERM');
    expect(await other.exited).toBe(0);
    expect([existsSync(handOff(first.port)), existsSync(handOff(other.port))]).toEqual([true, false]);
    // Helpers find it by PORT, or by PD_ROUTER_URL (any loopback name for the host).
    const listed = await Promise.all([
      run('sandbox', ['list'], cleanEnv({ PORT: String(first.port) }), cwd),
      run('sandbox', ['list'], cleanEnv({ PD_ROUTER_URL: first.url.replace('127.0.0.1', 'localhost') }), cwd),
    ]);
    for (const result of listed) expect({ code: result.code, stdout: result.stdout, stderr: result.stderr }).toEqual({ code: 0, stdout: expect.stringMatching(/^no incidents yet/), stderr: '' });
    // The doctor finds it the same way, and the sandbox `npm start` made is wired as a deployed stage should be.
    const doctor = await run('doctor', [], cleanEnv({ PORT: String(first.port) }), cwd);
    expect({ code: doctor.code, stderr: doctor.stderr, last: doctor.stdout.trimEnd().split('\n').pop() }).toEqual({ code: 0, stderr: '', last: 'all checks passed (some skipped)' });
    // The sandbox service's switches: lose webhooks, hold escalations in maintenance, and say so.
    const env = cleanEnv({ PORT: String(first.port) });
    expect(await run('sandbox', ['webhooks', 'off'], env, cwd)).toMatchObject({ code: 0, stdout: expect.stringMatching(/^webhooks OFF \(0 lost so far\); maintenance off\n?$/), stderr: '' });
    expect(await run('sandbox', ['maintenance', 'on'], env, cwd)).toMatchObject({ code: 0, stdout: expect.stringMatching(/^webhooks OFF .*; maintenance ON \(0 escalations accepted without an incident\)\n?$/), stderr: '' });
    expect((await run('sandbox', ['webhooks', 'on'], env, cwd)).stdout).toMatch(/^webhooks on; maintenance ON/);
    expect((await run('sandbox', ['maintenance', 'off'], env, cwd)).stdout).toMatch(/^webhooks on; maintenance off/);
    expect(await run('sandbox', ['update', '7', 'Fix', 'rolling', 'out'], env, cwd)).toMatchObject({ code: 1, stderr: expect.stringMatching(/^no sandbox incident 7: npm run sandbox -- list shows them\n?$/) });

    // The stack dies under a running demo, then without cleaning up: the helpers say so in one line.
    const demo = await spawnUntil('demo', [], cleanEnv({ PORT: String(first.port) }), cwd, /Using the sandbox running at/);
    children.push(demo.child);
    first.child.kill('SIGKILL');
    await first.exited;
    const gone = new RegExp(`^the pd-router stack at ${first.url} is not answering; is \`npm start\` running\\?$`);
    expect(await demo.exited).toBe(1);
    expectOneLineFailure({ code: 1, timedOut: false, ...demo.output }, new RegExp(`^demo failed: ${gone.source.slice(1)}`));
    const [list, escalate] = await Promise.all([
      run('sandbox', ['list'], cleanEnv({ PORT: String(first.port) }), cwd),
      run('escalate', ['CACME', 'checkout is down'], cleanEnv({ PORT: String(first.port) }), cwd),
    ]);
    expectOneLineFailure(list, gone);
    expectOneLineFailure(escalate, gone);

    // Its lock outlived it, but names a process that is gone: the next stack takes the folder over.
    const next = await startRouter(cleanEnv({ PORT: '0', PD_ROUTER_DATA_DIR: dataDir }), cwd);
    children.push(next.child);
    expect(readFileSync(path.join(dataDir, 'pd-router.lock'), 'utf8').trim()).toBe(String(next.child.pid));
    next.child.kill('SIGTERM');
    expect(await next.exited).toBe(0);
    expect(existsSync(path.join(dataDir, 'pd-router.lock'))).toBe(false);
    expect(existsSync(handOff(next.port))).toBe(false);
  }, 60_000);
});

describe('npm run sandbox works a running sandbox as on-call would, and its data outlives a restart', () => {
  let cwd: string;
  const children: ChildProcess[] = [];

  beforeAll(() => {
    cwd = mkdtempSync(path.join(tmpdir(), 'pd-router-sandbox-'));
  });
  afterAll(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  it('opens, merges, retitles and delegates by 4, #4 or id; refuses what PagerDuty refuses; keeps it all across a kill and a restart; reset clears it', async () => {
    const dataDir = path.join(cwd, 'data');
    const env = (port: number | string) => cleanEnv({ PORT: String(port), PD_ROUTER_DATA_DIR: dataDir });
    const sandbox = (args: string[], port: number) => run('sandbox', args, env(port), cwd);
    const ok = (result: Run, stdout: RegExp) => expect({ code: result.code, stdout: result.stdout, stderr: result.stderr }).toEqual({ code: 0, stdout: expect.stringMatching(stdout), stderr: '' });

    let router = await startRouter(env(0), cwd);
    children.push(router.child);
    expect(router.output.stdout).toContain(`Sandbox data (incidents, numbering, transcripts, customers) kept in ${dataDir}`);
    ok(await sandbox(['open', 'INTERNAL: pg-shared-3 disk full'], router.port), /^#1 opened: INTERNAL: pg-shared-3 disk full\n$/);
    ok(await sandbox(['open', 'second'], router.port), /^#2 opened: second\n$/);
    const listed = await sandbox(['list'], router.port);
    const id = /^#2 {2}(Q[0-9A-F]+) /m.exec(listed.stdout)![1]!;
    ok(await sandbox(['retitle', '#1', 'INTERNAL: disk full'], router.port), /^#1 is now titled: INTERNAL: disk full\n$/);
    ok(await sandbox(['delegate', '1'], router.port), /^#1 is now triggered \(Second Team On-Call\)\n$/);
    ok(await sandbox(['merge', id, '#1'], router.port), /^#2 merged into #1 \(triggered\)\n$/);
    const [ackResolved, mergeSelf, unknown] = await Promise.all([
      sandbox(['ack', '2'], router.port),
      sandbox(['merge', '1', '#1'], router.port),
      sandbox(['retitle', '#9', 'x'], router.port),
    ]);
    expectOneLineFailure(ackResolved, /^#2 is resolved; PagerDuty does not acknowledge a resolved incident$/);
    expectOneLineFailure(mergeSelf, /^an incident cannot be merged into itself$/);
    expectOneLineFailure(unknown, /^no sandbox incident #9: npm run sandbox -- list shows them$/);
    const before = (await sandbox(['list'], router.port)).stdout;
    expect(before).toMatch(/^#1 .* triggered .* INTERNAL: disk full\n#2 .* resolved .* second\n$/);

    // Reset refuses a folder a stack is running on.
    expectOneLineFailure(await sandbox(['reset'], router.port), new RegExp(`^the data folder ${dataDir} is in use by another pd-router \\(pid ${router.child.pid}\\)`));

    // Killed, not stopped: what it shows was saved as it changed.
    router.child.kill('SIGKILL');
    await router.exited;
    router = await startRouter(env(0), cwd);
    children.push(router.child);
    expect((await sandbox(['list'], router.port)).stdout).toBe(before);
    ok(await sandbox(['open', 'after the restart'], router.port), /^#3 opened: after the restart\n$/);

    router.child.kill('SIGTERM');
    expect(await router.exited).toBe(0);
    ok(await sandbox(['reset'], router.port), new RegExp(`^cleared the sandbox data in ${dataDir}: the next \`npm start\` begins afresh\n$`));
    router = await startRouter(env(0), cwd);
    children.push(router.child);
    ok(await sandbox(['list'], router.port), /^no incidents yet/);
    router.child.kill('SIGTERM');
    expect(await router.exited).toBe(0);
  }, 90_000);
});
