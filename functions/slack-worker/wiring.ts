import { ENV, type Env } from '../../lib/runtime/config';
import { parseSlackQueueEvent } from '../../lib/events';
import type { Severity } from '../../lib/pagerduty/api';
import { createWorkerHandler, type WorkerParts } from '../shared/worker-runtime';
import { makeSlackWorker } from './slack-worker';

const SEVERITIES: readonly Severity[] = ['critical', 'error', 'warning', 'info'];

export function createSlackWorkerHandler(env: Env, overrides: Partial<Pick<WorkerParts, 'slack' | 'pagerDuty' | 'checkpoint'>> = {}) {
  const severity = SEVERITIES.find((s) => s === env.PAGER_DUTY_SEVERITY) ?? 'critical';
  return createWorkerHandler(
    env,
    {
      queue: 'slack',
      name: 'slack-worker',
      queueEnv: ENV.slackQueueUrl,
      dlqEnv: ENV.slackDlqUrl,
      parse: parseSlackQueueEvent,
      logContext: (event) => ({ eventId: event.id, channel: event.channel }),
      build: ({ config, ...parts }) =>
        makeSlackWorker({
          ...parts,
          config: { pingPhrase: config.pingPhrase, slashCommand: config.slashCommand, supportContact: config.supportContact, showResponderNames: config.showResponderNames, severity, ...(config.pagerDutyFromEmail ? { pagerDutyFromEmail: config.pagerDutyFromEmail } : {}), ...(config.slackAppId ? { slackAppId: config.slackAppId } : {}) },
        }),
    },
    overrides,
  );
}
