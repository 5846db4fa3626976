import './pdjs-fetch-alias';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { clearCache } from '@middy/util';
import { createPagerDutyIngressHandler } from '../functions/pagerduty-ingress/wiring';
import { createPagerDutyWorkerHandler } from '../functions/pagerduty-worker/wiring';
import { createSlackIngressHandler } from '../functions/slack-ingress/wiring';
import { createSlackWorkerHandler } from '../functions/slack-worker/wiring';
import { createReconcilerHandler } from '../functions/reconciler/wiring';
import type { RunSummary } from '../functions/reconciler/reconciler';
import { ENV, type Env } from '../lib/runtime/config';
import { readSetting } from '../lib/runtime/settings';
import { makeSqsClient } from '../lib/runtime/lambda';
import { LAYOUT, type QueueName } from '../lib/layout/layout';
import { SECRET_NAMES, type Secrets } from '../lib/runtime/secrets';
import { LOCAL_AWS_ENV, startLocalDynamo, startLocalSqs, type LocalDynamo, type LocalSqs } from './aws';
import { lockDataDir } from './data-dir';
import { keepStandIns, readKeptStandIns } from './sandbox-keep';
import { EventSource } from './event-source';
import { lambdaContext } from './lambda-context';
import { startWorkerProcess, type WorkerProcess } from './worker-process';
import { PagerDutyStandIn, type PagerDutyStandInOptions } from './stand-ins/pagerduty';
import { listen, readBody, sendJson, sleep, type RunningServer } from './stand-ins/http-util';
import type { RateLimitSetting } from './stand-ins/rate-limits';
import { SlackStandIn } from './stand-ins/slack';
import { makeDocumentClient } from '../lib/store/dynamo';
import { CustomerExistsError, makeCustomerAdmin, makeCustomers, type Customers, type NewCustomer } from '../lib/store/customers';
import { makePageBudget, type PageBudget } from '../lib/store/page-budget';
import { adminRoutes } from './admin-routes';
import { makeSlackApi } from '../lib/slack/web-api';
import { SANDBOX_CUSTOMERS } from './sandbox-console/channels';
import { deployedSecretIds, FUNCTIONS, functionRoles, layoutPartitionKeyOf, loadDeployTemplate, type FunctionName, type Template } from './iam/deploy-roles';
import { startEnforcingProxy, type Denial, type EnforcingProxy } from './iam/enforcing-proxy';

/** The variables whose presence means "talk to real Slack and PagerDuty". */
const EXTERNAL_CONFIG = [...SECRET_NAMES, 'SECRETS_MANAGER_SECRET_ID', 'SLACK_API_URL', 'PAGER_DUTY_EVENTS_URL', 'PAGER_DUTY_API_URL'];

export interface StackOptions {
  /** HTTP port for the router; 0 picks a free one. */
  port?: number;
  /** The environment to read configuration from (defaults to process.env). */
  env?: Env;
  stage?: string;
  /** Keep DynamoDB on disk here, so a restarted stack finds its data. */
  dataDir?: string;
  /**
   * A sandbox with dataDir: how long stop() waits for the queues to deliver what they hold
   * (fauxqs keeps them in memory only), default 10 s.
   */
  drainOnStopMs?: number;
  /** Local queues retry quickly; production's visibility timeout is minutes. */
  visibilityTimeoutSeconds?: number;
  retryBaseSeconds?: number;
  logLevel?: string;
  /** Stand-in behaviour in sandbox mode. */
  standIns?: { latencyMs?: number; duplicateWebhooks?: boolean; omitIncidentKey?: boolean; grouping?: boolean; firstIncidentNumber?: number; print?: (line: string) => void; channelNames?: Record<string, string>; rateLimits?: RateLimitSetting };
  /** Crash injection: called after each step of each worker. */
  checkpoint?: { slack?: (step: string) => void; pagerDuty?: (step: string) => void; reconciler?: (step: string) => void };
  /**
   * Run the reconciler on a timer, every this many seconds (`npm start` passes
   * RECONCILE_EVERY_SECONDS, default 300). Without it (nor RECONCILE_EVERY_SECONDS in `env`) it runs
   * only through `reconcile()`: tests that send webhooks by hand, at times of their choosing, get no
   * reconciler reading the stand-in's live state behind their backs.
   */
  reconcileEverySeconds?: number;
  /** How long an accepted escalation may go without an incident before its channel is told (default: NO_INCIDENT_AFTER_SECONDS, else 300 s). */
  noIncidentAfterSeconds?: number;
  /** Extra routes (the sandbox console); return true when handled. */
  routes?: (request: IncomingMessage, response: ServerResponse, stack: LocalStack) => Promise<boolean>;
  /**
   * Sandbox mode only: customers' thread replies become notes from this PagerDuty user unless
   * PAGER_DUTY_FROM_EMAIL says otherwise (`npm start` and the demo turn it on; tests choose).
   */
  sandboxNotesFrom?: string;
  /** Worker pollers per queue. */
  concurrency?: number;
  /**
   * Run each worker in a process of its own (local/worker-process.ts), as Lambda gives each
   * invocation its own CPU: the storm benchmark. Not with `checkpoint`, which runs in this process.
   */
  workerProcesses?: boolean;
  /** Customers registered at start when absent (default: the sandbox's three in sandbox mode, none otherwise). */
  customers?: NewCustomer[];
  /** The token `/admin/…` requires (default: PD_ROUTER_ADMIN_TOKEN, else a random one). */
  adminToken?: string;
  /**
   * Each function's AWS calls are allowed only as its role in the deploy's template allows them
   * (local/iam). `template` replaces the generated template (a mutated copy, in the tests that show
   * the check biting); `allowDenials` keeps stop() from failing after a denied call (`npm start`,
   * which logs each one as it happens).
   */
  iam?: { template?: Template; allowDenials?: boolean };
  /**
   * Where Secrets Manager listens (local/secrets-manager.ts): the functions then read their keys
   * from it as deployed ones do, each from the secret its SECRETS_MANAGER_SECRET_ID in the deploy's
   * template names (one secret, or the split halves), through its role's check, when first called.
   * So the stack starts before the secret holds anything, and `env` needs none of the five keys.
   */
  secretsManagerEndpoint?: string;
}

export interface LocalStack {
  url: string;
  sandbox: boolean;
  env: Env;
  secrets: Secrets;
  slack?: SlackStandIn;
  pagerDuty?: PagerDutyStandIn;
  sqs: LocalSqs;
  dynamo: LocalDynamo;
  /** The customer registry in the stack's table. */
  customers: Customers;
  /** The customers' page budgets in the stack's table. */
  pageBudget: PageBudget;
  /** What `npm run customers` sends to reach `/admin/customers` (written to the sandbox hand-off, never printed). */
  adminToken: string;
  /** Run the reconciler once now, with the deployed function's time (the timer runs it every RECONCILE_EVERY_SECONDS too); resolves with the run's summary when it ends (none if it failed). */
  reconcile(): Promise<RunSummary | undefined>;
  /** Wait until no message is queued or in flight and every webhook has been answered. */
  waitForIdle(timeoutMs?: number): Promise<void>;
  /**
   * Let the workers deliver what the queues hold, up to `timeoutMs`; returns how many messages
   * are still queued (0 when all were delivered).
   */
  drain(timeoutMs: number): Promise<number>;
  /** What a function is started with here: the stack's settings, and AWS reached through its deploy role's check. */
  functionEnv(fn: FunctionName): Env;
  /** Every AWS call the deploy's IAM roles refused so far (each was answered AccessDeniedException and logged). */
  iamDenials(): Denial[];
  /**
   * Add a webhook subscription's signing secret to the ones the PagerDuty ingress accepts (the
   * comma-separated PAGER_DUTY_SIGNING_KEY), as storing it with `npm run secrets:put` does in AWS.
   */
  acceptPagerDutySigningKey(secret: string): void;
  /** The messages parked in a DLQ, with the reason when the worker gave one (taken out of it: read them once). */
  dlq(queue: QueueName): Promise<{ body: string; reason?: string }[]>;
  /** With `workerProcesses`: the CPU time (ms) the worker processes used so far, and the sum of their peak RSS (MB); zeros otherwise. */
  workerUsage(): Promise<{ cpuMs: number; peakRssMb: number }>;
  stop(): Promise<void>;
}

/** What the functions need to find the local queues and table: what serverless.yml sets in AWS. */
export function localAwsEnv(sqs: LocalSqs, dynamo: LocalDynamo): Env {
  return {
    AWS_ENDPOINT_URL_SQS: sqs.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    [ENV.tableName]: dynamo.tableName,
    [ENV.slackQueueUrl]: sqs.queues.slack.url,
    [ENV.slackDlqUrl]: sqs.queues.slack.dlqUrl,
    [ENV.pagerDutyQueueUrl]: sqs.queues.pagerduty.url,
    [ENV.pagerDutyDlqUrl]: sqs.queues.pagerduty.dlqUrl,
  };
}

function isSandbox(env: Env): boolean {
  return EXTERNAL_CONFIG.every((name) => !env[name]?.trim());
}

/** The request as API Gateway's HTTP API (payload v2) would hand it to the Lambda. */
export function toApiGatewayEvent(request: IncomingMessage, body: Buffer): APIGatewayProxyEventV2 {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[key.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  return {
    version: '2.0',
    routeKey: `${request.method} ${url.pathname}`,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: { method: request.method ?? 'GET', path: url.pathname, protocol: 'HTTP/1.1', sourceIp: request.socket.remoteAddress ?? '127.0.0.1', userAgent: headers['user-agent'] ?? '' },
      requestId: randomBytes(8).toString('hex'),
      routeKey: `${request.method} ${url.pathname}`,
      stage: '$default',
      time: new Date().toISOString(),
      timeEpoch: Date.now(),
    },
    // API Gateway base64-encodes bodies it does not consider text; do the same always, so
    // the decoding path the Lambda needs is the one every local request takes.
    body: body.toString('base64'),
    isBase64Encoded: true,
  };
}

/**
 * The whole router on this machine: dynalite and fauxqs in-process, the four handlers as Lambda
 * runs them, workers fed like an event source mapping, and (with no Slack or PagerDuty
 * configuration) local stand-ins for both.
 */
export async function startStack(options: StackOptions = {}): Promise<LocalStack> {
  // One stack per data folder: dynalite would otherwise fail later, mid-run, with "Database is closed".
  const lock = options.dataDir ? lockDataDir(options.dataDir) : undefined;
  try {
    const stack = await startUnlockedStack(options);
    const stop = stack.stop;
    stack.stop = async () => {
      await stop();
      lock?.release();
    };
    return stack;
  } catch (error) {
    lock?.release();
    throw error;
  }
}

async function startUnlockedStack(options: StackOptions): Promise<LocalStack> {
  if (options.workerProcesses && options.checkpoint) throw new Error('checkpoint needs the workers in this process: not with workerProcesses');
  const baseEnv = options.env ?? process.env;
  const stage = options.stage ?? 'local';
  const sandbox = isSandbox(baseEnv);
  for (const [key, value] of Object.entries(LOCAL_AWS_ENV)) process.env[key] ??= value;
  // Read first: a kept file that cannot be read stops the start before anything runs.
  const keptStandIns = options.dataDir && sandbox ? readKeptStandIns(options.dataDir) : undefined;

  const dynamo = await startLocalDynamo({ stage, ...(options.dataDir ? { path: options.dataDir } : {}) });
  const sqs = await startLocalSqs({ stage, visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? 30 });

  let secrets: Secrets;
  let slack: SlackStandIn | undefined;
  let pagerDuty: PagerDutyStandIn | undefined;
  let keeper: { close(): void } | undefined;
  const sandboxEnv: Env = {};
  if (sandbox) {
    const secret = () => randomBytes(18).toString('hex');
    secrets = {
      SLACK_SIGNING_SECRET: secret(),
      SLACK_BOT_TOKEN: `xoxb-sandbox-${secret()}`,
      PAGER_DUTY_SIGNING_KEY: secret(),
      PAGER_DUTY_EVENTS_API_KEY: secret(),
      PAGER_DUTY_REST_API_KEY: secret(),
    };
    const standIns = options.standIns ?? {};
    // Off unless asked for, by option or PD_ROUTER_RATE_LIMITS=on: waiting on them slows every run.
    const rateLimits = standIns.rateLimits ?? (readSetting(baseEnv, 'PD_ROUTER_RATE_LIMITS') === 'on' || undefined);
    slack = await new SlackStandIn({
      botToken: secrets.SLACK_BOT_TOKEN,
      ...(standIns.latencyMs !== undefined ? { latencyMs: standIns.latencyMs } : {}),
      ...(standIns.print ? { print: standIns.print } : {}),
      ...(standIns.channelNames ? { channelNames: standIns.channelNames } : {}),
      rateLimits,
    }).start();
    const pdOptions: PagerDutyStandInOptions = {
      routingKey: secrets.PAGER_DUTY_EVENTS_API_KEY,
      restToken: secrets.PAGER_DUTY_REST_API_KEY,
      ...(standIns.latencyMs !== undefined ? { latencyMs: standIns.latencyMs } : {}),
      ...(standIns.duplicateWebhooks ? { duplicateWebhooks: true } : {}),
      ...(standIns.omitIncidentKey ? { omitIncidentKey: true } : {}),
      // Content-based alert grouping on the sandbox service, as a provider may have it.
      ...(standIns.grouping || readSetting(baseEnv, 'PD_SANDBOX_GROUPING') === 'on' ? { grouping: true } : {}),
      ...(standIns.firstIncidentNumber !== undefined ? { firstNumber: standIns.firstIncidentNumber } : {}),
      ...(standIns.print ? { print: standIns.print } : {}),
      rateLimits,
    };
    pagerDuty = await new PagerDutyStandIn(pdOptions).start();
    // The sandbox's incidents and transcripts live beside the kept table, so a restart shows them again.
    if (options.dataDir) keeper = keepStandIns(options.dataDir, { slack, pagerDuty }, keptStandIns);
    Object.assign(sandboxEnv, secrets, { SLACK_API_URL: slack.apiUrl, PAGER_DUTY_EVENTS_URL: pagerDuty.url, PAGER_DUTY_API_URL: pagerDuty.url });
    if (options.sandboxNotesFrom && !baseEnv.PAGER_DUTY_FROM_EMAIL?.trim()) sandboxEnv.PAGER_DUTY_FROM_EMAIL = options.sandboxNotesFrom;
    // A stand-in without limits needs no pacing: confirmations are re-rendered at once.
    if (!rateLimits && !baseEnv.SLACK_UPDATES_PER_MINUTE?.trim()) sandboxEnv.SLACK_UPDATES_PER_MINUTE = '6000';
    if (!rateLimits && !baseEnv.SLACK_FANOUT_POSTS_PER_MINUTE?.trim()) sandboxEnv.SLACK_FANOUT_POSTS_PER_MINUTE = '0';
    if (!rateLimits && !baseEnv.PAGER_DUTY_TRIGGERS_PER_WINDOW?.trim()) sandboxEnv.PAGER_DUTY_TRIGGERS_PER_WINDOW = '0';
    // Nor a note about who follows held back long for more merges: it bounds notes against PagerDuty's REST limit.
    if (!rateLimits && !baseEnv.FOLLOWERS_NOTE_SETTLE_SECONDS?.trim()) sandboxEnv.FOLLOWERS_NOTE_SETTLE_SECONDS = '1';
  } else {
    const missing = SECRET_NAMES.filter((name) => !baseEnv[name]?.trim());
    if (missing.length && !baseEnv.SECRETS_MANAGER_SECRET_ID && !options.secretsManagerEndpoint) {
      throw new Error(`Slack/PagerDuty configuration is partial: set ${missing.join(', ')} (or unset all of it for sandbox mode)`);
    }
    secrets = Object.fromEntries(SECRET_NAMES.map((name) => [name, baseEnv[name] ?? ''])) as unknown as Secrets;
  }

  const env: Env = {
    ...baseEnv,
    ...sandboxEnv,
    ...localAwsEnv(sqs, dynamo),
    ...(options.retryBaseSeconds !== undefined ? { RETRY_BASE_SECONDS: String(options.retryBaseSeconds) } : {}),
    ...(options.logLevel ? { LOG_LEVEL: options.logLevel } : {}),
    ...(options.reconcileEverySeconds !== undefined ? { RECONCILE_EVERY_SECONDS: String(options.reconcileEverySeconds) } : {}),
    ...(options.noIncidentAfterSeconds !== undefined ? { NO_INCIDENT_AFTER_SECONDS: String(options.noIncidentAfterSeconds) } : {}),
  };

  const db = makeDocumentClient(env);
  const customers = makeCustomers(db, dynamo.tableName);
  const pageBudget = makePageBudget(db, dynamo.tableName, { ttlDays: 90 });
  const adminToken = options.adminToken ?? (baseEnv.PD_ROUTER_ADMIN_TOKEN?.trim() || randomBytes(24).toString('base64url'));
  // Registration learns each channel's name from Slack, as `npm run customers -- add` does deployed.
  const registrationSlack = secrets.SLACK_BOT_TOKEN && env.SLACK_API_URL ? makeSlackApi({ token: secrets.SLACK_BOT_TOKEN, apiUrl: env.SLACK_API_URL, timeoutMs: 5000 }) : undefined;
  const admin = makeCustomerAdmin(customers, registrationSlack ? { channelName: (channel) => registrationSlack.channelName(channel) } : {});
  // The sandbox's customers are registered as a provider would; a test's or benchmark's own are
  // stored as they are given (hundreds of them would wait on Slack's conversations.info limit).
  const register = options.customers ? (customer: NewCustomer) => customers.add(customer) : (customer: NewCustomer) => admin.add(customer);
  for (const customer of options.customers ?? (sandbox ? SANDBOX_CUSTOMERS : [])) {
    // A stack restarted on its kept data keeps the provider's changes to these customers.
    await register(customer).catch((error: unknown) => {
      if (!(error instanceof CustomerExistsError)) throw error;
    });
  }

  // The sandbox PagerDuty has a service for every customer key, as a real account would: a customer
  // registered with its own key pages there, and `npm run pd:subscribe` and the doctor find its service.
  if (pagerDuty) {
    for (const customer of await customers.all()) if (customer.routingKey) pagerDuty.addService(customer.routingKey, customer.name);
    const add = admin.add.bind(admin);
    const update = admin.update.bind(admin);
    admin.add = async (input) => {
      const added = await add(input);
      if (typeof input.routingKey === 'string') pagerDuty!.addService(input.routingKey, added.name);
      return added;
    };
    admin.update = async (channel, changes) => {
      const updated = await update(channel, changes);
      if (typeof changes.routingKey === 'string') pagerDuty!.addService(changes.routingKey, updated.name);
      return updated;
    };
  }

  // Each function reaches DynamoDB and SQS only through an endpoint that enforces its deploy role.
  const denials: Denial[] = [];
  const template = options.iam?.template ?? (await loadDeployTemplate());
  const roles = functionRoles(template, stage);
  const secretIds = options.secretsManagerEndpoint ? deployedSecretIds(template) : undefined;
  const proxies = {} as Record<FunctionName, EnforcingProxy>;
  for (const fn of FUNCTIONS) {
    proxies[fn] = await startEnforcingProxy({
      function: fn,
      ...roles[fn],
      upstream: { dynamodb: dynamo.endpoint, sqs: sqs.endpoint, ...(options.secretsManagerEndpoint ? { secretsmanager: options.secretsManagerEndpoint } : {}) },
      partitionKeyOf: layoutPartitionKeyOf(stage),
      onDenied: (denial) => {
        denials.push(denial);
        if (env.LOG_LEVEL !== 'silent') process.stderr.write(`${JSON.stringify({ level: 'error', message: "AWS would refuse this call: the deploy's IAM role does not allow it", ...denial })}\n`);
      },
    });
  }
  const envOf = (fn: FunctionName): Env => ({
    ...env,
    AWS_ENDPOINT_URL_SQS: proxies[fn].url,
    AWS_ENDPOINT_URL_DYNAMODB: proxies[fn].url,
    ...(secretIds ? { SECRETS_MANAGER_SECRET_ID: secretIds[fn], AWS_ENDPOINT_URL_SECRETS_MANAGER: proxies[fn].url } : {}),
  });

  // Reading its secret from Secrets Manager, a function starts as in Lambda: at its first call (its
  // secret fetched then, and awaited by that call), so the stack runs before the secret exists.
  const atFirstCall = <T>(make: () => T): (() => T) => {
    if (!options.secretsManagerEndpoint) {
      const made = make();
      return () => made;
    }
    let made: T | undefined;
    return () => (made ??= make());
  };
  const slackIngress = atFirstCall(() => createSlackIngressHandler(envOf('slack-ingress')));
  // Kept: acceptPagerDutySigningKey() adds to its PAGER_DUTY_SIGNING_KEY, as storing a new secret does.
  const pagerDutyIngressEnv = envOf('pagerduty-ingress');
  const pagerDutyIngress = atFirstCall(() => createPagerDutyIngressHandler(pagerDutyIngressEnv));
  const slackWorker = atFirstCall(() => createSlackWorkerHandler(envOf('slack-worker'), options.checkpoint?.slack ? { checkpoint: options.checkpoint.slack } : {}));
  const pagerDutyWorker = atFirstCall(() => createPagerDutyWorkerHandler(envOf('pagerduty-worker'), options.checkpoint?.pagerDuty ? { checkpoint: options.checkpoint.pagerDuty } : {}));

  const reconciler = atFirstCall(() => createReconcilerHandler(envOf('reconciler'), options.checkpoint?.reconciler ? { checkpoint: options.checkpoint.reconciler } : {}));
  // EventBridge's schedule, locally: one run at a time, the next one interval after the last ended.
  let reconcileRun: Promise<RunSummary | undefined> | undefined;
  let reconcileTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  const reconcile = (): Promise<RunSummary | undefined> => {
    reconcileRun ??= (async () => {
      try {
        return await reconciler().handler({} as never, lambdaContext('reconciler', LAYOUT.reconciler.timeoutSeconds * 1000));
      } catch (error) {
        process.stderr.write(`${JSON.stringify({ level: 'error', message: 'reconciler invocation failed', error: String(error) })}\n`);
        return undefined;
      } finally {
        reconcileRun = undefined;
      }
    })();
    return reconcileRun;
  };
  const timed = options.reconcileEverySeconds !== undefined || Boolean(baseEnv.RECONCILE_EVERY_SECONDS?.trim());
  const scheduleReconcile = () => {
    if (stopped || !timed) return;
    reconcileTimer = setTimeout(() => void reconcile().then(scheduleReconcile), reconciler().config.reconcileEverySeconds * 1000);
    reconcileTimer.unref();
  };
  scheduleReconcile();

  const invokeHttp = async (handler: ReturnType<typeof slackIngress>, name: string, request: IncomingMessage, response: ServerResponse) => {
    const body = await readBody(request, 10 * 1024 * 1024);
    const result = await handler(toApiGatewayEvent(request, body), lambdaContext(name));
    response.writeHead(result.statusCode, (result.headers ?? {}) as Record<string, string>);
    response.end(result.body ?? '');
  };

  // Assigned once below; declared first because the routes hook, created before it, hands it on.
  // eslint-disable-next-line prefer-const
  let stack: LocalStack;
  const server: RunningServer = await listen(async (request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (request.method === 'POST' && path === '/slack/events') return invokeHttp(slackIngress(), 'slack-ingress', request, response);
    if (request.method === 'POST' && path === '/pagerduty/webhooks') return invokeHttp(pagerDutyIngress(), 'pagerduty-ingress', request, response);
    if (request.method === 'GET' && path === '/health') return sendJson(response, 200, { ok: true, sandbox, stage, sqsEndpoint: sqs.endpoint, dynamoEndpoint: dynamo.endpoint, tableName: dynamo.tableName });
    if (await adminRoutes(request, response, { token: adminToken, customers: admin })) return;
    if (options.routes && (await options.routes(request, response, stack))) return;
    sendJson(response, 404, { error: `no route for ${request.method} ${path}` });
  }, options.port ?? 0);
  if (pagerDuty) pagerDuty.webhook = { url: `${server.url}/pagerduty/webhooks`, signingKey: secrets.PAGER_DUTY_SIGNING_KEY };

  // The event source mapping polls with the worker's execution role, so through the worker's endpoint.
  const pollers: SQSClient[] = [];
  const reportFailure = (message: string, error: unknown) => process.stderr.write(`${JSON.stringify({ level: 'error', message, error: String(error) })}\n`);
  const sources: { readonly busy: boolean; stop(): Promise<void> }[] = [];
  const workerProcesses: WorkerProcess[] = [];
  for (const queue of ['slack', 'pagerduty'] as const) {
    const fn = LAYOUT.queues[queue].worker as FunctionName;
    if (options.workerProcesses) {
      const started = await startWorkerProcess({ queue, env: envOf(fn), queueUrl: sqs.queues[queue].url, ...(options.concurrency ? { concurrency: options.concurrency } : {}) }, reportFailure);
      workerProcesses.push(started);
      sources.push(started);
      continue;
    }
    const worker = queue === 'slack' ? slackWorker : pagerDutyWorker;
    const poller = makeSqsClient(envOf(fn));
    pollers.push(poller);
    const source = new EventSource({
      sqs: poller,
      queueUrl: sqs.queues[queue].url,
      batchSize: LAYOUT.queues[queue].batchSize,
      invoke: (event) => worker().handler(event, lambdaContext(LAYOUT.queues[queue].worker)),
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
      onError: (error) => reportFailure(`${queue} worker invocation failed`, error),
    });
    source.start();
    sources.push(source);
  }

  const queueDepth = async (url: string) => {
    const attributes = (
      await sqs.client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'] }))
    ).Attributes ?? {};
    return Number(attributes.ApproximateNumberOfMessages ?? 0) + Number(attributes.ApproximateNumberOfMessagesNotVisible ?? 0) + Number(attributes.ApproximateNumberOfMessagesDelayed ?? 0);
  };

  stack = {
    url: server.url,
    sandbox,
    env,
    secrets,
    ...(slack ? { slack } : {}),
    ...(pagerDuty ? { pagerDuty } : {}),
    sqs,
    dynamo,
    customers,
    pageBudget,
    adminToken,
    reconcile,
    functionEnv: envOf,
    iamDenials: () => [...denials],
    acceptPagerDutySigningKey(secret) {
      const keys = (pagerDutyIngressEnv.PAGER_DUTY_SIGNING_KEY ?? '').split(',').map((k) => k.trim()).filter(Boolean);
      if (!keys.includes(secret)) pagerDutyIngressEnv.PAGER_DUTY_SIGNING_KEY = [...keys, secret].join(',');
    },
    async waitForIdle(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let quietChecks = 0;
      while (quietChecks < 3) {
        if (Date.now() > deadline) throw new Error('the local stack did not become idle in time');
        await pagerDuty?.deliveriesSettled();
        const depth = (await queueDepth(sqs.queues.slack.url)) + (await queueDepth(sqs.queues.pagerduty.url));
        const busy = sources.some((s) => s.busy) || reconcileRun !== undefined;
        quietChecks = depth === 0 && !busy ? quietChecks + 1 : 0;
        await sleep(40);
      }
    },
    async drain(timeoutMs) {
      const left = async () => (await queueDepth(sqs.queues.slack.url)) + (await queueDepth(sqs.queues.pagerduty.url));
      return stack.waitForIdle(timeoutMs).then(() => 0, left);
    },
    async dlq(queue) {
      const out: { body: string; reason?: string }[] = [];
      for (;;) {
        const result = await sqs.client.send(
          new ReceiveMessageCommand({ QueueUrl: sqs.queues[queue].dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 60, MessageAttributeNames: ['All'] }),
        );
        const messages = result.Messages ?? [];
        if (messages.length === 0) return out;
        for (const m of messages) out.push({ body: m.Body ?? '', ...(m.MessageAttributes?.reason?.StringValue ? { reason: m.MessageAttributes.reason.StringValue } : {}) });
        // A FIFO group hides its later messages while earlier ones are held: take these out to see the rest.
        await sqs.client.send(new DeleteMessageBatchCommand({ QueueUrl: sqs.queues[queue].dlqUrl, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
      }
    },
    async workerUsage() {
      const usages = await Promise.all(workerProcesses.map((worker) => worker.usage()));
      return { cpuMs: usages.reduce((sum, u) => sum + u.cpuMs, 0), peakRssMb: usages.reduce((sum, u) => sum + u.peakRssMb, 0) };
    },
    async stop() {
      // fauxqs keeps its queues in memory: with kept data, deliver what they hold rather than lose it.
      if (options.dataDir && sandbox) await stack.drain(options.drainOnStopMs ?? 10_000);
      stopped = true;
      clearTimeout(reconcileTimer);
      await reconcileRun;
      await Promise.all(sources.map((s) => s.stop()));
      await pagerDuty?.stop();
      await slack?.stop();
      keeper?.close();
      await server.close();
      for (const poller of pollers) poller.destroy();
      await Promise.all(Object.values(proxies).map((proxy) => proxy.close()));
      await sqs.stop();
      // The functions' secrets are cached process-wide, each with a refresh timer that would outlive the stack.
      if (options.secretsManagerEndpoint) clearCache();
      db.destroy();
      await dynamo.stop();
      if (denials.length && !options.iam?.allowDenials) {
        const calls = [...new Set(denials.map((d) => `${d.function}: ${d.action} on ${d.resource}`))];
        throw new Error(`the deploy's IAM roles refused ${denials.length} AWS call(s) during this run, which AWS would refuse too:\n  ${calls.join('\n  ')}`);
      }
    },
  };
  return stack;
}
