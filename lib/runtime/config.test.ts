import { ConfigError } from '../errors';
import { loadWorkerConfig } from './config';
import { checkSettings } from './setting-docs';
import { makeLogger } from './lambda';

const WORKER_ENV = { TABLE_NAME: 't', SLACK_EVENTS_DLQ_URL: 'http://127.0.0.1:1/dlq' };
const queue = { dlqEnv: 'SLACK_EVENTS_DLQ_URL', maxReceiveCount: 5 };

describe('PAGER_DUTY_FROM_EMAIL', () => {
  it('unset or blank: no note author, so replies stay in Slack', () => {
    expect(loadWorkerConfig(WORKER_ENV, queue).pagerDutyFromEmail).toBeUndefined();
    expect(loadWorkerConfig({ ...WORKER_ENV, PAGER_DUTY_FROM_EMAIL: '  ' }, queue).pagerDutyFromEmail).toBeUndefined();
  });

  it('set: the trimmed email', () => {
    expect(loadWorkerConfig({ ...WORKER_ENV, PAGER_DUTY_FROM_EMAIL: ' oncall@provider.test ' }, queue).pagerDutyFromEmail).toBe('oncall@provider.test');
  });

  it('not an email: refused at start with one line naming the variable', () => {
    expect(() => checkSettings({ PAGER_DUTY_FROM_EMAIL: 'oncall' })).toThrow('environment variable PAGER_DUTY_FROM_EMAIL must be the email of a PagerDuty user');
  });
});

describe('a mistyped setting is refused in one line naming it and the values it allows', () => {
  it.each([
    [{ PAGER_DUTY_SEVERITY: 'critcal' }, 'environment variable PAGER_DUTY_SEVERITY must be one of critical, error, warning, info, not "critcal"'],
    [{ LOG_LEVEL: 'verbose' }, 'environment variable LOG_LEVEL must be one of debug, info, warn, error, silent, not "verbose"'],
    [{ SHOW_RESPONDER_NAMES: 'maybe' }, 'environment variable SHOW_RESPONDER_NAMES must be true or false, not "maybe"'],
    [{ HTTP_TIMEOUT_MS: 'soon' }, 'environment variable HTTP_TIMEOUT_MS must be a number of 0 or more, not "soon"'],
    [{ RECONCILE_EVERY_SECONDS: '0' }, 'environment variable RECONCILE_EVERY_SECONDS must be a number greater than 0, not "0"'],
    [{ SLACK_API_URL: 'slack.com' }, 'environment variable SLACK_API_URL must be a URL, not "slack.com"'],
    [{ PD_SANDBOX_GROUPING: 'yes' }, 'environment variable PD_SANDBOX_GROUPING must be one of on, off, not "yes"'],
  ])('%j', (env, message) => {
    expect(() => checkSettings(env)).toThrow(new ConfigError(message));
  });

  it('the functions refuse it too, when they are built: the slack-worker a bad severity, any function a bad log level', () => {
    expect(() => loadWorkerConfig({ ...WORKER_ENV, PAGER_DUTY_SEVERITY: 'critcal' }, queue)).toThrow('environment variable PAGER_DUTY_SEVERITY must be one of critical, error, warning, info, not "critcal"');
    expect(() => makeLogger({ LOG_LEVEL: 'verbose' }, 'slack-ingress')).toThrow('environment variable LOG_LEVEL must be one of debug, info, warn, error, silent, not "verbose"');
  });

  it('a valid value is used, blank or unset is the default', () => {
    expect(loadWorkerConfig({ ...WORKER_ENV, PAGER_DUTY_SEVERITY: 'warning' }, queue).severity).toBe('warning');
    expect(loadWorkerConfig({ ...WORKER_ENV, PAGER_DUTY_SEVERITY: ' ' }, queue).severity).toBe('critical');
    expect(loadWorkerConfig({ ...WORKER_ENV, SLACK_API_URL: 'http://127.0.0.1:9/api' }, queue).slackApiUrl).toBe('http://127.0.0.1:9/api/');
    expect(loadWorkerConfig(WORKER_ENV, queue)).toMatchObject({ maxReceiveCount: 5, linkTtlDays: 90, retryBaseSeconds: 10, httpTimeoutMs: 8000, slackUpdatesPerMinute: 50, showResponderNames: true, supportContact: 'your account team' });
    expect(() => checkSettings({ PAGER_DUTY_SEVERITY: 'info', LOG_LEVEL: 'debug', PORT: '0' })).not.toThrow();
  });
});
