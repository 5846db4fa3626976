import { SANDBOX_ONCALL_EMAIL } from './stand-ins/pagerduty';
import { type Env } from '../lib/runtime/config';
import { checkSettings } from '../lib/runtime/setting-docs';
import { readSetting } from '../lib/runtime/settings';
import { ConfigError } from '../lib/errors';
import { DataDirError } from './data-dir';
import { SUBSCRIBED_EVENT_TYPES } from '../lib/pagerduty/subscription';
import { startStack } from './stack';
import { clearSandboxState, DEFAULT_PORT, writeSandboxState } from './sandbox-state';
import { SANDBOX_CHANNELS, SANDBOX_CHANNEL_NAMES } from './sandbox-console/channels';
import { sandboxConsole } from './sandbox-console/routes';

/** How long a stop waits for the queues to deliver, with kept data. */
const DRAIN_ON_STOP_MS = 10_000;

export interface StartSettings {
  port: number;
  dataDir?: string;
  logLevel: string;
  /** Print the functions' metric lines (CloudWatch EMF JSON): only when asked, with LOG_LEVEL=debug. */
  showMetrics: boolean;
  retryBaseSeconds: number;
  /** The reconciler's timer, as the deploy's schedule (default 300 s). */
  reconcileEverySeconds: number;
}

/**
 * The settings `npm start` reads from the environment, checked before anything starts: a bad
 * value is a ConfigError naming its variable.
 */
export function readStartSettings(env: Env): StartSettings {
  checkSettings(env);
  const dataDir = readSetting(env, 'PD_ROUTER_DATA_DIR');
  // In sandbox mode the transcript is the point; set LOG_LEVEL=info to see the JSON logs too.
  const logLevel = readSetting(env, 'LOG_LEVEL', 'warn');
  return {
    port: readSetting(env, 'PORT'),
    ...(dataDir ? { dataDir } : {}),
    logLevel,
    showMetrics: logLevel === 'debug',
    // Retries come back sooner than in AWS: a local run is watched as it happens.
    retryBaseSeconds: readSetting(env, 'RETRY_BASE_SECONDS', 2),
    reconcileEverySeconds: readSetting(env, 'RECONCILE_EVERY_SECONDS'),
  };
}

/** A CloudWatch metric line (Powertools' EMF: one JSON object per count, with its `_aws` envelope). */
export function isMetricLine(line: string): boolean {
  if (!line.startsWith('{') || !line.includes('"_aws"')) return false;
  try {
    const parsed = JSON.parse(line) as { _aws?: { CloudWatchMetrics?: unknown } };
    return Array.isArray(parsed._aws?.CloudWatchMetrics);
  } catch {
    return false;
  }
}

/**
 * Keep the functions' metric lines out of `stream` (the terminal `npm start` prints to): in AWS
 * they become CloudWatch metrics, here they are raw JSON that buries the transcript. Every other
 * line passes as written. Returns the function that puts `stream` back as it was.
 */
export function hideMetricLines(stream: Pick<NodeJS.WriteStream, 'write'>): () => void {
  const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
  stream.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) return write(chunk, ...rest);
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (!text.includes('"_aws"')) return write(chunk, ...rest);
    const kept = text
      .split('\n')
      .filter((line) => !isMetricLine(line))
      .join('\n');
    // A chunk that was only metric lines is dropped whole; the callback, if any, still runs.
    if (!kept.trim()) {
      const callback = rest.find((arg): arg is () => void => typeof arg === 'function');
      if (callback) process.nextTick(callback);
      return true;
    }
    return write(kept, ...rest.filter((arg) => typeof arg === 'function'));
  }) as typeof stream.write;
  return () => {
    stream.write = write as typeof stream.write;
  };
}

/** One line for a failure to start: the cause and what to do, never a stack trace. */
export function describeStartFailure(error: unknown, settings: StartSettings | undefined): string {
  if (error instanceof ConfigError || error instanceof DataDirError) return error.message;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE') return `port ${settings?.port} is in use (another pd-router or another program): stop it, or set PORT to a free port`;
  if (code === 'EACCES' && (error as NodeJS.ErrnoException).syscall === 'listen') return `port ${settings?.port} needs privileges this user lacks: set PORT to a port above 1023`;
  return error instanceof Error ? error.message : String(error);
}

/**
 * `npm start`: the whole router on this machine, in sandbox mode when nothing is configured.
 * Prints what it started and runs until SIGINT or SIGTERM. Returns an exit code when it could
 * not start (after printing why on one line).
 */
export async function runLocalRouter(env: Env, out: { stdout: (line: string) => void; stderr: (line: string) => void }): Promise<number | undefined> {
  let settings: StartSettings | undefined;
  let stack: Awaited<ReturnType<typeof startStack>>;
  try {
    settings = readStartSettings(env);
    // Before the functions start: their metric lines go to this process's stdout.
    if (!settings.showMetrics) hideMetricLines(process.stdout);
    stack = await startStack({
      port: settings.port,
      env,
      ...(settings.dataDir ? { dataDir: settings.dataDir } : {}),
      retryBaseSeconds: settings.retryBaseSeconds,
      reconcileEverySeconds: settings.reconcileEverySeconds,
      visibilityTimeoutSeconds: 30,
      logLevel: settings.logLevel,
      standIns: { print: (line) => out.stdout(`  ${line}`), channelNames: SANDBOX_CHANNEL_NAMES },
      sandboxNotesFrom: SANDBOX_ONCALL_EMAIL,
      // Served only in sandbox mode: the console answers nothing when real Slack is configured.
      routes: sandboxConsole({ channels: SANDBOX_CHANNELS }),
    });
  } catch (error) {
    out.stderr(`pd-router did not start: ${describeStartFailure(error, settings)}`);
    return 1;
  }
  // Before the banner: whoever reads it may stop the stack at once.
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    out.stdout(settings?.dataDir ? `Stopping pd-router… delivering what the queues hold first (they are not kept in ${settings.dataDir})` : 'Stopping pd-router…');
    if (stack.sandbox) clearSandboxState(stack.url);
    if (settings?.dataDir) {
      const left = await stack.drain(DRAIN_ON_STOP_MS);
      if (left) out.stderr(`pd-router: ${left} queued message(s) were not delivered within ${DRAIN_ON_STOP_MS / 1000} s and are lost`);
    }
    const failure = await stack.stop().then(
      () => undefined,
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );
    if (failure) out.stderr(`pd-router did not stop cleanly: ${failure}`);
    process.exit(failure ? 1 : 0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  const lines = [
    `pd-router is listening on ${stack.url}`,
    `  POST ${stack.url}/slack/events`,
    `  POST ${stack.url}/pagerduty/webhooks`,
    `  GET  ${stack.url}/health`,
    `  DynamoDB (dynalite): ${stack.dynamo.endpoint}, table ${stack.dynamo.tableName}, ${settings.dataDir ? `kept in ${settings.dataDir}` : 'in memory (set PD_ROUTER_DATA_DIR to keep it)'}`,
    `  SQS (fauxqs): ${stack.sqs.endpoint}, queues ${Object.values(stack.sqs.queues).map((q) => q.url.split('/').pop()).join(', ')}`,
  ];
  if (stack.sandbox) {
    // As if `npm run pd:subscribe` had been run against the stand-in: the doctor finds it.
    stack.pagerDuty!.subscribe(`${stack.url}/pagerduty/webhooks`, SUBSCRIBED_EVENT_TYPES);
    writeSandboxState({
      url: stack.url,
      slackApiUrl: stack.slack!.apiUrl,
      pagerDutyUrl: stack.pagerDuty!.url,
      slackSigningSecret: stack.secrets.SLACK_SIGNING_SECRET,
      pagerDutySigningKey: stack.secrets.PAGER_DUTY_SIGNING_KEY,
      slackBotToken: stack.secrets.SLACK_BOT_TOKEN,
      pagerDutyEventsApiKey: stack.secrets.PAGER_DUTY_EVENTS_API_KEY,
      pagerDutyRestApiKey: stack.secrets.PAGER_DUTY_REST_API_KEY,
      adminToken: stack.adminToken,
    });
    const port = new URL(stack.url).port;
    // Helpers find this stack by PORT when it is not on the default port.
    const prefix = Number(port) === DEFAULT_PORT ? '' : `PORT=${port} `;
    lines.push(
      '  Sandbox mode: no Slack or PagerDuty configuration, so local stand-ins play both.',
      settings.dataDir
        ? `  Sandbox data (incidents, numbering, transcripts, customers) kept in ${settings.dataDir}; queues are delivered before it stops. Clear it: npm run sandbox -- reset`
        : '  Sandbox data is in memory: set PD_ROUTER_DATA_DIR to keep incidents, transcripts and customers across restarts.',
      `  Slack stand-in: ${stack.slack!.apiUrl}   PagerDuty stand-in: ${stack.pagerDuty!.url}`,
      `  Sandbox console: ${stack.url}/sandbox`,
      `  Try: ${prefix}npm run escalate -- CACME "API is returning 500 errors"   then   ${prefix}npm run sandbox -- ack 1`,
    );
  } else {
    lines.push(`  Slack: ${stack.env.SLACK_API_URL ?? 'https://slack.com/api/'}   PagerDuty: ${stack.env.PAGER_DUTY_EVENTS_URL ?? 'https://events.pagerduty.com'}`);
    if (!process.env.PD_ROUTER_ADMIN_TOKEN?.trim()) lines.push('  npm run customers: start with PD_ROUTER_ADMIN_TOKEN set, and give the command the same value, to manage this stack\'s customers');
  }
  if (!settings.showMetrics) lines.push('  Metric lines (CloudWatch EMF JSON) are not printed here: LOG_LEVEL=debug shows them.');
  out.stdout(lines.join('\n'));

  return undefined;
}
