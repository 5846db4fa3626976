import { ConfigError } from '../errors';
import { LOG_LEVELS } from './log';

/**
 * Where a local run or the benchmark points one AWS client (`AWS_ENDPOINT_URL_<SERVICE>`, else
 * `AWS_ENDPOINT_URL`); unset in AWS. Handed to the client explicitly: the deployed environment
 * tells the SDK itself to ignore these variables (serverless.yml).
 */
export function awsEndpoint(env: Record<string, string | undefined>, service: 'SQS' | 'DYNAMODB' | 'SECRETS_MANAGER'): { endpoint: string } | Record<string, never> {
  const endpoint = env[`AWS_ENDPOINT_URL_${service}`] ?? env.AWS_ENDPOINT_URL;
  return endpoint ? { endpoint } : {};
}

export type Env = Record<string, string | undefined>;

/** Read a required variable; a missing one is a startup error that names it. */
export function requireEnv(env: Env, name: string): string {
  const value = env[name]?.trim();
  if (!value) throw new ConfigError(`environment variable ${name} is not set`);
  return value;
}

function optionalEnv(env: Env, name: string, fallback: string): string {
  const value = env[name]?.trim();
  return value ? value : fallback;
}

function numberEnv(env: Env, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new ConfigError(`environment variable ${name} must be a non-negative number`);
  return value;
}

function booleanEnv(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (!raw) return fallback;
  if (['true', '1', 'yes'].includes(raw)) return true;
  if (['false', '0', 'no'].includes(raw)) return false;
  throw new ConfigError(`environment variable ${name} must be true or false`);
}

/** A base URL with exactly one trailing slash, so `new URL(path, base)` keeps its path. */
function baseUrl(env: Env, name: string, fallback: string): string {
  const value = optionalEnv(env, name, fallback);
  try {
    new URL(value);
  } catch {
    throw new ConfigError(`environment variable ${name} is not a URL`);
  }
  return value.endsWith('/') ? value : `${value}/`;
}

/** The names of the variables the deploy and the local stack set for the queues and the table. */
export const ENV = {
  slackQueueUrl: 'SLACK_EVENTS_QUEUE_URL',
  slackDlqUrl: 'SLACK_EVENTS_DLQ_URL',
  pagerDutyQueueUrl: 'PAGERDUTY_EVENTS_QUEUE_URL',
  pagerDutyDlqUrl: 'PAGERDUTY_EVENTS_DLQ_URL',
  tableName: 'TABLE_NAME',
} as const;

export interface SlackIngressConfig {
  queueUrl: string;
  slashCommand: string;
  pingPhrase: string;
}

export function loadSlackIngressConfig(env: Env): SlackIngressConfig {
  return {
    queueUrl: requireEnv(env, ENV.slackQueueUrl),
    slashCommand: optionalEnv(env, 'SLACK_COMMAND', '/piiano-pd-trigger'),
    pingPhrase: optionalEnv(env, 'SLACK_PING_PHRASE', 'piiano-ping-bot'),
  };
}

export interface PagerDutyIngressConfig {
  queueUrl: string;
}

export function loadPagerDutyIngressConfig(env: Env): PagerDutyIngressConfig {
  return { queueUrl: requireEnv(env, ENV.pagerDutyQueueUrl) };
}

export interface WorkerConfig {
  tableName: string;
  dlqUrl: string;
  slackApiUrl: string;
  pagerDutyEventsUrl: string;
  pagerDutyApiUrl: string;
  slashCommand: string;
  pingPhrase: string;
  showResponderNames: boolean;
  /** Who a customer should contact when an escalation cannot reach PagerDuty. */
  supportContact: string;
  /** How long links and effect records live before DynamoDB's TTL removes them. */
  linkTtlDays: number;
  /** First retry delay; later attempts back off exponentially up to the visibility timeout. */
  retryBaseSeconds: number;
  /** Attempts before SQS moves a message to the DLQ (the queue's maxReceiveCount). */
  maxReceiveCount: number;
  /** Deadline for one outbound HTTP call. */
  httpTimeoutMs: number;
  /**
   * The pace of confirmation re-renders (chat.update) per workspace: under Slack's "50+ a minute"
   * with room for the updates that are not paced (a click's answer, a reconciler catch-up).
   */
  slackUpdatesPerMinute: number;
  /**
   * The PagerDuty user (email) that customers' thread replies are added as notes by; unset:
   * replies stay in Slack.
   */
  pagerDutyFromEmail?: string;
  /**
   * The Slack app's id (its Basic Information page, `A…`): the slack-worker's delivery gate
   * refuses events whose `api_app_id` differs. `auth.test` does not return it. Unset: not compared
   * (the signing secret already ties requests to the app).
   */
  slackAppId?: string;
}

export function loadWorkerConfig(env: Env, queue: { dlqEnv: string; maxReceiveCount: number }): WorkerConfig {
  return {
    tableName: requireEnv(env, ENV.tableName),
    dlqUrl: requireEnv(env, queue.dlqEnv),
    slackApiUrl: baseUrl(env, 'SLACK_API_URL', 'https://slack.com/api/'),
    pagerDutyEventsUrl: baseUrl(env, 'PAGER_DUTY_EVENTS_URL', 'https://events.pagerduty.com/'),
    pagerDutyApiUrl: baseUrl(env, 'PAGER_DUTY_API_URL', 'https://api.pagerduty.com/'),
    slashCommand: optionalEnv(env, 'SLACK_COMMAND', '/piiano-pd-trigger'),
    pingPhrase: optionalEnv(env, 'SLACK_PING_PHRASE', 'piiano-ping-bot'),
    showResponderNames: booleanEnv(env, 'SHOW_RESPONDER_NAMES', true),
    supportContact: optionalEnv(env, 'SUPPORT_CONTACT', 'your account team'),
    linkTtlDays: numberEnv(env, 'LINK_TTL_DAYS', 90),
    retryBaseSeconds: numberEnv(env, 'RETRY_BASE_SECONDS', 10),
    maxReceiveCount: numberEnv(env, 'MAX_RECEIVE_COUNT', queue.maxReceiveCount),
    httpTimeoutMs: numberEnv(env, 'HTTP_TIMEOUT_MS', 8000),
    slackUpdatesPerMinute: positiveEnv(env, 'SLACK_UPDATES_PER_MINUTE', 45),
    ...(fromEmail(env) ? { pagerDutyFromEmail: fromEmail(env)! } : {}),
    ...(env.SLACK_APP_ID?.trim() ? { slackAppId: env.SLACK_APP_ID.trim() } : {}),
  };
}

/** PAGER_DUTY_FROM_EMAIL, checked to look like an email (PagerDuty refuses a From that is no user's). */
function fromEmail(env: Env): string | undefined {
  const value = env.PAGER_DUTY_FROM_EMAIL?.trim();
  if (!value) return undefined;
  if (!/^[^\s@]+@[^\s@]+$/.test(value)) throw new ConfigError('environment variable PAGER_DUTY_FROM_EMAIL must be the email of a PagerDuty user');
  return value;
}

export interface ReconcilerConfig {
  tableName: string;
  slackApiUrl: string;
  pagerDutyApiUrl: string;
  showResponderNames: boolean;
  supportContact: string;
  linkTtlDays: number;
  httpTimeoutMs: number;
  /** How often the reconciler runs (the schedule in serverless.yml, the timer of the local stack). */
  reconcileEverySeconds: number;
  /** How long after PagerDuty accepted an escalation with no incident holding it the channel is told so. */
  noIncidentAfterSeconds: number;
}

export function loadReconcilerConfig(env: Env): ReconcilerConfig {
  return {
    tableName: requireEnv(env, ENV.tableName),
    slackApiUrl: baseUrl(env, 'SLACK_API_URL', 'https://slack.com/api/'),
    pagerDutyApiUrl: baseUrl(env, 'PAGER_DUTY_API_URL', 'https://api.pagerduty.com/'),
    showResponderNames: booleanEnv(env, 'SHOW_RESPONDER_NAMES', true),
    supportContact: optionalEnv(env, 'SUPPORT_CONTACT', 'your account team'),
    linkTtlDays: numberEnv(env, 'LINK_TTL_DAYS', 90),
    httpTimeoutMs: numberEnv(env, 'HTTP_TIMEOUT_MS', 8000),
    reconcileEverySeconds: positiveEnv(env, 'RECONCILE_EVERY_SECONDS', 300),
    noIncidentAfterSeconds: numberEnv(env, 'NO_INCIDENT_AFTER_SECONDS', 300),
  };
}

function positiveEnv(env: Env, name: string, fallback: number): number {
  const value = numberEnv(env, name, fallback);
  if (value <= 0) throw new ConfigError(`environment variable ${name} must be a positive number`);
  return value;
}

/**
 * Check the settings a person sets by hand (not the queue and table names the deploy sets), so a
 * typo is refused at start with the variable named instead of surfacing on the first request.
 * Throws a ConfigError naming the first bad variable.
 */
export function checkSettings(env: Env): void {
  const level = env.LOG_LEVEL?.trim();
  if (level && !(LOG_LEVELS as string[]).includes(level)) {
    throw new ConfigError(`environment variable LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not ${JSON.stringify(level)}`);
  }
  for (const name of ['LINK_TTL_DAYS', 'RETRY_BASE_SECONDS', 'MAX_RECEIVE_COUNT', 'HTTP_TIMEOUT_MS', 'NO_INCIDENT_AFTER_SECONDS']) numberEnv(env, name, 0);
  positiveEnv(env, 'RECONCILE_EVERY_SECONDS', 300);
  positiveEnv(env, 'SLACK_UPDATES_PER_MINUTE', 45);
  booleanEnv(env, 'SHOW_RESPONDER_NAMES', true);
  fromEmail(env);
  for (const name of ['SLACK_API_URL', 'PAGER_DUTY_EVENTS_URL', 'PAGER_DUTY_API_URL']) baseUrl(env, name, 'https://example.invalid/');
}
