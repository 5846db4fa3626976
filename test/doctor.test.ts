import { freePort } from './support/ports';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { PAGERDUTY_HANDLED_EVENT_TYPES } from '../lib/events';
import { SECRET_NAMES } from '../lib/runtime/secrets';
import { readSandboxState, type SandboxState } from '../local/sandbox-state';
import type { LocalStack } from '../local/stack';
import { manifestBotScopes } from '../local/stand-ins/slack';
import { DescribeStacksCommand, ListStackResourcesCommand } from '@aws-sdk/client-cloudformation';
import { DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { GetFunctionConfigurationCommand } from '@aws-sdk/client-lambda';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { ListSubscriptionsByTopicCommand } from '@aws-sdk/client-sns';
import { alarmTopics, deployedSecrets, runDoctor, type DoctorIo } from '../scripts/doctor';
import type { DoctorDeps } from '../scripts/doctor-checks';
import { ensureCustomer } from '../local/world/customers';
import { startTestStack } from './support/stack';

/** The hand-off file `npm start` writes for this stack (sandbox mode). */
function handOff(stack: LocalStack, override: Partial<SandboxState> = {}): SandboxState {
  return {
    url: stack.url,
    slackApiUrl: stack.slack!.apiUrl,
    pagerDutyUrl: stack.pagerDuty!.url,
    slackSigningSecret: stack.secrets.SLACK_SIGNING_SECRET,
    slackBotToken: stack.secrets.SLACK_BOT_TOKEN,
    pagerDutySigningKey: stack.secrets.PAGER_DUTY_SIGNING_KEY,
    pagerDutyEventsApiKey: stack.secrets.PAGER_DUTY_EVENTS_API_KEY,
    pagerDutyRestApiKey: stack.secrets.PAGER_DUTY_REST_API_KEY,
    ...override,
  };
}

/** Run the command as `npm run doctor -- …` would, its output collected. */
async function doctor(argv: string[], io: Partial<DoctorIo> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runDoctor(argv, {
    env: {},
    readSandboxState: () => undefined,
    getJson: async (url) => (await fetch(url)).json(),
    now: Date.now,
    stdout: (line) => out.push(line),
    stderr: (line) => err.push(line),
    ...io,
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** The line of one check, and the fix line under it when there is one. */
function check(output: string, name: string): { line: string; fix?: string } {
  const lines = output.split('\n');
  const index = lines.findIndex((l) => new RegExp(`^[✓✗-] ${name}: `).test(l));
  if (index < 0) throw new Error(`no line for ${name} in:\n${output}`);
  const next = lines[index + 1];
  return { line: lines[index]!, ...(next?.startsWith('    fix: ') ? { fix: next.slice(9) } : {}) };
}

const CHECKS = ['secret keys', 'Slack auth.test', 'Slack scopes', 'bot in customer channels', 'PagerDuty REST key', 'PagerDuty webhook subscription', 'customer services covered', 'routing keys', 'DLQs', 'alarm topic'];

describe('npm run doctor, against the local stack', () => {
  let stack: LocalStack;
  let webhookUrl: string;
  const viaHandOff = (override: Partial<SandboxState> = {}): Partial<DoctorIo> => ({ env: { PD_ROUTER_URL: stack.url }, readSandboxState: () => handOff(stack, override) });
  const everySecret = () => SECRET_NAMES.map((name) => stack.secrets[name]);

  beforeAll(async () => {
    stack = await startTestStack();
    webhookUrl = `${stack.url}/pagerduty/webhooks`;
    // What `npm start` does in sandbox mode: its own webhook URL is subscribed.
    stack.pagerDuty!.subscribe(webhookUrl, PAGERDUTY_HANDLED_EVENT_TYPES);
    await ensureCustomer(stack, 'CDOCTOR1', { routingKey: 'R0UTINGKEYOFCUSTOMER0001' });
    // The sandbox gives every customer registered with its own key a service of its own.
    stack.pagerDuty!.addService('R0UTINGKEYOFCUSTOMER0001', 'Doctor One');
    await ensureCustomer(stack, 'CDOCTOR2');
  });
  afterAll(() => stack.stop());

  const subscription = () => stack.pagerDuty!.subscriptions.find((s) => (s.delivery_method as { url: string }).url === webhookUrl) as { active: boolean; events: string[]; delivery_method: { url: string; temporarily_disabled: boolean } };

  it('a well-wired sandbox: every check ✓, the alarm topic skipped with its reason, exit 0, no secret printed, nothing written', async () => {
    const before = stack.pagerDuty!.restCalls.length;
    const slackCalls = stack.slack!.calls.length;
    const registered = (await stack.customers.all()).length;
    expect(registered).toBeGreaterThanOrEqual(2);
    const result = await doctor([], viaHandOff());
    expect(result).toMatchObject({ code: 0, err: '' });
    expect(result.out.split('\n')[0]).toBe(`pd-router doctor: the local stack at ${stack.url} (stage local)`);
    for (const name of CHECKS.filter((n) => n !== 'alarm topic')) expect(check(result.out, name).line).toMatch(/^✓ /);
    expect(check(result.out, 'secret keys').line).toBe('✓ secret keys: all 5 present and non-empty in the local sandbox');
    expect(check(result.out, 'bot in customer channels').line).toBe(`✓ bot in customer channels: the bot is in all ${registered} registered channels`);
    expect(check(result.out, 'alarm topic').line).toBe('- alarm topic: skipped (only a deployed stage has one)');
    expect(result.out).toMatch(/all checks passed \(some skipped\)$/);
    for (const secret of [...everySecret(), 'R0UTINGKEYOFCUSTOMER0001']) expect(result.out).not.toContain(secret);
    // Reads only: PagerDuty saw GETs, Slack auth.test and conversations.info.
    expect(stack.pagerDuty!.restCalls.slice(before).map((c) => c.path.split('?')[0])).toEqual(['/incidents', '/webhook_subscriptions', '/services', '/webhook_subscriptions']);
    expect(new Set(stack.slack!.calls.slice(slackCalls).map((c) => c.method))).toEqual(new Set(['auth.test', 'conversations.info']));
  });

  it('a missing or empty key: ✗ naming it (never a value), how to fix, exit 1; the checks that need it are skipped', async () => {
    const result = await doctor([], viaHandOff({ pagerDutyRestApiKey: '', slackBotToken: undefined }));
    expect(result.code).toBe(1);
    const keys = check(result.out, 'secret keys');
    expect(keys.line).toBe('✗ secret keys: the local sandbox lacks SLACK_BOT_TOKEN, PAGER_DUTY_REST_API_KEY (missing or empty)');
    expect(keys.fix).toMatch(/restart `npm start`/);
    expect(check(result.out, 'Slack auth.test').line).toBe('- Slack auth.test: skipped (needs SLACK_BOT_TOKEN (see secret keys))');
    expect(check(result.out, 'PagerDuty REST key').line).toMatch(/^- PagerDuty REST key: skipped/);
    expect(result.out).toMatch(/1 of 10 checks failed$/);
    for (const secret of everySecret()) expect(result.out).not.toContain(secret);
  });

  it('a scope the manifest asks for is missing: ✗ naming it, how to fix, exit 1', async () => {
    stack.slack!.scopes = manifestBotScopes().filter((s) => s !== 'chat:write' && s !== 'groups:history');
    try {
      const result = await doctor([], viaHandOff());
      expect(result.code).toBe(1);
      const scopes = check(result.out, 'Slack scopes');
      expect(scopes.line).toBe('✗ Slack scopes: the token lacks chat:write, groups:history (slack-app-manifest.yaml asks for them)');
      expect(scopes.fix).toMatch(/reinstall it to the workspace/);
      expect(check(result.out, 'Slack auth.test').line).toMatch(/^✓ /);
    } finally {
      stack.slack!.scopes = manifestBotScopes();
    }
  });

  it('a dead bot token: ✗ on auth.test with what to do, and the channel check skipped', async () => {
    const result = await doctor([], viaHandOff({ slackBotToken: 'xoxb-revoked-token-of-the-test' }));
    expect(result.code).toBe(1);
    const auth = check(result.out, 'Slack auth.test');
    expect(auth.line).toMatch(/^✗ Slack auth.test: Slack refused the bot token: Slack answered invalid_auth$/);
    expect(auth.fix).toMatch(/Bot User OAuth Token/);
    expect(check(result.out, 'bot in customer channels').line).toMatch(/^- bot in customer channels: skipped/);
    expect(result.out).not.toContain('xoxb-revoked-token-of-the-test');
  });

  it('a refused PagerDuty REST key: ✗ with what to do, and the subscription check skipped', async () => {
    const result = await doctor([], viaHandOff({ pagerDutyRestApiKey: 'rest-key-pagerduty-does-not-know' }));
    expect(result.code).toBe(1);
    const rest = check(result.out, 'PagerDuty REST key');
    expect(rest.line).toBe('✗ PagerDuty REST key: PagerDuty refused the REST API key: HTTP 401 for GET /incidents');
    expect(rest.fix).toMatch(/API Access Keys/);
    expect(check(result.out, 'PagerDuty webhook subscription').line).toBe('- PagerDuty webhook subscription: skipped (needs a working REST key (see PagerDuty REST key))');
    expect(result.out).not.toContain('rest-key-pagerduty-does-not-know');
  });

  it('a Slack 429 or a PagerDuty 503 is not a bad key: ✗ "could not check", and run it again', async () => {
    stack.slack!.faults.failNext('auth.test', 1, { kind: 'status', status: 429, retryAfterSeconds: 30 });
    stack.pagerDuty!.faults.failNext('rest', 1, { kind: 'status', status: 503 });
    try {
      const result = await doctor([], viaHandOff());
      expect(result.code).toBe(1);
      expect(check(result.out, 'Slack auth.test')).toEqual({ line: expect.stringMatching(/^✗ Slack auth.test: could not check: WebAPIRateLimitedError: A rate-limit has been reached/), fix: expect.stringMatching(/run the doctor again$/) });
      expect(check(result.out, 'PagerDuty REST key')).toEqual({ line: '✗ PagerDuty REST key: could not check: HTTP 503 for GET /incidents', fix: expect.stringMatching(/run the doctor again$/) });
    } finally {
      stack.slack!.faults.clear();
      stack.pagerDuty!.faults.clear();
    }
  });

  it('the bot is not in a registered channel: ✗ naming that channel only, how to fix, exit 1', async () => {
    await ensureCustomer(stack, 'CNOBOT01');
    stack.slack!.notMember.add('CNOBOT01');
    const registered = (await stack.customers.all()).length;
    try {
      const result = await doctor([], viaHandOff());
      expect(result.code).toBe(1);
      const member = check(result.out, 'bot in customer channels');
      expect(member.line).toBe(`✗ bot in customer channels: the bot is not in 1 of ${registered} registered channels: CNOBOT01`);
      expect(member.fix).toMatch(/\/invite @pd-router/);
    } finally {
      stack.slack!.notMember.delete('CNOBOT01');
      await stack.customers.remove('CNOBOT01');
    }
  });

  it('a subscription PagerDuty disabled after failed deliveries, or one switched off: ✗ with how to enable it, exit 1', async () => {
    subscription().delivery_method.temporarily_disabled = true;
    try {
      const result = await doctor([], viaHandOff());
      expect(result.code).toBe(1);
      const hook = check(result.out, 'PagerDuty webhook subscription');
      expect(hook.line).toMatch(/^✗ PagerDuty webhook subscription: PSUB\d+ \(to .*\/pagerduty\/webhooks\) was disabled by PagerDuty after failed deliveries$/);
      expect(hook.fix).toMatch(/enable it again/);
    } finally {
      subscription().delivery_method.temporarily_disabled = false;
    }
    subscription().active = false;
    try {
      expect(check((await doctor([], viaHandOff())).out, 'PagerDuty webhook subscription').line).toMatch(/\) is disabled$/);
    } finally {
      subscription().active = true;
    }
  });

  it('a subscription without some handled event types: ✗ saying which', async () => {
    const events = subscription().events;
    subscription().events = events.filter((e) => e !== 'incident.resolved' && e !== 'incident.reassigned');
    try {
      const result = await doctor([], viaHandOff());
      expect(result.code).toBe(1);
      expect(check(result.out, 'PagerDuty webhook subscription').line).toMatch(/does not send incident\.reassigned, incident\.resolved$/);
    } finally {
      subscription().events = events;
    }
  });

  it('no subscription for this stack\'s webhook URL: ✗ with the pd:subscribe command for it, exit 1', async () => {
    const delivery = subscription().delivery_method;
    delivery.url = 'https://elsewhere.example/pagerduty/webhooks';
    try {
      const result = await doctor([], viaHandOff());
      expect(result.code).toBe(1);
      const hook = check(result.out, 'PagerDuty webhook subscription');
      expect(hook.line).toBe(`✗ PagerDuty webhook subscription: no subscription delivers to ${webhookUrl}`);
      expect(hook.fix).toContain(`npm run pd:subscribe -- --url ${webhookUrl}`);
    } finally {
      delivery.url = webhookUrl;
    }
  });

  it('a parked message: ✗ with how many and the oldest age, pointing at npm run dlq, exit 1; the message stays parked', async () => {
    await stack.sqs.client.send(new SendMessageCommand({ QueueUrl: stack.sqs.queues.slack.url, MessageBody: 'not json', MessageGroupId: 'CDOCTOR1', MessageDeduplicationId: 'doctor-poison' }));
    await stack.waitForIdle();
    const result = await doctor([], viaHandOff());
    expect(result.code).toBe(1);
    const dlqs = check(result.out, 'DLQs');
    expect(dlqs.line).toMatch(/^✗ DLQs: 1 parked in pd-router-local-\S+-dlq\.fifo, the oldest \d+s old$/);
    expect(dlqs.fix).toMatch(/npm run dlq -- list/);
    expect(result.out).toMatch(/1 of 10 checks failed$/);
    // Looking took nothing out: the same message is still there for `npm run dlq`.
    expect(await stack.dlq('slack')).toEqual([{ body: 'not json', reason: 'queue message is not JSON' }]);
  });

  it('each check has a timeout: a Slack that does not answer fails its check, not the doctor', async () => {
    stack.slack!.latencyMs = 1500;
    try {
      const result = await doctor(['--timeout', '0.5'], viaHandOff());
      expect(result.code).toBe(1);
      expect(check(result.out, 'Slack auth.test').line).toMatch(/^✗ Slack auth.test: .*(no answer within 0\.5s|timeout)/i);
      expect(check(result.out, 'PagerDuty REST key').line).toMatch(/^✓ /);
    } finally {
      stack.slack!.latencyMs = 0;
    }
  }, 20_000);

  it('without a running stack: one line that says how to start one', async () => {
    expect(await doctor([])).toEqual({ code: 1, out: '', err: 'no local stack found: start one with `npm start` (or set PD_ROUTER_URL or PORT), or give --stage and --region for a deployed stage' });
    const gone = await doctor([], { env: { PD_ROUTER_URL: 'http://127.0.0.1:9' }, getJson: () => Promise.reject(new Error('ECONNREFUSED')) });
    expect(gone).toEqual({ code: 1, out: '', err: 'the pd-router stack at http://127.0.0.1:9 is not answering; is `npm start` running?' });
  });
});

describe('npm run doctor --stage: both secret layouts and the alarm topic (deployed dependencies played here)', () => {
  const secrets = { SLACK_SIGNING_SECRET: 'signing-of-the-test', PAGER_DUTY_SIGNING_KEY: 'pd-signing-of-the-test', SLACK_BOT_TOKEN: 'xoxb-of-the-test', PAGER_DUTY_EVENTS_API_KEY: 'R0UTINGKEYOFTHESTAGE0001', PAGER_DUTY_REST_API_KEY: 'rest-of-the-test' };
  const deployed = (over: Partial<Omit<DoctorDeps, 'timeoutMs'>>) => async (): Promise<Omit<DoctorDeps, 'timeoutMs'>> => ({
    secrets: [{ where: 'secret pd-router/prod', names: Object.keys(secrets) as never, read: async () => secrets, fix: 'npm run secrets:put -- --secret-id pd-router/prod' }],
    slack: () => ({ authTest: async () => ({ user: 'pd-router', team: 'Provider', scopes: manifestBotScopes() }), isMember: async () => true }),
    pagerDuty: () => ({
      probe: async () => undefined,
      subscriptions: async () => [{ id: 'PSUB1', active: true, events: [...PAGERDUTY_HANDLED_EVENT_TYPES], filter: { type: 'service_reference', id: 'PSTAGE' }, delivery_method: { url: 'https://api.example/pagerduty/webhooks', temporarily_disabled: false } }],
      services: async () => [{ id: 'PSTAGE', name: 'Customer Escalations', teams: [], keys: ['R0UTINGKEYOFTHESTAGE0001'] }],
    }),
    customers: async () => [{ channel: 'C0CUSTOMER' }],
    dlqs: async () => [{ queue: 'slack', name: 'pd-router-prod-slack-events-dlq.fifo', count: 0 }],
    alarmTopics: async () => [{ arn: 'arn:aws:sns:eu-west-1:123456789012:alarms', confirmed: 1, pending: 0 }],
    webhookUrl: 'https://api.example/pagerduty/webhooks',
    manifestScopes: manifestBotScopes(),
    dlqCommand: 'npm run dlq -- list --stage prod --region eu-west-1',
    ...over,
  });
  const args = ['--stage', 'prod', '--region', 'eu-west-1'];

  it('all ✓ with a confirmed alarm subscriber', async () => {
    const result = await doctor(args, { deployed: deployed({}) });
    expect(result).toMatchObject({ code: 0, err: '' });
    expect(check(result.out, 'alarm topic').line).toBe('✓ alarm topic: arn:aws:sns:eu-west-1:123456789012:alarms (1 confirmed)');
  });

  it('split secrets: each half checked in its own secret, and a key in the wrong half is missing where it is read', async () => {
    const { SLACK_BOT_TOKEN: _moved, ...signingAndRest } = secrets;
    const result = await doctor(args, {
      deployed: deployed({
        secrets: [
          { where: 'secret prod/signing', names: ['SLACK_SIGNING_SECRET', 'PAGER_DUTY_SIGNING_KEY'], read: async () => signingAndRest, fix: 'put the signing half' },
          { where: 'secret prod/api-tokens', names: ['SLACK_BOT_TOKEN', 'PAGER_DUTY_EVENTS_API_KEY', 'PAGER_DUTY_REST_API_KEY'], read: async () => signingAndRest, fix: 'put the API-token half' },
        ],
      }),
    });
    expect(result.code).toBe(1);
    expect(check(result.out, 'secret keys')).toEqual({ line: '✗ secret keys: secret prod/api-tokens lacks SLACK_BOT_TOKEN (missing or empty)', fix: 'put the API-token half' });
    for (const value of Object.values(secrets)) expect(result.out).not.toContain(value);
  });

  it('an alarm topic nobody confirmed, or no topic at all: ✗ with what to do', async () => {
    const pending = await doctor(args, { deployed: deployed({ alarmTopics: async () => [{ arn: 'arn:aws:sns:eu-west-1:123456789012:alarms', confirmed: 0, pending: 1 }] }) });
    expect(pending.code).toBe(1);
    expect(check(pending.out, 'alarm topic')).toEqual({
      line: '✗ alarm topic: no confirmed subscription on arn:aws:sns:eu-west-1:123456789012:alarms (1 pending confirmation)',
      fix: expect.stringMatching(/Subscription Confirmation/),
    });
    const none = await doctor(args, { deployed: deployed({ alarmTopics: async () => [] }) });
    expect(check(none.out, 'alarm topic')).toEqual({ line: '✗ alarm topic: the alarms notify no topic: nobody hears them', fix: expect.stringMatching(/alarmEmail/) });
  });

  it('a malformed stored routing key: ✗ naming the channel, never the key', async () => {
    const result = await doctor(args, { deployed: deployed({ customers: async () => [{ channel: 'C0CUSTOMER', routingKey: 'not a key!' }] }) });
    expect(result.code).toBe(1);
    expect(check(result.out, 'routing keys').line).toBe('✗ routing keys: malformed routing key for C0CUSTOMER');
    expect(result.out).not.toContain('not a key!');
  });
});

describe('npm run doctor: bad input gets one clear line and nothing is reached', () => {
  const untouchable = {
    getJson: () => Promise.reject(new Error('no stack may be reached')),
    deployed: () => Promise.reject(new Error('no AWS may be reached')),
  };

  it.each([
    [['--region', 'eu-west-1'], /^--region goes with --stage/],
    [['--stage', 'prod'], /^--stage needs --region/],
    [['--stage', 'prod/../x', '--region', 'eu-west-1'], /^--stage must be a stage name/],
    [['--stage', 'prod', '--region', 'Ireland'], /^--region must be an AWS region like eu-west-1/],
    [['--timeout', 'soon'], /^--timeout must be a number of seconds/],
    [['--timeout', '0'], /^--timeout must be a number of seconds/],
    [['local'], /^unexpected argument 'local'/],
    [['--bogus'], /^unknown option --bogus$/],
  ])('%j exits 2 with the usage', async (argv, message) => {
    const result = await doctor(argv, untouchable);
    expect(result.code).toBe(2);
    expect(result.err.split('\n')[0]).toMatch(message);
    expect(result.err).toContain('usage: npm run doctor');
    expect(result.out).toBe('');
  });

  it('--help prints the usage and checks nothing', async () => {
    const result = await doctor(['--stage', 'prod', '--help'], untouchable);
    expect(result).toMatchObject({ code: 0, err: '' });
    expect(result.out).toMatch(/^usage: npm run doctor/);
  });
});

/** An AWS client that answers each command class with the function given for it, and records what it was sent. */
function fakeClient(answers: [new (...args: never[]) => unknown, (input: Record<string, unknown>) => unknown][]) {
  const sent: { command: string; input: Record<string, unknown> }[] = [];
  return {
    sent,
    send: (async (command: { input: Record<string, unknown> }) => {
      const answer = answers.find(([type]) => command instanceof type);
      if (!answer) throw new Error(`unexpected ${command.constructor.name}`);
      sent.push({ command: command.constructor.name, input: command.input });
      return answer[1](command.input);
    }) as never,
  };
}

describe('npm run doctor --stage: what it reads from AWS (clients played here)', () => {
  const lambdaWith = (ids: Record<string, string>) =>
    fakeClient([[GetFunctionConfigurationCommand, (input) => ({ Environment: { Variables: { SECRETS_MANAGER_SECRET_ID: ids[String(input.FunctionName)] } } })]]);
  const secretsWith = (values: Record<string, string>) => fakeClient([[GetSecretValueCommand, (input) => ({ SecretString: values[String(input.SecretId)] })]]);

  it('reads the layout the functions run: one secret for all five keys, or each half in its own', async () => {
    const five = JSON.stringify({ SLACK_SIGNING_SECRET: 'a', PAGER_DUTY_SIGNING_KEY: 'b', SLACK_BOT_TOKEN: 'c', PAGER_DUTY_EVENTS_API_KEY: 'd', PAGER_DUTY_REST_API_KEY: 'e' });
    const single = await deployedSecrets(lambdaWith({ 'pd-router-prod-slack-ingress': 'pd-router/prod', 'pd-router-prod-slack-worker': 'pd-router/prod' }), secretsWith({ 'pd-router/prod': five }), 'prod', 'eu-west-1');
    expect(single.map((s) => ({ where: s.where, names: s.names, fix: s.fix }))).toEqual([{ where: 'secret pd-router/prod', names: SECRET_NAMES, fix: 'npm run secrets:put -- --secret-id pd-router/prod --region eu-west-1' }]);
    expect(await single[0]!.read()).toEqual(JSON.parse(five));

    const split = await deployedSecrets(
      lambdaWith({ 'pd-router-prod-slack-ingress': 'prod/signing', 'pd-router-prod-slack-worker': 'prod/api-tokens' }),
      secretsWith({ 'prod/signing': JSON.stringify({ SLACK_SIGNING_SECRET: 'a' }), 'prod/api-tokens': 'not json' }),
      'prod',
      'eu-west-1',
    );
    expect(split.map((s) => [s.where, s.names])).toEqual([
      ['secret prod/signing', ['SLACK_SIGNING_SECRET', 'PAGER_DUTY_SIGNING_KEY']],
      ['secret prod/api-tokens', ['SLACK_BOT_TOKEN', 'PAGER_DUTY_EVENTS_API_KEY', 'PAGER_DUTY_REST_API_KEY']],
    ]);
    expect(split[0]!.fix).toBe('npm run secrets:put -- --signing-secret-id prod/signing --api-token-secret-id prod/api-tokens --region eu-west-1');
    // A secret that is not JSON is said so, without its value.
    await expect(split[1]!.read()).rejects.toThrow(/^it is not a JSON object of keys$/);
  });

  it('a function without a secret id, or one it cannot read: one line naming the function', async () => {
    await expect(deployedSecrets(lambdaWith({}), secretsWith({}), 'prod', 'eu-west-1')).rejects.toThrow('pd-router-prod-slack-ingress has no SECRETS_MANAGER_SECRET_ID: deploy the stage again with this version');
    const denied = { send: (async () => Promise.reject(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }))) as never };
    await expect(deployedSecrets(denied, secretsWith({}), 'prod', 'eu-west-1')).rejects.toThrow(/^could not read the configuration of pd-router-prod-slack-ingress in eu-west-1 \(AccessDeniedException\)/);
  });

  it("the alarm topic: every SNS action of the stack's alarms, page after page, confirmed and pending subscriptions counted", async () => {
    const cloudFormation = fakeClient([
      [
        ListStackResourcesCommand,
        (input) =>
          input.NextToken
            ? { StackResourceSummaries: [{ ResourceType: 'AWS::CloudWatch::Alarm', PhysicalResourceId: 'pd-router-prod-HttpApi5xx' }] }
            : { StackResourceSummaries: [{ ResourceType: 'AWS::CloudWatch::Alarm', PhysicalResourceId: 'pd-router-prod-SlackDlq' }, { ResourceType: 'AWS::SQS::Queue', PhysicalResourceId: 'q' }], NextToken: 'more' },
      ],
      [DescribeStacksCommand, () => ({})],
    ]);
    const topic = 'arn:aws:sns:eu-west-1:123456789012:pd-router-prod-alarms';
    const cloudWatch = fakeClient([[DescribeAlarmsCommand, () => ({ MetricAlarms: [{ AlarmActions: [topic] }, { AlarmActions: [topic, 'arn:aws:automate:eu-west-1:ec2:stop'] }] })]]);
    const sns = fakeClient([
      [
        ListSubscriptionsByTopicCommand,
        (input) =>
          input.NextToken
            ? { Subscriptions: [{ SubscriptionArn: `${topic}:abc` }] }
            : { Subscriptions: [{ SubscriptionArn: 'PendingConfirmation' }, { SubscriptionArn: 'PendingConfirmation' }], NextToken: 'next' },
      ],
    ]);
    expect(await alarmTopics(cloudFormation, cloudWatch, sns, 'pd-router-prod')).toEqual([{ arn: topic, confirmed: 1, pending: 2 }]);
    expect(cloudWatch.sent).toEqual([{ command: 'DescribeAlarmsCommand', input: { AlarmNames: ['pd-router-prod-SlackDlq', 'pd-router-prod-HttpApi5xx'] } }]);
  });
});

describe('npm run doctor finds a stack started with PORT=… and real Slack and PagerDuty settings (no hand-off file)', () => {
  const secrets = { SLACK_SIGNING_SECRET: 'signing-of-the-test', PAGER_DUTY_SIGNING_KEY: 'pd-signing-of-the-test', SLACK_BOT_TOKEN: 'xoxb-of-the-test', PAGER_DUTY_EVENTS_API_KEY: 'R0UTINGKEYOFTHESTAGE0001', PAGER_DUTY_REST_API_KEY: 'rest-of-the-test' };
  // Nothing listens on port 9: the Slack and PagerDuty checks fail at once instead of reaching out.
  const vendors = { SLACK_API_URL: 'http://127.0.0.1:9/api/', PAGER_DUTY_EVENTS_URL: 'http://127.0.0.1:9', PAGER_DUTY_API_URL: 'http://127.0.0.1:9' };
  let stack: LocalStack;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    // As `PORT=… npm start` with the configuration in the environment: no sandbox, so no hand-off file.
    stack = await startTestStack({ port, env: { ...secrets, ...vendors } });
  });
  afterAll(() => stack?.stop());

  it('checks that stack, with PORT the only pointer to it', async () => {
    expect(stack.sandbox).toBe(false);
    expect(readSandboxState({ PORT: String(port) })).toBeUndefined();
    const result = await doctor(['--timeout', '2'], { env: { PORT: String(port), ...secrets, ...vendors }, readSandboxState });
    expect(result.err).toBe('');
    expect(result.out.split('\n')[0]).toBe(`pd-router doctor: the local stack at http://127.0.0.1:${port} (stage local)`);
    // Its keys from this shell, its queues from the stack's /health: found, and empty.
    expect(check(result.out, 'secret keys').line).toBe("✓ secret keys: all 5 present and non-empty in this shell's environment");
    expect(check(result.out, 'DLQs').line).toMatch(/^✓ DLQs: /);
  });
});
