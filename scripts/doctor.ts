import { CloudFormationClient, DescribeStacksCommand, ListStackResourcesCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ListSubscriptionsByTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetQueueAttributesCommand, GetQueueUrlCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LogLevel, WebClient } from '@slack/web-api';
import { LAYOUT, queueNames, tableName, type QueueName } from '../lib/layout/layout';
import { PdRouterError } from '../lib/errors';
import { API_TOKEN_NAMES, SECRET_NAMES, SIGNING_SECRET_NAMES, type SecretName } from '../lib/runtime/secrets';
import { makeCustomers } from '../lib/store/customers';
import { LOCAL_AWS_ENV } from '../local/aws';
import { helperEnvProblem, localStackUrl, readSandboxState, whichSandboxLine, type SandboxState } from '../local/sandbox-state';
import { manifestBotScopes } from '../local/stand-ins/slack';
import { parseCommandLine, usageError, type CliOutput } from './cli';
import { sqsClientFor, type DlqTarget } from './dlq';
import { describeError, formatResults, redact, runChecks, withTimeout, type AlarmTopic, type DlqState, type DoctorDeps, type SecretSource } from './doctor-checks';
import { listServiceKeys, listSubscriptions, PAGERDUTY_WEBHOOK_PATH, type StageKeys } from './webhook-coverage';

/** A problem that stops the doctor before any check, told in one line. */
export class DoctorError extends PdRouterError {
  override name = 'DoctorError';
}

const USAGE = `usage: npm run doctor [-- --stage <stage> --region <region>] [--timeout <seconds>]
  Checks that a pd-router stack is wired correctly and prints one line per check (✓, ✗ or skipped),
  with what to do for each ✗; exits 1 if any check fails. It only reads: nothing is changed.

  secret keys                  every key the functions need is in their secret(s), non-empty
  Slack auth.test / scopes     the bot token works and has every scope slack-app-manifest.yaml asks for
  bot in customer channels     the bot is a member of every registered customer channel
  PagerDuty REST key           the REST API key works
  PagerDuty webhook            a subscription delivers to this stack's /pagerduty/webhooks, is enabled
                               and sends every event type the workers handle
  customer services covered    the service of every routing key (each customer's, the default) is
                               taken in by such a subscription; names each customer whose is not,
                               and each key that is on no service of the account
  routing keys                 each registered customer's routing key is well-formed
  DLQs                         nothing is parked (else how many, and the oldest's age)
  alarm topic                  the alarms reach a confirmed subscriber (deployed stages only)

options:
  --stage <s>       a deployed stage (with --region, or AWS_REGION), using your AWS credentials;
                    without it, the local stack that \`npm start\` runs (PD_ROUTER_URL or PORT)
  --region <r>      the deployed stage's region
  --timeout <s>     how long each check may take (default 10)`;

export interface DoctorIo extends CliOutput {
  env: Record<string, string | undefined>;
  /** The hand-off file of the local stack these variables point at. */
  readSandboxState: (env: Record<string, string | undefined>) => SandboxState | undefined;
  /** GET a URL of the local stack and parse its JSON. */
  getJson: (url: string) => Promise<unknown>;
  /** The dependencies for a deployed stage (the tests pass their own). */
  deployed?: (stage: string, region: string, timeoutMs: number) => Promise<Omit<DoctorDeps, 'timeoutMs'>>;
  now: () => number;
}

interface Options {
  stage?: string;
  region?: string;
  timeout?: string;
}

const DEFAULT_TIMEOUT_SECONDS = 10;

/** The Slack probe: auth.test (scopes from its x-oauth-scopes header) and conversations.info. */
export function slackProbe(token: string, apiUrl: string, timeoutMs: number): ReturnType<DoctorDeps['slack']> {
  const client = new WebClient(token, { slackApiUrl: apiUrl, timeout: timeoutMs, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, logLevel: LogLevel.ERROR });
  return {
    async authTest() {
      const answer = await client.auth.test();
      return {
        ...(answer.user ? { user: answer.user } : {}),
        ...(answer.team ? { team: answer.team } : {}),
        ...(answer.response_metadata?.scopes ? { scopes: answer.response_metadata.scopes } : {}),
      };
    },
    async isMember(channel) {
      return (await client.conversations.info({ channel })).channel?.is_member === true;
    },
  };
}

/** The PagerDuty REST probe: GET reads only. */
export function pagerDutyProbe(restKey: string, apiUrl: string, timeoutMs: number): ReturnType<DoctorDeps['pagerDuty']> {
  const get = async (path: string): Promise<Record<string, unknown>> => {
    const response = await fetch(new URL(path, apiUrl.endsWith('/') ? apiUrl : `${apiUrl}/`), {
      headers: { authorization: `Token token=${restKey}`, accept: 'application/vnd.pagerduty+json;version=2' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!response.ok) throw Object.assign(new DoctorError(`HTTP ${response.status} for GET /${path.split('?')[0]}`), { status: response.status });
    return (await response.json()) as Record<string, unknown>;
  };
  return {
    async probe() {
      await get('incidents?limit=1');
    },
    subscriptions: () => listSubscriptions(get),
    services: () => listServiceKeys(get),
  };
}

/** DLQ depths, and the age of the oldest message seen (received with visibility 0: nothing is held). */
export async function dlqStates(sqs: Pick<SQSClient, 'send'>, stage: string, now: () => number): Promise<DlqState[]> {
  const states: DlqState[] = [];
  for (const queue of Object.keys(LAYOUT.queues) as QueueName[]) {
    const name = queueNames(stage, queue).dlq;
    const url = (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl!;
    const attributes = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }))).Attributes ?? {};
    const count = Number(attributes.ApproximateNumberOfMessages ?? 0) + Number(attributes.ApproximateNumberOfMessagesNotVisible ?? 0);
    let oldestAgeMs: number | undefined;
    if (count > 0) {
      const seen = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 0, WaitTimeSeconds: 0, MessageSystemAttributeNames: ['SentTimestamp'] }));
      const sent = (seen.Messages ?? []).map((m) => Number(m.Attributes?.SentTimestamp)).filter((t) => Number.isFinite(t) && t > 0);
      if (sent.length) oldestAgeMs = now() - Math.min(...sent);
    }
    states.push({ queue, name, count, ...(oldestAgeMs === undefined ? {} : { oldestAgeMs }) });
  }
  return states;
}

function customersOf(db: DynamoDBDocumentClient, table: string): DoctorDeps['customers'] {
  return async () => (await makeCustomers(db, table).all()).map((c) => ({ channel: c.channel, name: c.name, ...(c.routingKey === undefined ? {} : { routingKey: c.routingKey }) }));
}

/** The local stack's dependencies: its hand-off file (sandbox) or this shell's variables, and what its /health names. */
async function localDeps(io: Pick<DoctorIo, 'env' | 'readSandboxState' | 'getJson' | 'now'>, timeoutMs: number): Promise<{ deps: Omit<DoctorDeps, 'timeoutMs'>; label: string; pagerDutyApiUrl: string }> {
  const state = io.readSandboxState(io.env);
  const url = localStackUrl(io.env, state);
  if (!url) throw new DoctorError(whichSandboxLine(io.env, 'npm run doctor') ?? 'no local stack found: start one with `npm start` (or set PD_ROUTER_URL or PORT), or give --stage and --region for a deployed stage');
  let health: { stage?: unknown; sqsEndpoint?: unknown; dynamoEndpoint?: unknown; tableName?: unknown };
  try {
    health = (await io.getJson(new URL('/health', url).toString())) as typeof health;
  } catch {
    throw new DoctorError(`the pd-router stack at ${url} is not answering; is \`npm start\` running?`);
  }
  if (typeof health.sqsEndpoint !== 'string' || typeof health.dynamoEndpoint !== 'string' || typeof health.tableName !== 'string') {
    throw new DoctorError(`the local stack at ${url} did not say where its SQS and DynamoDB emulators listen (a pd-router older than this doctor?)`);
  }
  const stage = typeof health.stage === 'string' ? health.stage : 'local';
  const fromHandOff: Partial<Record<SecretName, string | undefined>> | undefined = state && {
    SLACK_SIGNING_SECRET: state.slackSigningSecret,
    SLACK_BOT_TOKEN: state.slackBotToken,
    PAGER_DUTY_SIGNING_KEY: state.pagerDutySigningKey,
    PAGER_DUTY_EVENTS_API_KEY: state.pagerDutyEventsApiKey,
    PAGER_DUTY_REST_API_KEY: state.pagerDutyRestApiKey,
  };
  const secrets: SecretSource = fromHandOff
    ? { where: 'the local sandbox', names: SECRET_NAMES, read: async () => ({ ...fromHandOff }), fix: 'restart `npm start` (the sandbox makes its keys up at start)' }
    : {
        where: 'this shell\'s environment',
        names: SECRET_NAMES,
        read: async () => Object.fromEntries(SECRET_NAMES.map((name) => [name, io.env[name]])),
        fix: 'set the missing variables in this shell, the same values `npm start` was given',
      };
  const slackApiUrl = state?.slackApiUrl || io.env.SLACK_API_URL?.trim() || 'https://slack.com/api/';
  const pagerDutyApiUrl = state?.pagerDutyUrl || io.env.PAGER_DUTY_API_URL?.trim() || 'https://api.pagerduty.com';
  const target: DlqTarget = { stage, endpoint: health.sqsEndpoint };
  const db = DynamoDBDocumentClient.from(
    new DynamoDBClient({ endpoint: health.dynamoEndpoint, region: LOCAL_AWS_ENV.AWS_REGION, credentials: { accessKeyId: LOCAL_AWS_ENV.AWS_ACCESS_KEY_ID, secretAccessKey: LOCAL_AWS_ENV.AWS_SECRET_ACCESS_KEY } }),
  );
  return {
    label: `the local stack at ${url} (stage ${stage})`,
    pagerDutyApiUrl,
    deps: {
      secrets: [secrets],
      slack: (token) => slackProbe(token, slackApiUrl, timeoutMs),
      pagerDuty: (key) => pagerDutyProbe(key, pagerDutyApiUrl, timeoutMs),
      customers: customersOf(db, health.tableName),
      dlqs: () => dlqStates(sqsClientFor(target), stage, io.now),
      webhookUrl: `${url}${PAGERDUTY_WEBHOOK_PATH}`,
      manifestScopes: manifestBotScopes(),
      dlqCommand: 'npm run dlq -- list',
    },
  };
}

/**
 * The secret(s) a deployed stage's functions read, as their SECRETS_MANAGER_SECRET_ID says: one
 * id for all five keys (the single layout), or the signing secrets apart from the API tokens (split).
 */
export async function deployedSecrets(lambda: Pick<LambdaClient, 'send'>, secretsManager: Pick<SecretsManagerClient, 'send'>, stage: string, region: string): Promise<SecretSource[]> {
  const idOf = async (fn: string) => {
    const name = `${LAYOUT.service}-${stage}-${fn}`;
    let id: string | undefined;
    try {
      id = (await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }))).Environment?.Variables?.SECRETS_MANAGER_SECRET_ID;
    } catch (error) {
      throw new DoctorError(`could not read the configuration of ${name} in ${region} (${(error as Error).name}): is the stage deployed there, and may your credentials read it?`);
    }
    if (!id) throw new DoctorError(`${name} has no SECRETS_MANAGER_SECRET_ID: deploy the stage again with this version`);
    return id;
  };
  const [ingressId, workerId] = [await idOf('slack-ingress'), await idOf('slack-worker')];
  const read = async (id: string) => {
    const value = (await secretsManager.send(new GetSecretValueCommand({ SecretId: id }))).SecretString ?? '';
    try {
      const parsed: unknown = JSON.parse(value);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
    } catch {
      // told below, without the value
    }
    throw new DoctorError('it is not a JSON object of keys');
  };
  if (ingressId === workerId) {
    return [{ where: `secret ${ingressId}`, names: SECRET_NAMES, read: () => read(ingressId), fix: `npm run secrets:put -- --secret-id ${ingressId} --region ${region}` }];
  }
  const fix = `npm run secrets:put -- --signing-secret-id ${ingressId} --api-token-secret-id ${workerId} --region ${region}`;
  return [
    { where: `secret ${ingressId}`, names: SIGNING_SECRET_NAMES, read: () => read(ingressId), fix },
    { where: `secret ${workerId}`, names: API_TOKEN_NAMES, read: () => read(workerId), fix },
  ];
}

/** A deployed stage's dependencies, with the caller's AWS credentials. */
export async function deployedDeps(stage: string, region: string, timeoutMs: number, now: () => number = Date.now): Promise<Omit<DoctorDeps, 'timeoutMs'>> {
  const cloudFormation = new CloudFormationClient({ region });
  const lambda = new LambdaClient({ region });
  const secretsManager = new SecretsManagerClient({ region });
  const stackName = `${LAYOUT.service}-${stage}`;
  let webhookUrl: string | undefined;
  try {
    const stack = (await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
    webhookUrl = stack?.Outputs?.find((o) => o.OutputKey === 'PagerDutyWebhookUrl')?.OutputValue;
  } catch (error) {
    throw new DoctorError(`could not read the stack ${stackName} in ${region} (${(error as Error).name}): is the stage deployed there, and are your AWS credentials set?`);
  }
  if (!webhookUrl) throw new DoctorError(`the stack ${stackName} has no PagerDutyWebhookUrl output: deploy it again with this version`);
  const secrets = await deployedSecrets(lambda, secretsManager, stage, region);
  const db = DynamoDBDocumentClient.from(new DynamoDBClient({ region }));
  return {
    secrets,
    slack: (token) => slackProbe(token, 'https://slack.com/api/', timeoutMs),
    pagerDuty: (key) => pagerDutyProbe(key, 'https://api.pagerduty.com', timeoutMs),
    customers: customersOf(db, tableName(stage)),
    dlqs: () => dlqStates(sqsClientFor({ stage, region }), stage, now),
    alarmTopics: () => alarmTopics(cloudFormation, new CloudWatchClient({ region }), new SNSClient({ region }), stackName),
    webhookUrl: webhookUrl.replace(/\/$/, ''),
    manifestScopes: manifestBotScopes(),
    dlqCommand: `npm run dlq -- list --stage ${stage} --region ${region}`,
    stageFlags: ` -- --stage ${stage} --region ${region}`,
  };
}

/** The SNS topics the stack's alarms notify, with their confirmed and pending subscriptions. */
export async function alarmTopics(cloudFormation: Pick<CloudFormationClient, 'send'>, cloudWatch: Pick<CloudWatchClient, 'send'>, sns: Pick<SNSClient, 'send'>, stackName: string): Promise<AlarmTopic[]> {
  const alarmNames: string[] = [];
  let next: string | undefined;
  do {
    const page = await cloudFormation.send(new ListStackResourcesCommand({ StackName: stackName, ...(next ? { NextToken: next } : {}) }));
    for (const r of page.StackResourceSummaries ?? []) if (r.ResourceType === 'AWS::CloudWatch::Alarm' && r.PhysicalResourceId) alarmNames.push(r.PhysicalResourceId);
    next = page.NextToken;
  } while (next);
  const arns = new Set<string>();
  for (let i = 0; i < alarmNames.length; i += 100) {
    const alarms = (await cloudWatch.send(new DescribeAlarmsCommand({ AlarmNames: alarmNames.slice(i, i + 100) }))).MetricAlarms ?? [];
    for (const alarm of alarms) for (const action of alarm.AlarmActions ?? []) if (action.startsWith('arn:aws:sns:') || action.includes(':sns:')) arns.add(action);
  }
  const topics: AlarmTopic[] = [];
  for (const arn of arns) {
    let confirmed = 0;
    let pending = 0;
    let token: string | undefined;
    do {
      const page = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: arn, ...(token ? { NextToken: token } : {}) }));
      for (const s of page.Subscriptions ?? []) {
        if (s.SubscriptionArn === 'PendingConfirmation') pending++;
        else if (s.SubscriptionArn?.startsWith('arn:')) confirmed++;
      }
      token = page.NextToken;
    } while (token);
    topics.push({ arn, confirmed, pending });
  }
  return topics;
}

/**
 * What `npm run pd:subscribe` and `npm run customers` need of a stage to trace its routing keys to
 * services: its webhook URL, its default key and its customers, found as the doctor finds them.
 */
export async function stageView(target: { stage?: string; region?: string }, env: Record<string, string | undefined> = process.env): Promise<StageKeys> {
  const timeoutMs = 10_000;
  let deps: Omit<DoctorDeps, 'timeoutMs'>;
  let label: string;
  let apiUrl = 'https://api.pagerduty.com';
  if (target.stage) {
    deps = await deployedDeps(target.stage, target.region!, timeoutMs);
    label = `stage ${target.stage} in ${target.region}`;
  } else {
    const problem = helperEnvProblem(env);
    if (problem) throw new DoctorError(problem);
    const local = await localDeps({ env, readSandboxState, now: Date.now, getJson: async (url) => (await fetch(url, { signal: AbortSignal.timeout(3000) })).json() }, timeoutMs);
    ({ deps, label } = local);
    apiUrl = local.pagerDutyApiUrl;
  }
  const stored: Record<string, unknown> = {};
  for (const source of deps.secrets) {
    try {
      Object.assign(stored, await source.read());
    } catch (error) {
      throw new DoctorError(`${source.where} could not be read (${describeError(error)})`);
    }
  }
  const defaultKey = typeof stored.PAGER_DUTY_EVENTS_API_KEY === 'string' && stored.PAGER_DUTY_EVENTS_API_KEY ? stored.PAGER_DUTY_EVENTS_API_KEY : undefined;
  const restKey = typeof stored.PAGER_DUTY_REST_API_KEY === 'string' && stored.PAGER_DUTY_REST_API_KEY ? stored.PAGER_DUTY_REST_API_KEY : undefined;
  return { label, webhookUrl: deps.webhookUrl, ...(defaultKey ? { defaultKey } : {}), customers: await deps.customers(), apiUrl, ...(restKey ? { restKey } : {}) };
}

/** `npm run doctor`: returns the exit code (0 all checks pass, 1 a check failed or the stack was not found, 2 usage). */
export async function runDoctor(argv: readonly string[], io: DoctorIo): Promise<number> {
  const parsed = parseCommandLine<Options>(argv, { stage: { type: 'string' }, region: { type: 'string' }, timeout: { type: 'string' } }, USAGE, io);
  if ('exitCode' in parsed) return parsed.exitCode;
  const { values } = parsed;
  const usage = (problem: string) => usageError(io, USAGE, problem);
  if (values.region !== undefined && values.stage === undefined) return usage('--region goes with --stage (a deployed stage)');
  const timeoutText = values.timeout?.trim();
  if (timeoutText !== undefined && !(/^\d+(\.\d+)?$/.test(timeoutText) && Number(timeoutText) > 0 && Number(timeoutText) <= 300)) {
    return usage(`--timeout must be a number of seconds from 0 to 300, not ${JSON.stringify(values.timeout)}`);
  }
  const timeoutMs = Math.round(Number(timeoutText ?? DEFAULT_TIMEOUT_SECONDS) * 1000);
  let stage: string | undefined;
  let region: string | undefined;
  if (values.stage !== undefined) {
    stage = values.stage.trim();
    if (!/^[A-Za-z0-9-]+$/.test(stage)) return usage('--stage must be a stage name (letters, digits, dashes)');
    region = values.region?.trim() || io.env.AWS_REGION?.trim() || io.env.AWS_DEFAULT_REGION?.trim();
    if (!region) return usage('--stage needs --region (or AWS_REGION)');
    if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) return usage(`--region must be an AWS region like eu-west-1, not ${JSON.stringify(region)}`);
  } else {
    const problem = helperEnvProblem(io.env);
    if (problem) return usage(problem);
  }

  const seen: string[] = [];
  try {
    let deps: Omit<DoctorDeps, 'timeoutMs'>;
    let label: string;
    if (stage !== undefined) {
      deps = await withTimeout((io.deployed ?? deployedDeps)(stage, region!, timeoutMs, io.now), timeoutMs).catch((error: unknown) => {
        throw error instanceof PdRouterError ? error : new DoctorError(`could not find stage ${stage} in ${region}: ${describeError(error)}`);
      });
      label = `stage ${stage} in ${region}`;
    } else ({ deps, label } = await localDeps(io, timeoutMs));
    // Remember every secret value read, so that no line can print one.
    const secrets = deps.secrets.map((source) => ({
      ...source,
      read: async () => {
        const stored = await source.read();
        for (const value of Object.values(stored)) if (typeof value === 'string') seen.push(value);
        return stored;
      },
    }));
    io.stdout(`pd-router doctor: ${label}`);
    const results = await runChecks({ ...deps, secrets, timeoutMs });
    for (const line of formatResults(results)) io.stdout(redact(line, seen));
    return results.some((r) => r.status === 'fail') ? 1 : 0;
  } catch (error) {
    if (error instanceof PdRouterError) io.stderr(redact(error.message, seen));
    else io.stderr(redact(`doctor failed: ${(error as Error).name}: ${((error as Error).message ?? '').split('\n')[0]}`, seen));
    return 1;
  }
}

if (require.main === module) {
  void runDoctor(process.argv.slice(2), {
    env: process.env,
    readSandboxState,
    getJson: async (url) => (await fetch(url, { signal: AbortSignal.timeout(3000) })).json(),
    now: Date.now,
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
  }).then((code) => {
    process.exitCode = code;
  });
}
