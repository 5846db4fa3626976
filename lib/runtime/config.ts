import { ConfigError } from '../errors';
import { readSetting, SETTINGS, type Env, type SettingName, type SEVERITIES } from './settings';

/**
 * Where a local run or the benchmark points one AWS client (`AWS_ENDPOINT_URL_<SERVICE>`, else
 * `AWS_ENDPOINT_URL`); unset in AWS. Handed to the client explicitly: the deployed environment
 * tells the SDK itself to ignore these variables (serverless.yml).
 */
export function awsEndpoint(env: Record<string, string | undefined>, service: 'SQS' | 'DYNAMODB' | 'SECRETS_MANAGER'): { endpoint: string } | Record<string, never> {
  const endpoint = env[`AWS_ENDPOINT_URL_${service}`] ?? env.AWS_ENDPOINT_URL;
  return endpoint ? { endpoint } : {};
}

export type { Env } from './settings';

/** Read a required variable; a missing one is a startup error that names it. */
export function requireEnv(env: Env, name: string): string {
  const value = env[name]?.trim();
  if (!value) throw new ConfigError(`environment variable ${name} is not set`);
  return value;
}

/** The names of the variables the deploy and the local stack set for the queues and the table. */
export const ENV = {
  slackQueueUrl: 'SLACK_EVENTS_QUEUE_URL',
  slackDlqUrl: 'SLACK_EVENTS_DLQ_URL',
  pagerDutyQueueUrl: 'PAGERDUTY_EVENTS_QUEUE_URL',
  pagerDutyDlqUrl: 'PAGERDUTY_EVENTS_DLQ_URL',
  tableName: 'TABLE_NAME',
} as const satisfies Record<string, SettingName>;

export interface SlackIngressConfig {
  queueUrl: string;
  slashCommand: string;
  pingPhrase: string;
}

export function loadSlackIngressConfig(env: Env): SlackIngressConfig {
  return {
    queueUrl: requireEnv(env, ENV.slackQueueUrl),
    slashCommand: readSetting(env, 'SLACK_COMMAND'),
    pingPhrase: readSetting(env, 'SLACK_PING_PHRASE'),
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
  /** How long the escalation history lives (from when each escalation was asked), whatever linkTtlDays says. */
  historyTtlDays: number;
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
  /** The pace of a fan-out's posts (chat.postMessage) per workspace: one incident event told to many channels. */
  slackFanOutPostsPerMinute: number;
  slackFanOutPostBurst: number;
  /** Triggers per routing key in any window of `triggerWindowSeconds` (PagerDuty's Events API limit); 0: not paced. */
  triggersPerWindow: number;
  triggerWindowSeconds: number;
  /** How long a merge's note telling on-call who follows waits for more merges into the same incident. */
  followersNoteSettleSeconds: number;
  /** The severity of the incidents escalations trigger, unless the customer has its own. */
  severity: (typeof SEVERITIES)[number];
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
    slackApiUrl: readSetting(env, 'SLACK_API_URL'),
    pagerDutyEventsUrl: readSetting(env, 'PAGER_DUTY_EVENTS_URL'),
    pagerDutyApiUrl: readSetting(env, 'PAGER_DUTY_API_URL'),
    slashCommand: readSetting(env, 'SLACK_COMMAND'),
    pingPhrase: readSetting(env, 'SLACK_PING_PHRASE'),
    showResponderNames: readSetting(env, 'SHOW_RESPONDER_NAMES'),
    supportContact: readSetting(env, 'SUPPORT_CONTACT'),
    linkTtlDays: readSetting(env, 'LINK_TTL_DAYS'),
    historyTtlDays: readSetting(env, 'HISTORY_TTL_DAYS'),
    retryBaseSeconds: readSetting(env, 'RETRY_BASE_SECONDS'),
    maxReceiveCount: readSetting(env, 'MAX_RECEIVE_COUNT', queue.maxReceiveCount),
    httpTimeoutMs: readSetting(env, 'HTTP_TIMEOUT_MS'),
    slackUpdatesPerMinute: readSetting(env, 'SLACK_UPDATES_PER_MINUTE'),
    slackFanOutPostsPerMinute: readSetting(env, 'SLACK_FANOUT_POSTS_PER_MINUTE'),
    slackFanOutPostBurst: readSetting(env, 'SLACK_FANOUT_POST_BURST'),
    triggersPerWindow: readSetting(env, 'PAGER_DUTY_TRIGGERS_PER_WINDOW'),
    triggerWindowSeconds: readSetting(env, 'PAGER_DUTY_TRIGGER_WINDOW_SECONDS'),
    followersNoteSettleSeconds: readSetting(env, 'FOLLOWERS_NOTE_SETTLE_SECONDS'),
    severity: readSetting(env, 'PAGER_DUTY_SEVERITY'),
    ...optional('pagerDutyFromEmail', readSetting(env, 'PAGER_DUTY_FROM_EMAIL')),
    ...optional('slackAppId', readSetting(env, 'SLACK_APP_ID')),
  };
}

/** An optional field only when it has a value (exactOptionalPropertyTypes). */
function optional<K extends string, T>(key: K, value: T | undefined): Partial<Record<K, T>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, T>);
}

/** How long the escalation history is kept by default: over a year, so a year-on-year report has its first month. */
export const DEFAULT_HISTORY_TTL_DAYS = SETTINGS.HISTORY_TTL_DAYS.default;

export interface ReconcilerConfig {
  tableName: string;
  /** Where it asks the pagerduty-worker to re-render a confirmation it caught up. */
  pagerDutyQueueUrl: string;
  slackApiUrl: string;
  pagerDutyApiUrl: string;
  showResponderNames: boolean;
  supportContact: string;
  linkTtlDays: number;
  historyTtlDays: number;
  httpTimeoutMs: number;
  /** How often the reconciler runs (the schedule in serverless.yml, the timer of the local stack). */
  reconcileEverySeconds: number;
  /** How long after PagerDuty accepted an escalation with no incident holding it the channel is told so. */
  noIncidentAfterSeconds: number;
  /** The pace of the workspace's paced posts, which the reconciler's catch-ups take turns in too (see WorkerConfig). */
  slackFanOutPostsPerMinute: number;
  slackFanOutPostBurst: number;
}

export function loadReconcilerConfig(env: Env): ReconcilerConfig {
  return {
    tableName: requireEnv(env, ENV.tableName),
    pagerDutyQueueUrl: requireEnv(env, ENV.pagerDutyQueueUrl),
    slackApiUrl: readSetting(env, 'SLACK_API_URL'),
    pagerDutyApiUrl: readSetting(env, 'PAGER_DUTY_API_URL'),
    showResponderNames: readSetting(env, 'SHOW_RESPONDER_NAMES'),
    supportContact: readSetting(env, 'SUPPORT_CONTACT'),
    linkTtlDays: readSetting(env, 'LINK_TTL_DAYS'),
    historyTtlDays: readSetting(env, 'HISTORY_TTL_DAYS'),
    httpTimeoutMs: readSetting(env, 'HTTP_TIMEOUT_MS'),
    reconcileEverySeconds: readSetting(env, 'RECONCILE_EVERY_SECONDS'),
    noIncidentAfterSeconds: readSetting(env, 'NO_INCIDENT_AFTER_SECONDS'),
    slackFanOutPostsPerMinute: readSetting(env, 'SLACK_FANOUT_POSTS_PER_MINUTE'),
    slackFanOutPostBurst: readSetting(env, 'SLACK_FANOUT_POST_BURST'),
  };
}
