import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import YAML from 'yaml';
import { CHECK_STATUS_ACTION_ID } from '../../lib/slack/normalize';
import { LOCAL_AWS_ENV } from '../../local/aws';
import type { Template } from '../../local/iam/deploy-roles';
import { post } from '../../local/events/request';
import { checkStatusPayload, mentionEnvelope, signedSlackForm, signedSlackJson } from '../../local/events/slack';
import { startLocalSecretsManager, type LocalSecretsManager } from '../../local/secrets-manager';
import { startStack, type LocalStack } from '../../local/stack';
import { DEFAULT_SERVICE_ID, PagerDutyStandIn } from '../../local/stand-ins/pagerduty';
import { loadSlackAppManifest } from '../../local/stand-ins/slack-manifest';
import { SlackStandIn, STAND_IN_BOT_USER_ID } from '../../local/stand-ins/slack';
import { freePort } from '../support/ports';

/**
 * The Deploy steps, followed in the order the guide gives them, on the local stack in non-sandbox
 * mode: each command is taken from the step's own code span or block and run as written (a real
 * process, in a copy of the repository), its placeholders filled in, and the step's "you should
 * see" asserted. What only a real AWS, Slack or PagerDuty account can do is named with the reason,
 * and played here by the local stack (the deployed stack, started from the template of step 1),
 * Secrets Manager on this machine (local/secrets-manager.ts) and the Slack and PagerDuty stand-ins.
 */

const ROOT = join(__dirname, '..', '..');
/** Where the Deploy steps live: their own page, or the README's Deploy section before they moved. */
const DEPLOY_DOC = existsSync(join(ROOT, 'docs', 'deploy.md')) ? 'docs/deploy.md' : 'README.md';

/** The examples' stage and region, and the files of the repository the commands need. */
const STAGE = 'prod';
const REGION = 'eu-west-1';
const REPOSITORY_FILES = ['package.json', 'tsconfig.json', 'serverless.yml', 'slack-app-manifest.yaml', 'deploy', 'lib', 'functions', 'local', 'scripts'];

interface DocStep {
  number: number;
  title: string;
  text: string;
  /** Every code span and every line of every code block (continuations joined), in order. */
  commands: string[];
}

function readSteps(): DocStep[] {
  const doc = readFileSync(join(ROOT, DEPLOY_DOC), 'utf8');
  const heading = doc.search(/^### Steps$/m);
  if (heading < 0) throw new Error(`${DEPLOY_DOC} has no "### Steps" heading`);
  const rest = doc.slice(heading).split('\n').slice(1).join('\n');
  const end = rest.search(/^#{1,3} /m);
  const section = end < 0 ? rest : rest.slice(0, end);
  return section
    .split(/\n(?=\d+\. )/)
    .filter((part) => /^\d+\. /.test(part))
    .map((part) => {
      const commands: string[] = [];
      const withoutBlocks = part.replace(/^[ \t]*```[a-z]*\n([\s\S]*?)\n[ \t]*```/gm, (_, block: string) => {
        const lines = block.split('\n').map((line) => line.trim());
        commands.push(...lines.join('\n').replace(/\\\n/g, ' ').split('\n').filter(Boolean));
        return '';
      });
      for (const span of withoutBlocks.matchAll(/`([^`]+)`/g)) commands.push(span[1]!.replace(/\s*\n\s*/g, ' '));
      return { number: Number(/^(\d+)\./.exec(part)![1]), title: /\*\*(.+?)\*\*/.exec(part)?.[1] ?? '', text: part, commands };
    });
}

/**
 * What each step is, found by its title, and the steps whose results it takes: the order the guide
 * gives must put those first. `notRunnable` says what a local run cannot do of it, and why.
 */
const STEP_KINDS = {
  package: { title: /check it offline/i, needs: [] },
  pagerDuty: { title: /pagerduty: the service/i, needs: [], notRunnable: "creating the service's Events API V2 integration and a REST API key happens in PagerDuty's web app: the PagerDuty stand-in plays that service (PSERVICE), its integration key and its REST key" },
  deploy: { title: /deploy the stack/i, needs: ['package'], notRunnable: '`npx osls deploy` needs an AWS account: the local stack plays the deployed stack, started from the template step 1 built (its roles, its secret ids), at the URLs its outputs would give' },
  slackApp: { title: /slack app/i, needs: ['deploy'], notRunnable: "creating and installing the app happens in Slack's web app: the Slack stand-in plays the installed app (the manifest's scopes and events)" },
  subscribe: { title: /webhook subscription/i, needs: ['deploy', 'pagerDuty'] },
  secrets: { title: /store the five keys/i, needs: ['pagerDuty', 'slackApp', 'subscribe'] },
  verifyUrl: { title: /verify slack's request url/i, needs: ['slackApp', 'secrets'], notRunnable: "the Retry button is Slack's: the test sends the url_verification request Slack sends then" },
  testChannel: { title: /register the test channel/i, needs: ['deploy'] },
  ping: { title: /the ping/i, needs: ['verifyUrl', 'testChannel'] },
  escalation: { title: /first escalation/i, needs: ['subscribe', 'secrets', 'testChannel', 'ping'] },
  customers: { title: /register each customer/i, needs: ['deploy', 'secrets'] },
  doctor: { title: /check the wiring/i, needs: ['secrets', 'subscribe', 'testChannel', 'customers'] },
} as const satisfies Record<string, { title: RegExp; needs: string[]; notRunnable?: string }>;
type Kind = keyof typeof STEP_KINDS;

const STEPS = readSteps();
const kindOf = (step: DocStep): Kind | undefined => (Object.keys(STEP_KINDS) as Kind[]).find((kind) => STEP_KINDS[kind].title.test(step.title));
const stepOf = (kind: Kind): DocStep => {
  const step = STEPS.find((s) => kindOf(s) === kind);
  if (!step) throw new Error(`${DEPLOY_DOC} has no step titled like ${STEP_KINDS[kind].title}`);
  return step;
};

/** The step's command that starts with `start` (the doc's own text; a missing one fails the step). */
function command(kind: Kind, start: string | RegExp, nth = 0): string {
  const step = stepOf(kind);
  const found = step.commands.filter((c) => (typeof start === 'string' ? c.startsWith(start) : start.test(c)));
  if (!found[nth]) throw new Error(`step ${step.number} (${step.title}) of ${DEPLOY_DOC} no longer shows a command like ${String(start)}: it has ${JSON.stringify(step.commands)}`);
  return found[nth];
}

/** Fill the doc's <placeholders>; one the test does not know fails the step rather than running. */
function fill(text: string, values: Record<string, string>): string {
  const filled = text.replace(/<([A-Za-z][^<>]*)>/g, (whole, name: string) => {
    if (!(name in values)) throw new Error(`unknown placeholder ${whole} in \`${text}\``);
    return values[name]!;
  });
  return filled;
}

/** A deployed stage's flags, replaced by the local stack (found through PD_ROUTER_URL) where the command needs more of AWS than this machine has. */
function onLocalStack(text: string): string {
  const flags = ` --stage ${STAGE} --region ${REGION}`;
  if (!text.includes(flags)) throw new Error(`\`${text}\` no longer names the example stage as "${flags.trim()}"`);
  return text.replace(flags, '');
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe(`the Deploy steps of ${DEPLOY_DOC}, followed in their order on the local stack (non-sandbox)`, () => {
  const secrets = {
    SLACK_SIGNING_SECRET: 'slack-app-signing-secret-of-the-deploy-test',
    SLACK_BOT_TOKEN: 'xoxb-bot-token-of-the-deploy-test',
    PAGER_DUTY_EVENTS_API_KEY: 'R0UTINGKEYOFTHEDEPLOYTEST1',
    PAGER_DUTY_REST_API_KEY: 'rest-key-of-the-deploy-test',
  };
  const TEST_CHANNEL = 'CTESTDEPLOY1';
  const GLOBEX_KEY = 'R0UTINGKEYOFGLOBEXSERVICE';
  let work: string;
  let slack: SlackStandIn;
  let pagerDuty: PagerDutyStandIn;
  let secretsManager: LocalSecretsManager;
  let stack: LocalStack | undefined;
  let port: number;
  let urls: { slack: string; pagerDuty: string; base: string };
  let template: Template;
  /** What earlier steps produced that later ones use, as a person carries it from one to the next. */
  const carried: { signingSecret?: string; subscriptionId?: string; newSigningSecret?: string } = {};
  const done = new Set<Kind>();
  const failed: number[] = [];

  /** The shell the commands run in: AWS is the local emulators (nothing else of AWS answers), no sandbox hand-off. */
  const shellEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of Object.keys(env)) if (/^(AWS_|PD_ROUTER_|PORT$|SLACK_|PAGER_DUTY_|SECRETS_MANAGER_|npm_)/.test(name)) delete env[name];
    return {
      ...env,
      ...LOCAL_AWS_ENV,
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.endpoint,
      ...(stack ? { AWS_ENDPOINT_URL_DYNAMODB: stack.dynamo.endpoint } : {}),
      ...extra,
    };
  };
  /** The shell of a provider whose own keys are set, pointed at the local stack. */
  const localStackShell = () =>
    shellEnv({ PD_ROUTER_URL: urls.base, PD_ROUTER_ADMIN_TOKEN: stack!.adminToken, ...secrets, PAGER_DUTY_SIGNING_KEY: [carried.signingSecret, carried.newSigningSecret].filter(Boolean).join(','), PAGER_DUTY_API_URL: pagerDuty.url, SLACK_API_URL: slack.apiUrl });

  function sh(line: string, env: NodeJS.ProcessEnv, stdin?: string): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn('bash', ['-o', 'pipefail', '-c', line], { cwd: work, env, stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
      if (stdin !== undefined) child.stdin!.end(stdin);
    });
  }

  const settle = async () => {
    for (let round = 0; round < 2; round++) {
      await pagerDuty.deliveriesSettled();
      await stack!.waitForIdle(20_000);
    }
  };
  const botMessages = (channel: string) => slack.channelMessages(channel).filter((m) => m.user === STAND_IN_BOT_USER_ID);
  async function mention(channel: string, text: string) {
    const message = slack.recordCustomerMessage(channel, 'UTESTER1', `<@${STAND_IN_BOT_USER_ID}> ${text}`);
    const envelope = mentionEnvelope({ channel, text, ts: message.ts, user: 'UTESTER1' });
    expect(slack.delivers(envelope.event)).toMatchObject({ delivered: true });
    expect((await post(urls.slack, signedSlackJson(secrets.SLACK_SIGNING_SECRET, envelope))).status).toBe(200);
    await settle();
    return message.ts;
  }
  const urlVerification = (challenge: string) => post(urls.slack, signedSlackJson(secrets.SLACK_SIGNING_SECRET, { token: 'deprecated', challenge, type: 'url_verification' }));

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'pd-router-deploy-steps-'));
    for (const file of REPOSITORY_FILES) cpSync(join(ROOT, file), join(work, file), { recursive: true, filter: (source) => !source.endsWith('.test.ts') });
    symlinkSync(join(ROOT, 'node_modules'), join(work, 'node_modules'), 'dir');
    slack = await new SlackStandIn({ botToken: secrets.SLACK_BOT_TOKEN }).start();
    pagerDuty = await new PagerDutyStandIn({ routingKey: secrets.PAGER_DUTY_EVENTS_API_KEY, restToken: secrets.PAGER_DUTY_REST_API_KEY, firstNumber: 501 }).start();
    secretsManager = await startLocalSecretsManager();
    port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    urls = { base, slack: `${base}/slack/events`, pagerDuty: `${base}/pagerduty/webhooks` };
  });
  afterAll(async () => {
    await stack?.stop();
    await pagerDuty?.stop();
    await slack?.stop();
    await secretsManager?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('lists every step this test knows, each once, in an order where each comes after the steps it needs', () => {
    expect(STEPS.map((s) => s.number)).toEqual(STEPS.map((_, i) => i + 1));
    const kinds = STEPS.map((step) => kindOf(step) ?? `step ${step.number} (${step.title}): unknown to this test`);
    expect(kinds.slice().sort()).toEqual(Object.keys(STEP_KINDS).sort());
    const position = (kind: Kind) => kinds.indexOf(kind);
    const outOfOrder = (Object.keys(STEP_KINDS) as Kind[]).flatMap((kind) => STEP_KINDS[kind].needs.filter((need) => position(need) > position(kind)).map((need) => `step ${position(kind) + 1} (${kind}) comes before step ${position(need) + 1} (${need}), which it needs`));
    expect(outOfOrder).toEqual([]);
    // The first real escalation is answered only in a registered channel, and the safe ping comes before it.
    expect(position('testChannel')).toBeLessThan(position('escalation'));
    expect(position('ping')).toBeLessThan(position('escalation'));
  });

  /** Each step in the doc's order; a step runs only after every earlier step passed. */
  const steps: Record<Kind, () => Promise<void>> = {
    async package() {
      // `npm ci && npm test` is not run: npm ci would reinstall the node_modules this run uses, and npm test is the suite this test belongs to.
      expect(stepOf('package').commands).toContain('npm ci && npm test');
      const line = command('package', 'npm run package');
      const run = await sh(line, shellEnv());
      expect(run).toMatchObject({ code: 0 });
      const summary = run.stdout.split('\n').filter((l) => /^(Packaged| {2}\d+ | {2}table|Next)/.test(l));
      expect(summary[0]).toBe(`Packaged stage ${STAGE} into .serverless:`);
      expect(summary).toContainEqual(expect.stringMatching(/^ {2}5 functions: pd-router-prod-slack-ingress, /));
      // Step 3's reserved concurrency defaults to none, which a new account can grant.
      expect(summary.join('\n')).not.toContain('reserved concurrency');
      expect(summary).toContainEqual(expect.stringMatching(/^ {2}4 queues: /));
      expect(summary).toContainEqual(`  table: pd-router-${STAGE}-incident-links`);
      expect(summary).toContainEqual(expect.stringMatching(/^ {2}11 alarms, notifying a new SNS topic \(AlarmTopic\) mailing oncall@example\.com$/));
      // "The choices of step 3": the deploy command it prints next is step 3's, choice for choice.
      const next = summary.find((l) => l.startsWith('Next: '))!;
      const params = (text: string) => [...text.matchAll(/--param="?([^"\s]+)"?/g)].map((m) => m[1]).sort();
      const deploy = command('deploy', 'npx osls deploy');
      expect(next).toMatch(new RegExp(`^Next: npx osls deploy --stage ${STAGE} --region ${REGION} `));
      expect(params(next)).toEqual(params(deploy));
      template = JSON.parse(readFileSync(join(work, '.serverless', 'cloudformation-template-update-stack.json'), 'utf8')) as Template;
    },

    async pagerDuty() {
      // Not runnable here (STEP_KINDS.pagerDuty): the stand-in's service is the one the step creates.
      expect(pagerDuty.serviceIdOf(secrets.PAGER_DUTY_EVENTS_API_KEY)).toBe(DEFAULT_SERVICE_ID);
      expect(stepOf('pagerDuty').text).toMatch(/Integration Key is `PAGER_DUTY_EVENTS_API_KEY`/);
    },

    async deploy() {
      // Not runnable here (STEP_KINDS.deploy). What the deploy would create: the outputs the step names, and its functions, which read their secrets only when called.
      const outputs = Object.keys((template as unknown as { Outputs: Record<string, unknown> }).Outputs);
      for (const output of stepOf('deploy').text.match(/`(SlackRequestUrl|PagerDutyWebhookUrl)`/g) ?? []) expect(outputs).toContain(output.replace(/`/g, ''));
      pagerDuty.webhook = { url: urls.pagerDuty, signingKey: 'no-subscription-signs-with-this' };
      stack = await startStack({
        port,
        stage: STAGE,
        env: { SLACK_API_URL: slack.apiUrl, PAGER_DUTY_EVENTS_URL: pagerDuty.url, PAGER_DUTY_API_URL: pagerDuty.url },
        secretsManagerEndpoint: secretsManager.endpoint,
        // The one refusal the test provokes (step 7) is asserted there; the last test checks there is no other.
        iam: { template, allowDenials: true },
        logLevel: 'silent',
        retryBaseSeconds: 0,
        visibilityTimeoutSeconds: 5,
      });
      expect(stack.sandbox).toBe(false);
      expect(stack.url).toBe(urls.base);
      // "The stack deploys before the secret exists": it runs, and Slack's requests fail until step 6.
      expect(secretsManager.value(`pd-router/${STAGE}/signing`)).toBeUndefined();
      expect((await urlVerification('before-the-secret')).status).toBeGreaterThanOrEqual(500);
    },

    async slackApp() {
      const manifest = YAML.parse((await sh(fill(command('slackApp', /^sed /), { SlackRequestUrl: urls.slack }), shellEnv())).stdout) as Record<string, unknown>;
      const expected = JSON.parse(JSON.stringify(loadSlackAppManifest()).split('https://YOUR-API-ID.execute-api.YOUR-REGION.amazonaws.com/slack/events').join(urls.slack)) as unknown;
      expect(manifest).toEqual(expected);
      expect(JSON.stringify(manifest)).not.toContain('YOUR-');
      // Not runnable here (STEP_KINDS.slackApp). "Slack shows the request URL as not verified yet": the stack cannot sign its answer before step 6.
      expect((await urlVerification('not-verified-yet')).body).not.toContain('not-verified-yet');
    },

    async subscribe() {
      const line = fill(command('subscribe', /pd:subscribe/), { 'full-access key': secrets.PAGER_DUTY_REST_API_KEY, PagerDutyWebhookUrl: urls.pagerDuty, 'service id': DEFAULT_SERVICE_ID });
      const run = await sh(line, shellEnv({ PAGER_DUTY_API_URL: pagerDuty.url }));
      expect(run).toMatchObject({ code: 0 });
      expect(run.stderr).toMatch(/Created webhook subscription P\w+ for service_reference PSERVICE/);
      const stdout = run.stdout.split('\n').filter(Boolean);
      expect(stdout).toHaveLength(1);
      carried.signingSecret = stdout[0]!;
      carried.subscriptionId = /Created webhook subscription (P\w+)/.exec(run.stderr)![1]!;
      expect(pagerDuty.subscriptions.map((s) => [s.id, (s.delivery_method as { url?: string }).url, (s.filter as { id?: string } | undefined)?.id])).toEqual([[carried.subscriptionId, urls.pagerDuty, DEFAULT_SERVICE_ID]]);
    },

    async secrets() {
      const line = command('secrets', 'npm run secrets:put');
      // Piped in as KEY=VALUE lines, as the step allows (a terminal would be asked for each, hidden).
      const input = Object.entries({ ...secrets, PAGER_DUTY_SIGNING_KEY: carried.signingSecret! }).map(([k, v]) => `${k}=${v}`).join('\n');
      const run = await sh(line, shellEnv(), input);
      expect(run).toMatchObject({ code: 0, stderr: expect.not.stringMatching(/Error|at .*\.ts:\d+/) });
      expect(run.stdout).toMatch(new RegExp(`Secret pd-router/${STAGE}/signing created[^\\n]*\\n  written: SLACK_SIGNING_SECRET, PAGER_DUTY_SIGNING_KEY`));
      expect(run.stdout).toMatch(new RegExp(`Secret pd-router/${STAGE}/api-tokens created[^\\n]*\\n  written: SLACK_BOT_TOKEN, PAGER_DUTY_EVENTS_API_KEY, PAGER_DUTY_REST_API_KEY`));
      for (const value of [...Object.values(secrets), carried.signingSecret!]) expect(run.stdout + run.stderr).not.toContain(value);
    },

    async verifyUrl() {
      // Not runnable here (STEP_KINDS.verifyUrl): Slack's Retry sends this, and the answer turns it green.
      const answer = await urlVerification('turns-green');
      expect(answer.status).toBe(200);
      expect(answer.body).toContain('turns-green');
      // Each half was read by the functions that need it, through their roles.
      expect(secretsManager.reads(`pd-router/${STAGE}/signing`)).toBeGreaterThan(0);
      // Step 3's split secrets: the public-facing ingress may not read the API tokens' half.
      const asIngress = new SecretsManagerClient({ endpoint: stack!.functionEnv('slack-ingress').AWS_ENDPOINT_URL_SECRETS_MANAGER!, region: LOCAL_AWS_ENV.AWS_REGION, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
      await expect(asIngress.send(new GetSecretValueCommand({ SecretId: `pd-router/${STAGE}/api-tokens` }))).rejects.toMatchObject({ name: 'AccessDeniedException' });
      asIngress.destroy();
      expect(stack!.iamDenials()).toEqual([expect.objectContaining({ function: 'slack-ingress', action: 'secretsmanager:GetSecretValue', resource: expect.stringContaining(`secret:pd-router/${STAGE}/api-tokens`) })]);
    },

    async testChannel() {
      const line = fill(command('testChannel', 'npm run customers -- add'), { 'test channel id': TEST_CHANNEL });
      // As written, with --stage: the deployed stage's table, which is the local stack's (DynamoDB's endpoint in the shell, as AWS's).
      const run = await sh(line, shellEnv());
      expect(run).toMatchObject({ code: 0, stdout: expect.stringContaining(`Added ${TEST_CHANNEL} (pd-router test).`) });
      expect(await stack!.customers.get(TEST_CHANNEL)).toMatchObject({ name: 'pd-router test' });
      // `/invite @pd-router` is Slack's: the stand-in's bot is in every channel unless told otherwise.
    },

    async ping() {
      const phrase = /`@pd-router (\S+)`/.exec(stepOf('ping').text)![1]!;
      const ts = await mention(TEST_CHANNEL, phrase);
      const answers = botMessages(TEST_CHANNEL).filter((m) => m.threadTs === ts || m.ts > ts);
      expect(answers.map((m) => m.text)).toEqual([expect.stringMatching(/^pong\b/)]);
      expect(pagerDuty.triggers).toEqual([]);
    },

    async escalation() {
      const text = /`@pd-router (escalate [^`]+)`/.exec(stepOf('escalation').text)![1]!;
      const ts = await mention(TEST_CHANNEL, text);
      const incidents = [...pagerDuty.incidents.values()];
      expect(incidents).toHaveLength(1);
      expect(incidents[0]!.serviceId ?? DEFAULT_SERVICE_ID).toBe(DEFAULT_SERVICE_ID);
      const thread = () => botMessages(TEST_CHANNEL).filter((m) => m.threadTs === ts);
      expect(thread()[0]!.text).toMatch(/On-call has been paged/);
      pagerDuty.acknowledge(incidents[0]!.id, 'Dana Scully');
      await settle();
      pagerDuty.resolve(incidents[0]!.id, 'Dana Scully');
      await settle();
      const said = thread().map((m) => m.text).join('\n');
      expect(said).toMatch(/Acknowledged by Dana Scully/);
      expect(said).toMatch(/Resolved by Dana Scully/);
      // That is step 5's subscription at work: every change delivered by it, and accepted.
      const deliveries = pagerDuty.deliveries.filter((d) => d.incidentId === incidents[0]!.id);
      expect(deliveries.map((d) => [d.eventType, d.subscriptionId, d.status])).toEqual([
        ['incident.triggered', carried.subscriptionId, 202],
        ['incident.acknowledged', carried.subscriptionId, 202],
        ['incident.resolved', carried.subscriptionId, 202],
      ]);
      // Check Status, clicked on the confirmation's button, shows the live state to whoever clicked.
      const button = (thread()[0]!.blocks as { type: string; elements?: { action_id?: string; value?: string }[] }[]).flatMap((b) => b.elements ?? []).find((e) => e.action_id === CHECK_STATUS_ACTION_ID)!;
      expect((await post(urls.slack, signedSlackForm(secrets.SLACK_SIGNING_SECRET, { payload: JSON.stringify(checkStatusPayload({ channel: TEST_CHANNEL, value: button.value!, user: 'UTESTER1' })) }))).status).toBe(200);
      await settle();
      expect(JSON.stringify(slack.ephemerals.filter((e) => e.channel === TEST_CHANNEL && e.user === 'UTESTER1'))).toMatch(/Resolved/);
      // `npx osls logs … --tail` is CloudWatch's: not runnable here.
    },

    async customers() {
      // The first customer, as written: the stage's table.
      const acme = await sh(command('customers', 'npm run customers -- add C0123ABCDEF'), shellEnv());
      expect(acme).toMatchObject({ code: 0, stdout: expect.stringContaining('Added C0123ABCDEF (Acme Corp).') });
      // Globex pages its own PagerDuty service, which the provider's account has.
      const globexService = pagerDuty.addService(GLOBEX_KEY, 'Globex');
      writeFileSync(join(work, 'globex-routing-key.txt'), `${GLOBEX_KEY}\n`);
      // On the local stack rather than --stage: what `customers add` says of the key's service is read from the deployed stack through CloudFormation and Lambda, which only AWS has.
      const globex = await sh(onLocalStack(command('customers', 'npm run customers -- add C0456GHIJKL')), localStackShell());
      expect(globex).toMatchObject({ code: 0, stdout: expect.stringContaining('Added C0456GHIJKL (Globex).') });
      expect(globex.stdout).toMatch(new RegExp(`! Its PagerDuty service Globex \\(${globexService.id}\\) sends pd-router no webhooks`));
      expect(globex.stdout).not.toContain(GLOBEX_KEY);

      const subscribe = await sh(fill(onLocalStack(command('customers', /pd:subscribe/)), { 'full-access key': secrets.PAGER_DUTY_REST_API_KEY }), localStackShell());
      expect(subscribe).toMatchObject({ code: 0 });
      expect(subscribe.stderr).toMatch(new RegExp(`✓ the default key \\(PAGER_DUTY_EVENTS_API_KEY\\): service Customer Escalations \\(PSERVICE\\) is covered by ${carried.subscriptionId}`));
      expect(subscribe.stderr).toMatch(new RegExp(`\\+ C0456GHIJKL \\(Globex\\): service Globex \\(${globexService.id}\\): created PSUB\\d+`));
      const printed = subscribe.stdout.split('\n').filter(Boolean);
      expect(printed).toHaveLength(1);
      carried.newSigningSecret = printed[0]!;

      const put = await sh(fill(command('customers', /^printf 'PAGER_DUTY_SIGNING_KEY/), { current: carried.signingSecret!, new: carried.newSigningSecret }), shellEnv());
      expect(put).toMatchObject({ code: 0 });
      expect(put.stdout).toMatch(new RegExp(`Secret pd-router/${STAGE}/signing updated`));
      expect(put.stdout).toMatch(new RegExp(`Secret pd-router/${STAGE}/api-tokens already holds these values; nothing written`));
      expect(JSON.parse(secretsManager.value(`pd-router/${STAGE}/signing`)!)).toMatchObject({ PAGER_DUTY_SIGNING_KEY: `${carried.signingSecret},${carried.newSigningSecret}`, SLACK_SIGNING_SECRET: secrets.SLACK_SIGNING_SECRET });
    },

    async doctor() {
      // On the local stack rather than --stage: a deployed stage's doctor reads CloudFormation, Lambda and SNS, which only AWS has.
      const run = await sh(onLocalStack(command('doctor', 'npm run doctor')), localStackShell());
      const lines = run.stdout.split('\n').filter((l) => /^[✓✗-] /.test(l));
      expect(lines.filter((l) => !l.startsWith('✓ '))).toEqual(['- alarm topic: skipped (only a deployed stage has one)']);
      expect(lines).toContainEqual('✓ bot in customer channels: the bot is in all 3 registered channels');
      expect(lines).toContainEqual(expect.stringMatching(/^✓ customer services covered/));
      expect(run).toMatchObject({ code: 0 });
    },
  };

  for (const step of STEPS) {
    const kind = kindOf(step);
    const notRunnable = kind && 'notRunnable' in STEP_KINDS[kind] ? ` (not runnable here: ${STEP_KINDS[kind].notRunnable})` : '';
    it(`step ${step.number}, ${step.title}${notRunnable}`, async () => {
      if (!kind) throw new Error(`step ${step.number} (${step.title}) is unknown to this test`);
      // Each step runs on what the steps before it in the doc left, whatever it is declared to need:
      // a step placed before one it needs fails by what it does (the order check names the cause).
      if (failed.length) throw new Error(`not run: step ${failed[0]} failed before it`);
      try {
        await steps[kind]();
      } catch (error) {
        failed.push(step.number);
        throw error;
      }
      done.add(kind);
    }, 40_000);
  }

  it('left nothing parked and no AWS call the deploy roles refuse', async () => {
    expect(done.size).toBe(Object.keys(STEP_KINDS).length);
    expect(await stack!.dlq('slack')).toEqual([]);
    expect(await stack!.dlq('pagerduty')).toEqual([]);
    expect(stack!.iamDenials().map((d) => `${d.function} ${d.action}`)).toEqual(['slack-ingress secretsmanager:GetSecretValue']);
  });
});
