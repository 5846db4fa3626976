import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LOCAL_AWS_ENV } from '../local/aws';
import type { LocalStack } from '../local/stack';
import { SANDBOX_CUSTOMERS } from '../local/sandbox-console/channels';
import { resolveTarget } from '../scripts/customers';
import { startTestStack } from './support/stack';
import { runScript, type Run } from './support/cli';

const KEY = 'Rk7f3c2a9b1d4e6f8a0b2c4d6e8f0a1e9';
const OTHER_KEY = 'Zq0123456789abcdef0123456789abcd';


/** Every output of every run, to check that no routing key ever appears in full. */
const outputs: string[] = [];

describe('npm run customers, as a process, against a local stack', () => {
  let stack: LocalStack;
  let dir: string;

  /** The command as a person runs it, pointed at the test's stack (never at a sandbox running on this machine). */
  const run = async (args: string[], env: Record<string, string> = {}, stdin = '') => {
    const result = await runScript('scripts/customers.ts', args, { env: { PD_ROUTER_URL: stack.url, PD_ROUTER_ADMIN_TOKEN: stack.adminToken, ...env }, stdin, timeoutMs: 30_000 });
    outputs.push(result.stdout, result.stderr);
    return result;
  };

  /** A failure: non-zero, nothing on stdout, one line saying what is wrong (a command-line mistake adds the usage after a blank line). */
  const expectOneLineFailure = (result: Run, pattern: RegExp) => {
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    const [problem, ...rest] = result.stderr.trimEnd().split('\n');
    expect(problem).toMatch(pattern);
    if (rest.length) expect(rest.slice(0, 2)).toEqual(['', expect.stringMatching(/^usage: npm run customers/)]);
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
  };

  beforeAll(async () => {
    stack = await startTestStack();
    dir = mkdtempSync(path.join(tmpdir(), 'pd-router-customers-'));
  });
  afterAll(async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
    const all = outputs.join('\n');
    // Checked here too, so that a run added later is covered without remembering to.
    expect(all).not.toContain(KEY);
    expect(all).not.toContain(OTHER_KEY);
  });

  it('lists the sandbox customers registered at start', async () => {
    const result = await run(['list']);
    expect(result.code).toBe(0);
    for (const customer of SANDBOX_CUSTOMERS) expect(result.stdout).toMatch(new RegExp(`^${customer.channel}\\s+${customer.name}\\s.*3/h\\s+confirm off$`, 'm'));
  });

  it('adds a customer with every setting; show and list mask its routing key; a second add is refused', async () => {
    const added = await run([
      'add', 'C0UMBRELLA1', '--name', 'Umbrella Corp', '--routing-key', KEY, '--severity', 'warning', '--contact', 'umbrella@provider.example',
      '--pages-per-hour', '5', '--confirm', '--no-names', '--org', 'T0PROVIDER', '--org', 'T0UMBRELLA',
    ]);
    expect(added.code).toBe(0);
    expect(added.stdout).toContain('Added C0UMBRELLA1 (Umbrella Corp).');
    const stored = await stack.customers.full('C0UMBRELLA1');
    expect(stored).toMatchObject({ name: 'Umbrella Corp', routingKey: KEY, severity: 'warning', contact: 'umbrella@provider.example', pagesPerHour: 5, confirm: true, showResponderNames: false });
    expect(stored).toMatchObject({ sharedWith: ['T0PROVIDER', 'T0UMBRELLA'], approvedOrgs: ['T0PROVIDER', 'T0UMBRELLA'] });

    const shown = await run(['show', 'C0UMBRELLA1']);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/routing key:\s+Rk…e9/);
    expect(shown.stdout).toMatch(/confirmation:\s+on/);
    expect(shown.stdout).toMatch(/responder names:\s+hidden/);
    const listed = await run(['list']);
    expect(listed.stdout).toMatch(/^C0UMBRELLA1\s+Umbrella Corp\s+key Rk…e9\s+warning\s+5\/h\s+confirm on$/m);

    expectOneLineFailure(await run(['add', 'C0UMBRELLA1', '--name', 'Again']), /^channel C0UMBRELLA1 is already a customer$/);
    expect((await stack.customers.get('C0UMBRELLA1'))?.name).toBe('Umbrella Corp');
  });

  it('reads a routing key from stdin with --routing-key -, so that it stays out of the shell history', async () => {
    const updated = await run(['update', 'C0UMBRELLA1', '--routing-key', '-'], {}, `${OTHER_KEY}\n`);
    expect(updated.code).toBe(0);
    expect(updated.stdout).toMatch(/routing key:\s+Zq…cd/);
    expect((await stack.customers.full('C0UMBRELLA1'))?.routingKey).toBe(OTHER_KEY);
    expectOneLineFailure(await run(['update', 'C0UMBRELLA1', '--routing-key', '-'], {}, ''), /stdin was empty/);
  });

  it('updates only what it is given, and "default" clears a setting', async () => {
    const updated = await run(['update', 'C0UMBRELLA1', '--pages-per-hour', '10', '--no-confirm', '--routing-key', 'default']);
    expect(updated.code).toBe(0);
    expect(updated.stdout).toMatch(/routing key:\s+the deployment's/);
    expect(await stack.customers.get('C0UMBRELLA1')).toMatchObject({ name: 'Umbrella Corp', severity: 'warning', pagesPerHour: 10, confirm: false });
    expect((await stack.customers.full('C0UMBRELLA1'))?.routingKey).toBeUndefined();
  });

  it('approves the organizations a channel is shared with now', async () => {
    await stack.customers.recordSharedWith('C0UMBRELLA1', ['T0PROVIDER', 'T0UMBRELLA', 'T0STRANGER']);
    const shown = await run(['show', 'C0UMBRELLA1']);
    expect(shown.stdout).toMatch(/organizations:\s+T0PROVIDER, T0UMBRELLA$/m);
    expect(shown.stdout).toMatch(/NOT APPROVED:\s+T0STRANGER /);
    const approved = await run(['approve', 'C0UMBRELLA1']);
    expect(approved.code).toBe(0);
    expect(approved.stdout).toContain('T0PROVIDER, T0UMBRELLA, T0STRANGER');
    expect((await stack.customers.get('C0UMBRELLA1'))?.approvedOrgs).toEqual(['T0PROVIDER', 'T0UMBRELLA', 'T0STRANGER']);
  });

  it('exports YAML with masked keys, and imports it back: a masked key keeps the stored key', async () => {
    await stack.customers.add({ channel: 'C0HOOLI0001', name: 'Hooli', routingKey: OTHER_KEY, severity: 'error' });
    const exported = await run(['export']);
    expect(exported.code).toBe(0);
    expect(exported.stdout).toContain('routingKey: Zq…cd');

    // The file as a provider keeps it: one setting changed, one customer added, one with a new key.
    const edited = exported.stdout.replace('name: Hooli', 'name: Hooli XYZ').replace('customers:\n', `customers:\n  - channel: C0NEWCO0001\n    name: NewCo\n    routingKey: ${KEY}\n`);
    const file = path.join(dir, 'customers.yaml');
    writeFileSync(file, edited);
    const imported = await run(['import', file]);
    expect(imported.code).toBe(0);
    expect(imported.stdout).toMatch(/1 added, 1 updated, \d+ unchanged/);
    expect(await stack.customers.full('C0HOOLI0001')).toMatchObject({ name: 'Hooli XYZ', routingKey: OTHER_KEY, severity: 'error' });
    expect(await stack.customers.full('C0NEWCO0001')).toMatchObject({ name: 'NewCo', routingKey: KEY });

    // A fresh export, imported as it is, changes nothing.
    writeFileSync(file, (await run(['export'])).stdout);
    const again = await run(['import', file]);
    expect(again.stdout).toMatch(/0 added, 0 updated/);
    expect((await stack.customers.full('C0NEWCO0001'))?.routingKey).toBe(KEY);
  });

  it('sets response targets with --ack-within and --resolve-within, shows, exports and imports them, and "none" clears one', async () => {
    await stack.customers.add({ channel: 'C0TARGET001', name: 'Targeted' });
    const updated = await run(['update', 'C0TARGET001', '--ack-within', '15m', '--resolve-within', '4h', '--receipt', 'on']);
    expect(updated.code).toBe(0);
    expect(updated.stdout).toMatch(/targets:\s+acknowledge within 15m, resolve within 4h$/m);
    expect(await stack.customers.get('C0TARGET001')).toMatchObject({ ackWithinMinutes: 15, resolveWithinMinutes: 240, receipt: true });
    expect((await run(['show', 'C0TARGET001'])).stdout).toMatch(/targets:\s+acknowledge within 15m, resolve within 4h\n\s+receipt:\s+on /);

    const exported = (await run(['export'])).stdout;
    expect(exported).toMatch(/channel: C0TARGET001\n(?:\s+\w+: .*\n)*?\s+ackWithinMinutes: 15\n\s+resolveWithinMinutes: 240\n\s+receipt: true\n/);
    const file = path.join(dir, 'targets.yaml');
    writeFileSync(file, exported.replace('ackWithinMinutes: 15', 'ackWithinMinutes: 30'));
    expect((await run(['import', file])).stdout).toMatch(/0 added, 1 updated/);
    expect(await stack.customers.get('C0TARGET001')).toMatchObject({ ackWithinMinutes: 30, resolveWithinMinutes: 240 });

    expect((await run(['update', 'C0TARGET001', '--ack-within', 'none'])).stdout).toMatch(/targets:\s+resolve within 4h$/m);
    expect((await stack.customers.get('C0TARGET001'))?.ackWithinMinutes).toBeUndefined();
    expectOneLineFailure(await run(['update', 'C0TARGET001', '--resolve-within', 'soon']), /^--resolve-within is a duration such as 15m/);
    expectOneLineFailure(await run(['update', 'C0TARGET001', '--receipt', 'yes']), /^--receipt is on or off$/);
    expect((await run(['update', 'C0TARGET001', '--receipt', 'off'])).stdout).toMatch(/receipt:\s+off$/m);
    expect((await stack.customers.get('C0TARGET001'))?.resolveWithinMinutes).toBe(240);
  });

  it('refuses a bad import with one line and writes nothing of it', async () => {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'customers:\n  - channel: C0FIRST0001\n    name: First\n  - channel: C0SECOND001\n    name: Second\n    pagesPerHour: many\n');
    expectOneLineFailure(await run(['import', file]), /customer 2 \(C0SECOND001\): pagesPerHour/);
    expect(await stack.customers.get('C0FIRST0001')).toBeUndefined();
    writeFileSync(file, 'customers:\n  - channel: C0MASKED001\n    name: Masked\n    routingKey: Ab…yz\n');
    expectOneLineFailure(await run(['import', file]), /masked and none is stored/);
    expectOneLineFailure(await run(['import', path.join(dir, 'missing.yaml')]), /cannot read .*missing\.yaml: ENOENT/);
  });

  it('removes a customer, and then knows it no more', async () => {
    const removed = await run(['remove', 'C0NEWCO0001']);
    expect(removed.code).toBe(0);
    expect(await stack.customers.get('C0NEWCO0001')).toBeUndefined();
    expectOneLineFailure(await run(['remove', 'C0NEWCO0001']), /^channel C0NEWCO0001 is not a customer$/);
  });

  it('answers bad input with one line and a non-zero exit, and acts on nothing', async () => {
    const before = await stack.customers.all();
    const cases: [string[], RegExp][] = [
      [['add', 'C0BOGUS0001', '--name', 'Bogus', '--bogus'], /^unknown option --bogus$/],
      [['add', 'acme', '--name', 'Acme'], /malformed channel id "acme"/],
      [['add', 'D0123456789', '--name', 'A DM'], /direct message/],
      [['add', 'C0BOGUS0001'], /add needs --name/],
      [['add', 'C0BOGUS0001', '--name', 'Bogus', '--severity', 'urgent'], /--severity is one of critical, error, warning, info/],
      [['add', 'C0BOGUS0001', '--name', 'Bogus', '--pages-per-hour', 'lots'], /--pages-per-hour is a whole number/],
      [['add', 'C0BOGUS0001', '--name', 'Bogus', '--routing-key', 'short'], /routingKey: a routing key is/],
      [['add', 'C0BOGUS0001', '--name', 'Bogus', '--org', 'not-a-team'], /orgs\.0: an organization id is/],
      [['update', 'CACME', '--org', 'T0PROVIDER'], /^unknown option --org$/],
      [['update', 'C0NOBODY001', '--name', 'Ghost'], /^channel C0NOBODY001 is not a customer$/],
      [['update', 'CACME'], /update needs at least one setting/],
      [['show', 'C0NOBODY001'], /^channel C0NOBODY001 is not a customer$/],
      [['approve', 'C0NOBODY001'], /^channel C0NOBODY001 is not a customer$/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [['show'], /show needs <channel-id>/],
      [['list', '--stage', 'prod'], /--stage and --region go together/],
    ];
    const results = await Promise.all(cases.map(([args]) => run(args)));
    results.forEach((result, i) => expectOneLineFailure(result, cases[i]![1]));
    expect(await stack.customers.all()).toEqual(before);
  });

  it('never acts on --help, and shows the commands', async () => {
    for (const args of [['--help'], ['add', 'C0HELPED001', '--name', 'Helped', '--help'], ['remove', 'CACME', '-h']]) {
      const result = await run(args);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^usage: npm run customers -- <command>/);
      for (const command of ['add', 'update', 'remove', 'list', 'show', 'approve', 'import', 'export']) expect(result.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    }
    expect(await stack.customers.get('C0HELPED001')).toBeUndefined();
    expect(await stack.customers.get('CACME')).toBeDefined();
  });

  it('is refused by the stack without its admin token', async () => {
    expectOneLineFailure(await run(['list'], { PD_ROUTER_ADMIN_TOKEN: 'not-the-token' }), /admin token is missing or wrong/);
  });

  it('talks to a deployed stack\'s table with --stage and --region (here the local stack\'s table on dynalite)', async () => {
    const env = { ...LOCAL_AWS_ENV, AWS_ENDPOINT_URL_DYNAMODB: stack.dynamo.endpoint, PD_ROUTER_URL: 'http://127.0.0.1:9' };
    const added = await run(['add', 'C0DEPLOYED1', '--name', 'Deployed', '--routing-key', KEY, '--stage', 'local', '--region', 'us-east-1'], env);
    expect(added.code).toBe(0);
    expect((await stack.customers.full('C0DEPLOYED1'))?.routingKey).toBe(KEY);
    const listed = await run(['list', '--stage', 'local', '--region', 'us-east-1'], env);
    expect(listed.stdout).toMatch(/^C0DEPLOYED1\s+Deployed\s+key Rk…e9/m);
    expectOneLineFailure(await run(['list', '--stage', 'nosuchstage', '--region', 'us-east-1'], env), /table does not exist there/);
  });
});

describe('which stack the command talks to', () => {
  const handOff = { url: 'http://127.0.0.1:3000', slackApiUrl: '', pagerDutyUrl: '', slackSigningSecret: '', pagerDutySigningKey: '', adminToken: 'tok-3000' };

  it('uses the hand-off of the running npm start', () => {
    expect(resolveTarget({}, {}, handOff)).toEqual({ kind: 'http', url: 'http://127.0.0.1:3000', token: 'tok-3000' });
  });

  it('picks the stack on PORT, and takes the hand-off token only when it is that stack', () => {
    expect(resolveTarget({}, { PORT: '3000' }, handOff)).toEqual({ kind: 'http', url: 'http://127.0.0.1:3000', token: 'tok-3000' });
    expect(() => resolveTarget({}, { PORT: '3104' }, handOff)).toThrow(/no admin token for http:\/\/127.0.0.1:3104/);
    expect(resolveTarget({}, { PORT: '3104', PD_ROUTER_ADMIN_TOKEN: 'mine' }, handOff)).toEqual({ kind: 'http', url: 'http://127.0.0.1:3104', token: 'mine' });
  });

  it('prefers PD_ROUTER_URL, and --stage with --region over everything', () => {
    expect(resolveTarget({}, { PD_ROUTER_URL: 'http://127.0.0.1:4000/', PD_ROUTER_ADMIN_TOKEN: 't' }, handOff)).toEqual({ kind: 'http', url: 'http://127.0.0.1:4000', token: 't' });
    expect(resolveTarget({ stage: 'prod', region: 'eu-west-1' }, { PD_ROUTER_URL: 'http://127.0.0.1:4000' }, handOff)).toEqual({ kind: 'table', stage: 'prod', region: 'eu-west-1' });
  });

  it('says how to start one when none is found', () => {
    expect(() => resolveTarget({}, {}, undefined)).toThrow(/no running pd-router found/);
  });
});
