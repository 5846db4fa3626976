import { ENV, type Env } from '../../lib/runtime/config';
import { parseSlackQueueEvent } from '../../lib/events';
import { createWorkerHandler, type WorkerParts } from '../shared/worker-runtime';
import { makeSlackWorker } from './slack-worker';

export function createSlackWorkerHandler(env: Env, overrides: Partial<Pick<WorkerParts, 'slack' | 'pagerDuty' | 'checkpoint'>> = {}) {
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
          config: { pingPhrase: config.pingPhrase, slashCommand: config.slashCommand, supportContact: config.supportContact, showResponderNames: config.showResponderNames, severity: config.severity, ...(config.pagerDutyFromEmail ? { pagerDutyFromEmail: config.pagerDutyFromEmail } : {}), ...(config.slackAppId ? { slackAppId: config.slackAppId } : {}) },
        }),
    },
    overrides,
  );
}
