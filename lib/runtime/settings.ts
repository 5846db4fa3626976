import { ConfigError } from '../errors';
import { LOG_LEVELS } from './log';

/**
 * Every environment setting pd-router reads, in one table: its parser, its default and who reads
 * it (SETTINGS), and what it means (SETTING_DOCS, which the compiler holds to the same names). The
 * functions' loaders (config.ts), the check `npm start` makes before it starts, and
 * docs/configuration.md (`npm run docs:config`) are all derived from it, so a new setting is one
 * row in each, here.
 */

export type Env = Record<string, string | undefined>;

export const FUNCTION_NAMES = ['slack-ingress', 'pagerduty-ingress', 'slack-worker', 'pagerduty-worker', 'reconciler'] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];
/** The functions, and the local commands: `npm start` and the helpers that talk to a stack. */
export type Reader = FunctionName | 'npm start' | 'commands';

/** How a raw value becomes a setting; `allowed` is what the refusal says the value must be. */
export interface Parser<T> {
  allowed: string;
  parse: (raw: string) => T | undefined;
}

/**
 * - `setting`: what a provider chooses;
 * - `secret`: the five keys, from Secrets Manager in AWS (read by the secrets middleware, not here);
 * - `deploy`: set by the deploy and the local stack, never by hand;
 * - `local`: read by `npm start` and the helper commands only.
 */
export interface SettingDoc {
  doc: string;
  /** How the default reads in the documentation, when it is not the value itself. */
  defaultNote?: string;
}

export type Group = 'setting' | 'secret' | 'deploy' | 'local';

export interface Setting<T, D extends T | undefined = T | undefined> {
  parser: Parser<T>;
  default: D;
  readBy: readonly Reader[];
  group: Group;
}

const text: Parser<string> = { allowed: 'any text', parse: (raw) => raw };

/** A base URL with exactly one trailing slash, so `new URL(path, base)` keeps its path. */
const baseUrl: Parser<string> = {
  allowed: 'a URL',
  parse: (raw) => (URL.canParse(raw) ? (raw.endsWith('/') ? raw : `${raw}/`) : undefined),
};

const number = (least: 'zero' | 'above zero'): Parser<number> => ({
  allowed: least === 'zero' ? 'a number of 0 or more' : 'a number greater than 0',
  parse: (raw) => {
    const value = Number(raw);
    return Number.isFinite(value) && (least === 'zero' ? value >= 0 : value > 0) ? value : undefined;
  },
});

const boolean: Parser<boolean> = {
  allowed: 'true or false',
  parse: (raw) => {
    const value = raw.toLowerCase();
    if (['true', '1', 'yes'].includes(value)) return true;
    if (['false', '0', 'no'].includes(value)) return false;
    return undefined;
  },
};

const oneOf = <T extends string>(values: readonly T[]): Parser<T> => ({
  allowed: `one of ${values.join(', ')}`,
  parse: (raw) => values.find((value) => value === raw),
});

/** PagerDuty refuses a note whose `From` is no user's: an address that cannot be one is refused here first. */
const email: Parser<string> = { allowed: 'the email of a PagerDuty user', parse: (raw) => (/^[^\s@]+@[^\s@]+$/.test(raw) ? raw : undefined) };

const port: Parser<number> = { allowed: 'a port number from 0 to 65535', parse: (raw) => (/^\d+$/.test(raw) && Number(raw) <= 65535 ? Number(raw) : undefined) };

export const SEVERITIES = ['critical', 'error', 'warning', 'info'] as const;

const define = <T, const D extends NoInfer<T> | undefined>(setting: Setting<T, D>): Setting<T, D> => setting;

const WORKERS = ['slack-worker', 'pagerduty-worker'] as const;
const CALLERS = [...WORKERS, 'reconciler'] as const;

export const SETTINGS = {
  SLACK_COMMAND: define({ group: 'setting', parser: text, default: '/piiano-pd-trigger', readBy: ['slack-ingress', ...WORKERS] }),
  SLACK_PING_PHRASE: define({ group: 'setting', parser: text, default: 'piiano-ping-bot', readBy: ['slack-ingress', ...WORKERS] }),
  PAGER_DUTY_SEVERITY: define({ group: 'setting', parser: oneOf(SEVERITIES), default: 'critical', readBy: WORKERS }),
  SHOW_RESPONDER_NAMES: define({ group: 'setting', parser: boolean, default: true, readBy: CALLERS }),
  SUPPORT_CONTACT: define({ group: 'setting', parser: text, default: 'your account team', readBy: CALLERS }),
  SLACK_APP_ID: define({ group: 'setting', parser: text, default: undefined, readBy: WORKERS }),
  PAGER_DUTY_FROM_EMAIL: define({ group: 'setting', parser: email, default: undefined, readBy: WORKERS }),
  RECONCILE_EVERY_SECONDS: define({ group: 'setting', parser: number('above zero'), default: 300, readBy: ['reconciler', 'npm start'] }),
  NO_INCIDENT_AFTER_SECONDS: define({ group: 'setting', parser: number('zero'), default: 300, readBy: ['reconciler'] }),
  LINK_TTL_DAYS: define({ group: 'setting', parser: number('zero'), default: 90, readBy: CALLERS }),
  RETRY_BASE_SECONDS: define({ group: 'setting', parser: number('zero'), default: 10, readBy: [...WORKERS, 'npm start'] }),
  MAX_RECEIVE_COUNT: define({ group: 'setting', parser: number('zero'), default: undefined, readBy: WORKERS }),
  HISTORY_TTL_DAYS: define({ group: 'setting', parser: number('above zero'), default: 400, readBy: CALLERS }),
  HTTP_TIMEOUT_MS: define({ group: 'setting', parser: number('zero'), default: 8000, readBy: CALLERS }),
  SLACK_UPDATES_PER_MINUTE: define({ group: 'setting', parser: number('above zero'), default: 50, readBy: WORKERS }),
  SLACK_FANOUT_POSTS_PER_MINUTE: define({ group: 'setting', parser: number('zero'), default: 580, readBy: WORKERS }),
  LOG_LEVEL: define({ group: 'setting', parser: oneOf(LOG_LEVELS), default: 'info', readBy: [...FUNCTION_NAMES, 'npm start'] }),
  SLACK_API_URL: define({ group: 'setting', parser: baseUrl, default: 'https://slack.com/api/', readBy: CALLERS }),
  PAGER_DUTY_EVENTS_URL: define({ group: 'setting', parser: baseUrl, default: 'https://events.pagerduty.com/', readBy: WORKERS }),
  PAGER_DUTY_API_URL: define({ group: 'setting', parser: baseUrl, default: 'https://api.pagerduty.com/', readBy: CALLERS }),

  SECRETS_MANAGER_SECRET_ID: define({ group: 'secret', parser: text, default: undefined, readBy: FUNCTION_NAMES }),
  SLACK_SIGNING_SECRET: define({ group: 'secret', parser: text, default: undefined, readBy: ['slack-ingress'] }),
  PAGER_DUTY_SIGNING_KEY: define({ group: 'secret', parser: text, default: undefined, readBy: ['pagerduty-ingress'] }),
  SLACK_BOT_TOKEN: define({ group: 'secret', parser: text, default: undefined, readBy: CALLERS }),
  PAGER_DUTY_EVENTS_API_KEY: define({ group: 'secret', parser: text, default: undefined, readBy: WORKERS }),
  PAGER_DUTY_REST_API_KEY: define({ group: 'secret', parser: text, default: undefined, readBy: CALLERS }),

  SLACK_EVENTS_QUEUE_URL: define({ group: 'deploy', parser: text, default: undefined, readBy: ['slack-ingress', 'slack-worker'] }),
  SLACK_EVENTS_DLQ_URL: define({ group: 'deploy', parser: text, default: undefined, readBy: ['slack-worker'] }),
  PAGERDUTY_EVENTS_QUEUE_URL: define({ group: 'deploy', parser: text, default: undefined, readBy: ['pagerduty-ingress', 'pagerduty-worker'] }),
  PAGERDUTY_EVENTS_DLQ_URL: define({ group: 'deploy', parser: text, default: undefined, readBy: ['pagerduty-worker'] }),
  TABLE_NAME: define({ group: 'deploy', parser: text, default: undefined, readBy: CALLERS }),
  STAGE: define({ group: 'deploy', parser: text, default: 'local', readBy: CALLERS }),

  PORT: define({ group: 'local', parser: port, default: 3000, readBy: ['npm start', 'commands'] }),
  PD_ROUTER_DATA_DIR: define({ group: 'local', parser: text, default: undefined, readBy: ['npm start'] }),
  PD_ROUTER_URL: define({ group: 'local', parser: text, default: undefined, readBy: ['commands'] }),
  PD_ROUTER_ADMIN_TOKEN: define({ group: 'local', parser: text, default: undefined, readBy: ['npm start', 'commands'] }),
  PD_SANDBOX_GROUPING: define({ group: 'local', parser: oneOf(['on', 'off']), default: 'off', readBy: ['npm start'] }),
  PD_ROUTER_RATE_LIMITS: define({ group: 'local', parser: oneOf(['on', 'off']), default: 'off', readBy: ['npm start'] }),
} as const;

export type SettingName = keyof typeof SETTINGS;

/**
 * What each setting means, for docs/configuration.md: kept beside the table rather than in its rows
 * so that the functions' bundles, which never print it, leave it out. Every setting has one.
 */
export const SETTING_DOCS = {
  SLACK_COMMAND: { doc: 'the slash command pd-router answers (in AWS the `slackCommand` deploy parameter; the command in `slack-app-manifest.yaml` must match)' },
  SLACK_PING_PHRASE: { doc: '`@bot <phrase>` answers with a pong and pages no one' },
  PAGER_DUTY_SEVERITY: { doc: 'severity of the incidents escalations trigger, unless a customer has its own' },
  SHOW_RESPONDER_NAMES: { doc: '`false` hides responders\' names in customer channels (a customer may have its own)' },
  SUPPORT_CONTACT: { doc: 'whom a customer is told to contact when an escalation fails or opens no incident (a customer may have its own)' },
  SLACK_APP_ID: { doc: 'the Slack app\'s App ID (`A…`, its Basic Information page): events whose `api_app_id` differs are dropped. In AWS the `slackAppId` deploy parameter', defaultNote: '(unset: not compared)' },
  PAGER_DUTY_FROM_EMAIL: { doc: 'a PagerDuty user\'s email: customers\' thread replies, and the note naming who follows a combined incident, are added to the incident as this user (PagerDuty\'s notes API needs a user of the account). `PAGER_DUTY_REST_API_KEY` must then be able to write (a read-only key gets 403 and the reply stays in Slack). The sandbox uses `oncall@provider.test`', defaultNote: '(unset: replies stay in Slack)' },
  RECONCILE_EVERY_SECONDS: { doc: 'how often the reconciler reads the open escalations\' incidents and tells channels what the webhooks did not (in AWS the `reconcileEverySeconds` parameter, whole minutes)' },
  NO_INCIDENT_AFTER_SECONDS: { doc: 'how long after PagerDuty accepted an escalation that no incident holds the channel is told so (in AWS the `noIncidentAfterSeconds` parameter)' },
  LINK_TTL_DAYS: { doc: 'how long incident links are kept (DynamoDB TTL)' },
  RETRY_BASE_SECONDS: { doc: 'first retry delay of a failed queue message (doubles per attempt)', defaultNote: '`10` (`2` under `npm start`)' },
  MAX_RECEIVE_COUNT: { doc: 'deliveries before the DLQ; the worker tells the channel on the last one', defaultNote: 'the queue\'s (`lib/layout/layout.json`)' },
  HISTORY_TTL_DAYS: { doc: 'how long the escalation history is kept, from when each escalation was asked, whatever `LINK_TTL_DAYS` says: over a year, so a year-on-year report has its first month' },
  HTTP_TIMEOUT_MS: { doc: 'deadline of one call to Slack or PagerDuty' },
  SLACK_UPDATES_PER_MINUTE: { doc: 'how fast confirmations are brought up to date, per workspace, when one incident changes many at once (Slack\'s `chat.update` is Tier 3: 50 or more a minute; one refused anyway, beside a click\'s unpaced update, is retried at a new turn); the updates customers read in their threads never wait for these', defaultNote: '`50` (`6000` in the sandbox unless `PD_ROUTER_RATE_LIMITS=on`)' },
  SLACK_FANOUT_POSTS_PER_MINUTE: { doc: 'how fast the posts of one incident event told to many channels (an outage merged into one incident, then updated and resolved) go out, per workspace: a turn each under Slack\'s workspace-wide `chat.postMessage` limit instead of finding it by refusals. Posts to one channel are never paced; `0`: no fan-out is paced either', defaultNote: '`580` (`0` in the sandbox unless `PD_ROUTER_RATE_LIMITS=on`)' },
  LOG_LEVEL: { doc: 'the least level logged; `npm start` prints the functions\' metric lines (CloudWatch EMF JSON) only with `debug`', defaultNote: '`info` (`warn` under `npm start`)' },
  SLACK_API_URL: { doc: 'Slack Web API base (the tests and the sandbox point it at a local stand-in)' },
  PAGER_DUTY_EVENTS_URL: { doc: 'Events API base (triggers go to `<base>/v2/enqueue`)' },
  PAGER_DUTY_API_URL: { doc: 'REST API base' },
  SECRETS_MANAGER_SECRET_ID: { doc: 'ARN or name of the secret holding the keys below (the deploy sets it, or two with split secrets)', defaultNote: '(unset: the keys below are read from the environment)' },
  SLACK_SIGNING_SECRET: { doc: 'checks that a request comes from Slack' },
  PAGER_DUTY_SIGNING_KEY: { doc: 'checks that a webhook comes from PagerDuty; several keys, comma-separated, one per webhook subscription: a webhook signed by any of them is accepted' },
  SLACK_BOT_TOKEN: { doc: 'posts to Slack' },
  PAGER_DUTY_EVENTS_API_KEY: { doc: 'the default routing key escalations page with' },
  PAGER_DUTY_REST_API_KEY: { doc: 'reads incidents (Check Status, the reconciler), and writes notes with `PAGER_DUTY_FROM_EMAIL`' },
  SLACK_EVENTS_QUEUE_URL: { doc: 'the Slack events queue' },
  SLACK_EVENTS_DLQ_URL: { doc: 'its dead-letter queue' },
  PAGERDUTY_EVENTS_QUEUE_URL: { doc: 'the PagerDuty events queue' },
  PAGERDUTY_EVENTS_DLQ_URL: { doc: 'its dead-letter queue' },
  TABLE_NAME: { doc: 'the DynamoDB table' },
  STAGE: { doc: 'the stage, the metrics\' `stage` dimension' },
  PORT: { doc: 'where `npm start` listens (`0` picks a free port), and which running stack the helper commands talk to' },
  PD_ROUTER_DATA_DIR: { doc: 'a folder to keep the sandbox\'s data in across restarts', defaultNote: '(in memory)' },
  PD_ROUTER_URL: { doc: 'the router `escalate`, `sandbox`, `customers`, `doctor` and `dlq` talk to (base URL, without `/slack/events`)', defaultNote: 'the local sandbox' },
  PD_ROUTER_ADMIN_TOKEN: { doc: 'the token of the local stack\'s `/admin/customers` route: `npm start` with real Slack, and `npm run customers` against it', defaultNote: '(made up in sandbox mode)' },
  PD_SANDBOX_GROUPING: { doc: '`on`: the sandbox PagerDuty groups new alerts into the newest open incident, as content-based alert grouping does' },
  PD_ROUTER_RATE_LIMITS: { doc: '`on`: the stand-ins enforce Slack\'s and PagerDuty\'s rate limits (answering 429), as docs/performance.md lists them' },
} as const satisfies Record<SettingName, SettingDoc>;
type ValueOf<N extends SettingName> = (typeof SETTINGS)[N] extends Setting<infer T, infer D> ? T | D : never;
type Parsed<N extends SettingName> = (typeof SETTINGS)[N] extends Setting<infer T, infer _D> ? T : never;

/**
 * One setting from the environment: blank or unset is its default (or `fallback`); a value its
 * parser refuses is a ConfigError of one line naming the setting and what it must be.
 */
export function readSetting<N extends SettingName>(env: Env, name: N): ValueOf<N>;
export function readSetting<N extends SettingName>(env: Env, name: N, fallback: Parsed<N>): Parsed<N>;
export function readSetting<N extends SettingName>(env: Env, name: N, ...fallback: [Parsed<N>?]): ValueOf<N> {
  const setting = SETTINGS[name] as Setting<unknown>;
  const raw = env[name]?.trim();
  if (!raw) return (fallback.length ? fallback[0] : setting.default) as ValueOf<N>;
  const value = setting.parser.parse(raw);
  if (value === undefined) throw new ConfigError(`environment variable ${name} must be ${setting.parser.allowed}, not ${JSON.stringify(raw)}`);
  return value as ValueOf<N>;
}

/** The settings of one group, in the table's order. */
export function settingNames(group: Group): SettingName[] {
  return (Object.keys(SETTINGS) as SettingName[]).filter((name) => SETTINGS[name].group === group);
}
