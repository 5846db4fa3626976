import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import type { SQSEvent } from 'aws-lambda';
import { createSlackWorkerHandler } from '../functions/slack-worker/wiring';
import type { Env } from '../lib/runtime/config';
import { EVENT_CONTRACT_VERSION } from '../lib/events';
import { normalizePagerDutyWebhook } from '../lib/pagerduty/normalize';
import { normalizeEventCallback } from '../lib/slack/normalize';
import { incidentWebhookBody, signedWebhook, webhookIncident } from '../local/events/pagerduty';
import { mentionEnvelope, signedSlackJson } from '../local/events/slack';
import { makeCustomers } from '../lib/store/customers';
import { makeDocumentClient } from '../lib/store/dynamo';
import { startBenchEnvironment, type BenchEnvironment } from './lib/environment';
import { apiGatewayEvent, benchContext } from './lib/requests';
import { startLocalSecretsManager } from '../local/secrets-manager';
import { startTlsFronts } from './lib/tls-front';
import { BUILD_DIR } from './bundles';
import { median, round } from './lib/stats';
import { profileColdInit, type ColdInitProfile } from './profile-cold-init';

const CHILD = path.join(__dirname, 'cold-init-child.cjs');

export type FunctionName = 'slack-ingress' | 'pagerduty-ingress' | 'slack-worker' | 'pagerduty-worker' | 'baseline' | 'floor' | 'worker-floor';

/** How the comparison points are named in the results (neither is deployed). */
export const COMPARISON_NAMES: Partial<Record<FunctionName, string>> = {
  baseline: 'baseline (comparison)',
  floor: 'floor: the SDK\'s SendMessage alone',
  'worker-floor': 'worker floor: the same libraries, one read, one trigger, one post',
};

export type Variant = 'env' | 'deployed' | 'compile cache';

export interface ColdInitResult {
  name: string;
  function: FunctionName;
  /**
   * "env": secrets in environment variables; "deployed": as serverless.yml runs it (secret fetched
   * from Secrets Manager); "compile cache": "env" with a warm Node compile cache, which the deploy
   * does not ship (docs/performance.md says why).
   */
  variant: Variant;
  runs: number;
  /** Median time from spawn to the request handled, and that minus the bare node's median time from spawn to running code. */
  toHandledMs: number;
  overBareMs: number;
  /** Medians measured inside the process: require() of the bundle, and the one request. */
  loadMs: number;
  firstRequestMs: number;
  /** Median time from spawn to the process gone (its teardown included; Lambda never exits a process after a request). */
  toExitMs: number;
  failures: number;
}

export interface ColdInitReport {
  runs: number;
  /** Where one ingress cold start's CPU goes, when profiled. */
  profile?: ColdInitProfile;
  /** The same for one slack-worker cold start (its first request: a whole escalation). */
  workerProfile?: ColdInitProfile;
  /** Median time from spawn until a bare `node -e` runs its first line. */
  bareNodeMs: number;
  /** Median time from spawn until a bare `node -e ""` has exited. */
  bareNodeExitMs: number;
  results: ColdInitResult[];
}

interface ChildReport {
  ok: boolean;
  status?: number;
  error?: string;
  startedAt?: number;
  loadedAt?: number;
  handledAt?: number;
  readyAt?: number;
}

/** Epoch milliseconds with sub-millisecond resolution, on the same clock the child reports. */
const epochNow = () => performance.timeOrigin + performance.now();

/** Spawn one process with a clean environment; resolve with its spawn time, exit time and what it reported on fd 3. */
function runOnce(args: string[], env: Env): Promise<{ spawnedAt: number; toExitMs: number; report?: ChildReport; stderr: string }> {
  return new Promise((resolve, reject) => {
    const spawnedAt = epochNow();
    const child = spawn(process.execPath, args, { env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
    let toExitMs = 0;
    let report = '';
    let stderr = '';
    child.stdio[3]!.on('data', (chunk: Buffer) => (report += chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4000)));
    child.on('exit', () => (toExitMs = epochNow() - spawnedAt));
    child.on('error', reject);
    child.on('close', () => resolve({ spawnedAt, toExitMs, ...(report ? { report: JSON.parse(report) as ChildReport } : {}), stderr }));
  });
}

const BARE = `require('node:fs').writeSync(3, JSON.stringify({ ok: true, readyAt: performance.timeOrigin + performance.now() }))`;

function sqsEvent(body: object, groupId: string): SQSEvent {
  const now = String(Date.now());
  return {
    Records: [
      {
        messageId: randomBytes(16).toString('hex'),
        receiptHandle: randomBytes(24).toString('hex'),
        body: JSON.stringify(body),
        attributes: { ApproximateReceiveCount: '1', SentTimestamp: now, SenderId: 'bench', ApproximateFirstReceiveTimestamp: now, MessageGroupId: groupId },
        messageAttributes: { contractVersion: { dataType: 'Number', stringValue: String(EVENT_CONTRACT_VERSION) } },
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:bench.fifo',
        awsRegion: 'us-east-1',
      },
    ],
  };
}

let sequence = 0;

/** A fresh escalation for a slack-worker run (every run has its own message, so none is "resumed"). */
function slackWorkerEvent(channel: string): { event: SQSEvent; envelope: ReturnType<typeof mentionEnvelope> } {
  const envelope = mentionEnvelope({ channel, text: `escalate cold start ${++sequence}` });
  const normalized = normalizeEventCallback(envelope as unknown as Record<string, unknown>, new Date())!;
  return { event: sqsEvent(normalized, channel), envelope };
}

/** Escalations made in-process beforehand, so each pagerduty-worker run gets the first webhook of a linked incident. */
async function prepareIncidents(environment: BenchEnvironment, count: number): Promise<SQSEvent[]> {
  const worker = createSlackWorkerHandler({ ...environment.env, LOG_LEVEL: 'silent' });
  for (let i = 0; i < count; i++) {
    const result = await worker.handler(slackWorkerEvent('CCOLDPD').event, benchContext('slack-worker'));
    if (result.batchItemFailures.length) throw new Error('cold-init setup: an escalation failed');
  }
  return [...environment.pagerDuty.incidents.values()].slice(-count).map((incident) => {
    const body = environment.pagerDuty.webhookBody(incident, 'incident.acknowledged', 'Bench On-Call');
    const normalized = normalizePagerDutyWebhook(body as Record<string, unknown>, randomBytes(8).toString('hex'), new Date());
    if (typeof normalized === 'string') throw new Error(`cold-init setup: webhook ignored (${normalized})`);
    return sqsEvent(normalized, incident.id);
  });
}

interface Target {
  name: string;
  function: FunctionName;
  variant: Variant;
  bundle: string;
  env: Env;
  next: () => unknown;
}

/**
 * Cold init: a fresh `node` loads one bundle and handles one request, `runs` times per target,
 * interleaved with bare `node -e ""` starts so both see the same machine load.
 */
export async function measureColdInit(options: {
  bundles: Partial<Record<FunctionName, string>>;
  runs: number;
  functions: FunctionName[];
  /** The functions also measured as deployed (the secret from Secrets Manager, serverless.yml's NODE_OPTIONS). */
  deployedFor: FunctionName[];
  deployedEnvironment: Record<string, string>;
  /** The functions also measured with a warm Node compile cache (primed by one untimed run). */
  compileCacheFor?: FunctionName[];
  /** Also run this many cold starts of slack-ingress under --cpu-prof and say where the time goes. */
  profileRuns?: number;
  log?: (line: string) => void;
}): Promise<ColdInitReport> {
  const environment = await startBenchEnvironment({ latencyMs: 0 });
  const secretId = 'pd-router/bench';
  const secretsManager = await startLocalSecretsManager();
  secretsManager.store(secretId, JSON.stringify(environment.secrets));
  const { env, secrets } = environment;
  const tls = await startTlsFronts([env.AWS_ENDPOINT_URL_SQS!, env.AWS_ENDPOINT_URL_DYNAMODB!, secretsManager.endpoint], BUILD_DIR);
  const [sqsOverTls, dynamoOverTls, secretsManagerOverTls] = tls.urls as [string, string, string];
  try {
    // AWS over TLS, as in Lambda (see bench/lib/tls-front.ts); Slack and PagerDuty stay plain HTTP.
    const local: Env = { ...env, AWS_ENDPOINT_URL_SQS: sqsOverTls, AWS_ENDPOINT_URL_DYNAMODB: dynamoOverTls, NODE_EXTRA_CA_CERTS: tls.caFile, PATH: process.env.PATH ?? '' };
    // Both variants run with serverless.yml's environment (the AWS SDK's settings among it); they
    // differ only in where the secrets come from. The baseline, the old design, runs without it.
    const base: Env = { ...local, ...options.deployedEnvironment };
    const withoutSecrets = Object.fromEntries(Object.entries(base).filter(([key]) => !(key in secrets)));
    const deployed: Env = {
      ...withoutSecrets,
      LOG_LEVEL: options.deployedEnvironment.LOG_LEVEL ?? 'info',
      SECRETS_MANAGER_SECRET_ID: secretId,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManagerOverTls,
    };
    const slackRequest = () => apiGatewayEvent('/slack/events', signedSlackJson(secrets.SLACK_SIGNING_SECRET, mentionEnvelope({ channel: 'CCOLD', text: 'escalate cold start' })));
    const webhookRequest = () =>
      apiGatewayEvent(
        '/pagerduty/webhooks',
        signedWebhook(secrets.PAGER_DUTY_SIGNING_KEY, incidentWebhookBody(webhookIncident({ status: 'acknowledged', title: 'cold start' }), 'incident.acknowledged', { by: null })),
      );
    // Only registered customers' channels escalate; a worker run in any other channel would
    // measure the refusal instead. The page budget at its most, so that no run is folded.
    const customers = makeCustomers(makeDocumentClient(env), environment.dynamo.tableName);
    for (const channel of ['CCOLD', 'CCOLDPD']) await customers.add({ channel, name: `Cold start ${channel}`, pagesPerHour: 1000 });
    const pdEvents = options.functions.includes('pagerduty-worker') ? await prepareIncidents(environment, options.runs * (options.deployedFor.includes('pagerduty-worker') ? 2 : 1)) : [];
    const nextFor: Record<FunctionName, () => unknown> = {
      'slack-ingress': slackRequest,
      'pagerduty-ingress': webhookRequest,
      'slack-worker': () => slackWorkerEvent('CCOLD').event,
      'pagerduty-worker': () => pdEvents.shift(),
      baseline: slackRequest,
      floor: slackRequest,
      'worker-floor': () => slackWorkerEvent('CCOLD').event,
    };
    const targets: Target[] = [];
    for (const fn of options.functions) {
      const bundle = options.bundles[fn];
      if (!bundle) continue;
      const next = nextFor[fn];
      const name = COMPARISON_NAMES[fn] ?? fn;
      targets.push({ name, function: fn, variant: 'env', bundle, env: fn === 'baseline' ? local : base, next });
      if (fn !== 'baseline' && options.deployedFor.includes(fn)) targets.push({ name: `${name} (as deployed)`, function: fn, variant: 'deployed', bundle, env: deployed, next });
      if (options.compileCacheFor?.includes(fn)) {
        const cacheDir = path.join(BUILD_DIR, 'compile-cache', fn);
        rmSync(cacheDir, { recursive: true, force: true });
        const cached: Target = { name: `${name} (compile cache)`, function: fn, variant: 'compile cache', bundle, env: { ...base, NODE_COMPILE_CACHE: cacheDir }, next };
        // The first run writes the cache (Node saves it at exit); only the runs after it are timed.
        await runOnce([CHILD], { ...cached.env, BENCH_BUNDLE: bundle, BENCH_EVENT: JSON.stringify(next()) });
        targets.push(cached);
      }
    }

    const bare = { ready: [] as number[], exit: [] as number[] };
    const samples = new Map<Target, { handled: number[]; exit: number[]; load: number[]; request: number[]; failures: number }>(
      targets.map((t) => [t, { handled: [], exit: [], load: [], request: [], failures: 0 }]),
    );
    for (let round = 0; round < options.runs; round++) {
      const bareRun = await runOnce(['-e', BARE], { PATH: base.PATH });
      bare.ready.push(bareRun.report!.readyAt! - bareRun.spawnedAt);
      bare.exit.push(bareRun.toExitMs);
      for (const target of targets) {
        const result = await runOnce([CHILD], { ...target.env, BENCH_BUNDLE: target.bundle, BENCH_EVENT: JSON.stringify(target.next()) });
        const sample = samples.get(target)!;
        const report = result.report;
        if (!report?.ok || report.handledAt === undefined || report.loadedAt === undefined || report.startedAt === undefined) {
          sample.failures++;
          options.log?.(`cold init ${target.name} failed: ${report?.error ?? `status ${report?.status}`} ${result.stderr.slice(-600)}`);
          continue;
        }
        sample.handled.push(report.handledAt - result.spawnedAt);
        sample.exit.push(result.toExitMs);
        sample.load.push(report.loadedAt - report.startedAt);
        sample.request.push(report.handledAt - report.loadedAt);
      }
    }
    const bareNodeMs = median(bare.ready);
    const profileOf = async (fn: FunctionName, event: () => unknown) => {
      const bundle = options.bundles[fn];
      return options.profileRuns && bundle && options.functions.includes(fn) ? profileColdInit({ bundle, env: base, event, runs: options.profileRuns }) : undefined;
    };
    const profile = await profileOf('slack-ingress', slackRequest);
    const workerProfile = await profileOf('slack-worker', nextFor['slack-worker']);
    return {
      runs: options.runs,
      ...(profile ? { profile } : {}),
      ...(workerProfile ? { workerProfile } : {}),
      bareNodeMs: round(bareNodeMs, 1),
      bareNodeExitMs: round(median(bare.exit), 1),
      results: targets.map((target) => {
        const sample = samples.get(target)!;
        const handled = median(sample.handled);
        return {
          name: target.name,
          function: target.function,
          variant: target.variant,
          runs: sample.handled.length,
          toHandledMs: round(handled, 1),
          overBareMs: round(handled - bareNodeMs, 1),
          loadMs: round(median(sample.load), 1),
          firstRequestMs: round(median(sample.request), 1),
          toExitMs: round(median(sample.exit), 1),
          failures: sample.failures,
        };
      }),
    };
  } finally {
    await tls.close();
    await secretsManager.stop();
    await environment.stop();
  }
}
