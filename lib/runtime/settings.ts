import { ConfigError } from '../errors';
import { LOG_LEVELS } from './log';

/**
 * Every environment setting pd-router reads, in one table: its parser and its default (SETTINGS),
 * what the functions' loaders (config.ts) read. Its group, who reads it and what it means are
 * SETTING_DOCS (./setting-docs.ts, which the compiler holds to the same names), kept apart so that
 * the functions' bundles, which never print them, leave them out; the check `npm start` makes
 * before it starts and docs/configuration.md (`npm run docs:config`) are derived from both, so a
 * new setting is one row in each.
 */

export type Env = Record<string, string | undefined>;

/** How a raw value becomes a setting; `allowed` is what the refusal says the value must be. */
export interface Parser<T> {
  allowed: string;
  parse: (raw: string) => T | undefined;
}

export interface Setting<T, D extends T | undefined = T | undefined> {
  parser: Parser<T>;
  default: D;
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

export const SETTINGS = {
  SLACK_COMMAND: define({ parser: text, default: '/piiano-pd-trigger' }),
  SLACK_PING_PHRASE: define({ parser: text, default: 'piiano-ping-bot' }),
  PAGER_DUTY_SEVERITY: define({ parser: oneOf(SEVERITIES), default: 'critical' }),
  SHOW_RESPONDER_NAMES: define({ parser: boolean, default: true }),
  SUPPORT_CONTACT: define({ parser: text, default: 'your account team' }),
  SLACK_APP_ID: define({ parser: text, default: undefined }),
  PAGER_DUTY_FROM_EMAIL: define({ parser: email, default: undefined }),
  RECONCILE_EVERY_SECONDS: define({ parser: number('above zero'), default: 300 }),
  NO_INCIDENT_AFTER_SECONDS: define({ parser: number('zero'), default: 300 }),
  LINK_TTL_DAYS: define({ parser: number('zero'), default: 90 }),
  RETRY_BASE_SECONDS: define({ parser: number('zero'), default: 10 }),
  MAX_RECEIVE_COUNT: define({ parser: number('zero'), default: undefined }),
  HISTORY_TTL_DAYS: define({ parser: number('above zero'), default: 400 }),
  HTTP_TIMEOUT_MS: define({ parser: number('zero'), default: 8000 }),
  SLACK_UPDATES_PER_MINUTE: define({ parser: number('above zero'), default: 50 }),
  SLACK_FANOUT_POSTS_PER_MINUTE: define({ parser: number('zero'), default: 580 }),
  SLACK_FANOUT_POST_BURST: define({ parser: number('above zero'), default: 10 }),
  PAGER_DUTY_TRIGGERS_PER_WINDOW: define({ parser: number('zero'), default: 120 }),
  PAGER_DUTY_TRIGGER_WINDOW_SECONDS: define({ parser: number('above zero'), default: 60 }),
  FOLLOWERS_NOTE_SETTLE_SECONDS: define({ parser: number('above zero'), default: 10 }),
  LOG_LEVEL: define({ parser: oneOf(LOG_LEVELS), default: 'info' }),
  SLACK_API_URL: define({ parser: baseUrl, default: 'https://slack.com/api/' }),
  PAGER_DUTY_EVENTS_URL: define({ parser: baseUrl, default: 'https://events.pagerduty.com/' }),
  PAGER_DUTY_API_URL: define({ parser: baseUrl, default: 'https://api.pagerduty.com/' }),

  SECRETS_MANAGER_SECRET_ID: define({ parser: text, default: undefined }),
  SLACK_SIGNING_SECRET: define({ parser: text, default: undefined }),
  PAGER_DUTY_SIGNING_KEY: define({ parser: text, default: undefined }),
  SLACK_BOT_TOKEN: define({ parser: text, default: undefined }),
  PAGER_DUTY_EVENTS_API_KEY: define({ parser: text, default: undefined }),
  PAGER_DUTY_REST_API_KEY: define({ parser: text, default: undefined }),

  SLACK_EVENTS_QUEUE_URL: define({ parser: text, default: undefined }),
  SLACK_EVENTS_DLQ_URL: define({ parser: text, default: undefined }),
  PAGERDUTY_EVENTS_QUEUE_URL: define({ parser: text, default: undefined }),
  PAGERDUTY_EVENTS_DLQ_URL: define({ parser: text, default: undefined }),
  TABLE_NAME: define({ parser: text, default: undefined }),
  STAGE: define({ parser: text, default: 'local' }),

  PORT: define({ parser: port, default: 3000 }),
  PD_ROUTER_DATA_DIR: define({ parser: text, default: undefined }),
  PD_ROUTER_URL: define({ parser: text, default: undefined }),
  PD_ROUTER_ADMIN_TOKEN: define({ parser: text, default: undefined }),
  PD_SANDBOX_GROUPING: define({ parser: oneOf(['on', 'off']), default: 'off' }),
  PD_ROUTER_RATE_LIMITS: define({ parser: oneOf(['on', 'off']), default: 'off' }),
} as const;

export type SettingName = keyof typeof SETTINGS;

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
