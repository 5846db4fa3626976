import { readSetting, SETTINGS, type Env, type SettingName } from './settings';

/**
 * What each setting is, for people: its group, who reads it, and what it means, for
 * docs/configuration.md (`npm run docs:config`) and the check `npm start` makes before it starts.
 * Kept apart from the table the functions read (SETTINGS, ./settings.ts) so that their bundles,
 * which never print it, leave it out. Every setting has one row, held by the compiler to the
 * table's names.
 */

export const FUNCTION_NAMES = ['slack-ingress', 'pagerduty-ingress', 'slack-worker', 'pagerduty-worker', 'reconciler'] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];
/** The functions, and the local commands: `npm start` and the helpers that talk to a stack. */
export type Reader = FunctionName | 'npm start' | 'commands';

/**
 * - `setting`: what a provider chooses;
 * - `secret`: the five keys, from Secrets Manager in AWS (read by the secrets middleware, not here);
 * - `deploy`: set by the deploy and the local stack, never by hand;
 * - `local`: read by `npm start` and the helper commands only.
 */
export type Group = 'setting' | 'secret' | 'deploy' | 'local';

export interface SettingDoc {
  group: Group;
  readBy: readonly Reader[];
  doc: string;
  /** How the default reads in the documentation, when it is not the value itself. */
  defaultNote?: string;
}

const WORKERS = ['slack-worker', 'pagerduty-worker'] as const;
const CALLERS = [...WORKERS, 'reconciler'] as const;

export const SETTING_DOCS = {
  SLACK_COMMAND: { group: 'setting', readBy: ['slack-ingress', ...WORKERS], doc: 'the slash command pd-router answers (in AWS the `slackCommand` deploy parameter; the command in `slack-app-manifest.yaml` must match)' },
  SLACK_PING_PHRASE: { group: 'setting', readBy: ['slack-ingress', ...WORKERS], doc: '`@bot <phrase>` answers with a pong and pages no one' },
  PAGER_DUTY_SEVERITY: { group: 'setting', readBy: WORKERS, doc: 'severity of the incidents escalations trigger, unless a customer has its own' },
  SHOW_RESPONDER_NAMES: { group: 'setting', readBy: CALLERS, doc: '`false` hides responders\' names in customer channels (a customer may have its own)' },
  SUPPORT_CONTACT: { group: 'setting', readBy: CALLERS, doc: 'whom a customer is told to contact when an escalation fails or opens no incident (a customer may have its own)' },
  SLACK_APP_ID: { group: 'setting', readBy: WORKERS, doc: 'the Slack app\'s App ID (`A…`, its Basic Information page): events whose `api_app_id` differs are dropped. In AWS the `slackAppId` deploy parameter', defaultNote: '(unset: not compared)' },
  PAGER_DUTY_FROM_EMAIL: { group: 'setting', readBy: WORKERS, doc: 'a PagerDuty user\'s email: customers\' thread replies, and the note naming who follows a combined incident, are added to the incident as this user (PagerDuty\'s notes API needs a user of the account). `PAGER_DUTY_REST_API_KEY` must then be able to write (a read-only key gets 403 and the reply stays in Slack). The sandbox uses `oncall@provider.test`', defaultNote: '(unset: replies stay in Slack)' },
  RECONCILE_EVERY_SECONDS: { group: 'setting', readBy: ['reconciler', 'npm start'], doc: 'how often the reconciler reads the open escalations\' incidents and tells channels what the webhooks did not (in AWS the `reconcileEverySeconds` parameter, whole minutes)' },
  NO_INCIDENT_AFTER_SECONDS: { group: 'setting', readBy: ['reconciler'], doc: 'how long after PagerDuty accepted an escalation that no incident holds the channel is told so (in AWS the `noIncidentAfterSeconds` parameter)' },
  LINK_TTL_DAYS: { group: 'setting', readBy: CALLERS, doc: 'how long incident links are kept (DynamoDB TTL)' },
  RETRY_BASE_SECONDS: { group: 'setting', readBy: [...WORKERS, 'npm start'], doc: 'first retry delay of a failed queue message (doubles per attempt)', defaultNote: '`10` (`2` under `npm start`)' },
  MAX_RECEIVE_COUNT: { group: 'setting', readBy: WORKERS, doc: 'deliveries before the DLQ; the worker tells the channel on the last one', defaultNote: 'the queue\'s (`lib/layout/layout.json`)' },
  HISTORY_TTL_DAYS: { group: 'setting', readBy: CALLERS, doc: 'how long the escalation history is kept, from when each escalation was asked, whatever `LINK_TTL_DAYS` says: over a year, so a year-on-year report has its first month' },
  HTTP_TIMEOUT_MS: { group: 'setting', readBy: CALLERS, doc: 'deadline of one call to Slack or PagerDuty' },
  SLACK_UPDATES_PER_MINUTE: { group: 'setting', readBy: WORKERS, doc: 'how fast confirmations are brought up to date, per workspace, when one incident changes many at once (Slack\'s `chat.update` is Tier 3: 50 or more a minute; one refused anyway, beside a click\'s unpaced update, is retried at a new turn); the updates customers read in their threads never wait for these', defaultNote: '`50` (`6000` in the sandbox unless `PD_ROUTER_RATE_LIMITS=on`)' },
  SLACK_FANOUT_POSTS_PER_MINUTE: { group: 'setting', readBy: [...WORKERS, 'reconciler'], doc: 'how fast the posts of one incident event told to many channels (an outage merged into one incident, then updated and resolved) go out, per workspace: a turn each under Slack\'s workspace-wide `chat.postMessage` limit instead of finding it by refusals. So does every post of a webhook that concerns one channel (an outage\'s merges, one webhook per customer), every catch-up the reconciler posts, and the retry of a confirmation Slack refused once (every customer escalating at once confirms at once); a first confirmation and a person\'s replies are not paced. `0`: nothing is paced', defaultNote: '`580` (`0` in the sandbox unless `PD_ROUTER_RATE_LIMITS=on`)' },
  SLACK_FANOUT_POST_BURST: { group: 'setting', readBy: [...WORKERS, 'reconciler'], doc: 'how many paced posts (a fan-out\'s, a webhook\'s) go at once when the workspace has posted nothing for a while, before the rest take turns at `SLACK_FANOUT_POSTS_PER_MINUTE`: Slack\'s limits are buckets that allow a short burst, then their refill rate. Slack publishes no number for the workspace\'s burst; the default spends half of the 20 the local stand-ins allow, so posts that come back from waiting a little late, and go together, still find room (one back more than a second after its turn takes a new one). A retry of a post Slack refused never takes part in a burst' },
  PAGER_DUTY_TRIGGERS_PER_WINDOW: { group: 'setting', readBy: WORKERS, doc: 'how many escalations may page on one routing key in any `PAGER_DUTY_TRIGGER_WINDOW_SECONDS` looking back (PagerDuty\'s Events API takes about 120 a minute per routing key and refuses the rest): when many customers sharing a key escalate at once, each trigger takes a turn and goes out when the window has room, instead of finding the limit by refusals. A trigger refused anyway (another sender on the key) is retried with backoff; `0`: triggers are not paced', defaultNote: '`120` (`0` in the sandbox unless `PD_ROUTER_RATE_LIMITS=on`)' },
  PAGER_DUTY_TRIGGER_WINDOW_SECONDS: { group: 'setting', readBy: WORKERS, doc: 'the window `PAGER_DUTY_TRIGGERS_PER_WINDOW` counts triggers in' },
  FOLLOWERS_NOTE_SETTLE_SECONDS: { group: 'setting', readBy: WORKERS, doc: 'after a merge, how long the note telling on-call which customers follow the incident waits for more merges into it: an outage merged into one incident gets one note per this many seconds, naming everyone, instead of one per merge (needs `PAGER_DUTY_FROM_EMAIL`)', defaultNote: '`10` (`1` in the sandbox unless `PD_ROUTER_RATE_LIMITS=on`)' },
  LOG_LEVEL: { group: 'setting', readBy: [...FUNCTION_NAMES, 'npm start'], doc: 'the least level logged; `npm start` prints the functions\' metric lines (CloudWatch EMF JSON) only with `debug`', defaultNote: '`info` (`warn` under `npm start`)' },
  SLACK_API_URL: { group: 'setting', readBy: CALLERS, doc: 'Slack Web API base (the tests and the sandbox point it at a local stand-in)' },
  PAGER_DUTY_EVENTS_URL: { group: 'setting', readBy: WORKERS, doc: 'Events API base (triggers go to `<base>/v2/enqueue`)' },
  PAGER_DUTY_API_URL: { group: 'setting', readBy: CALLERS, doc: 'REST API base' },
  SECRETS_MANAGER_SECRET_ID: { group: 'secret', readBy: FUNCTION_NAMES, doc: 'ARN or name of the secret holding the keys below (the deploy sets it, or two with split secrets)', defaultNote: '(unset: the keys below are read from the environment)' },
  SLACK_SIGNING_SECRET: { group: 'secret', readBy: ['slack-ingress'], doc: 'checks that a request comes from Slack' },
  PAGER_DUTY_SIGNING_KEY: { group: 'secret', readBy: ['pagerduty-ingress'], doc: 'checks that a webhook comes from PagerDuty; several keys, comma-separated, one per webhook subscription: a webhook signed by any of them is accepted' },
  SLACK_BOT_TOKEN: { group: 'secret', readBy: CALLERS, doc: 'posts to Slack' },
  PAGER_DUTY_EVENTS_API_KEY: { group: 'secret', readBy: WORKERS, doc: 'the default routing key escalations page with' },
  PAGER_DUTY_REST_API_KEY: { group: 'secret', readBy: CALLERS, doc: 'reads incidents (Check Status, the reconciler), and writes notes with `PAGER_DUTY_FROM_EMAIL`' },
  SLACK_EVENTS_QUEUE_URL: { group: 'deploy', readBy: ['slack-ingress', 'slack-worker'], doc: 'the Slack events queue' },
  SLACK_EVENTS_DLQ_URL: { group: 'deploy', readBy: ['slack-worker'], doc: 'its dead-letter queue' },
  PAGERDUTY_EVENTS_QUEUE_URL: { group: 'deploy', readBy: ['pagerduty-ingress', 'pagerduty-worker', 'reconciler'], doc: 'the PagerDuty events queue' },
  PAGERDUTY_EVENTS_DLQ_URL: { group: 'deploy', readBy: ['pagerduty-worker'], doc: 'its dead-letter queue' },
  TABLE_NAME: { group: 'deploy', readBy: CALLERS, doc: 'the DynamoDB table' },
  STAGE: { group: 'deploy', readBy: CALLERS, doc: 'the stage, the metrics\' `stage` dimension' },
  PORT: { group: 'local', readBy: ['npm start', 'commands'], doc: 'where `npm start` listens (`0` picks a free port), and which running stack the helper commands talk to' },
  PD_ROUTER_DATA_DIR: { group: 'local', readBy: ['npm start'], doc: 'a folder to keep the sandbox\'s data in across restarts', defaultNote: '(in memory)' },
  PD_ROUTER_URL: { group: 'local', readBy: ['commands'], doc: 'the router `escalate`, `sandbox`, `customers`, `doctor` and `dlq` talk to (base URL, without `/slack/events`)', defaultNote: 'the local sandbox' },
  PD_ROUTER_ADMIN_TOKEN: { group: 'local', readBy: ['npm start', 'commands'], doc: 'the token of the local stack\'s `/admin/customers` route: `npm start` with real Slack, and `npm run customers` against it', defaultNote: '(made up in sandbox mode)' },
  PD_SANDBOX_GROUPING: { group: 'local', readBy: ['npm start'], doc: '`on`: the sandbox PagerDuty groups new alerts into the newest open incident, as content-based alert grouping does' },
  PD_ROUTER_RATE_LIMITS: { group: 'local', readBy: ['npm start'], doc: '`on`: the stand-ins enforce Slack\'s and PagerDuty\'s rate limits (answering 429), as docs/performance.md lists them' },
} as const satisfies Record<SettingName, SettingDoc>;

/** The settings of one group, in the table's order. */
export function settingNames(group: Group): SettingName[] {
  return (Object.keys(SETTINGS) as SettingName[]).filter((name) => SETTING_DOCS[name].group === group);
}

/**
 * Check every setting a person sets (not the keys, nor the queue and table names the deploy sets),
 * so a typo is refused at start with the variable named instead of surfacing on the first
 * request. Throws a ConfigError naming the first bad variable and what it must be.
 */
export function checkSettings(env: Env): void {
  const readers = new Set<string>([...FUNCTION_NAMES, 'npm start']);
  for (const name of Object.keys(SETTINGS) as SettingName[]) {
    const { group, readBy } = SETTING_DOCS[name] as SettingDoc;
    if ((group === 'setting' || group === 'local') && readBy.some((reader) => readers.has(reader))) readSetting(env, name);
  }
}
