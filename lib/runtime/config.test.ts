import { checkSettings, loadWorkerConfig } from './config';

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
