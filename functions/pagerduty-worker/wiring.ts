import { ENV, type Env } from '../../lib/runtime/config';
import { parsePagerDutyQueueEvent } from '../../lib/events';
import { createWorkerHandler, type WorkerParts } from '../shared/worker-runtime';
import { makePagerDutyWorker } from './pagerduty-worker';

export function createPagerDutyWorkerHandler(env: Env, overrides: Partial<Pick<WorkerParts, 'slack' | 'pagerDuty' | 'checkpoint'>> = {}) {
  return createWorkerHandler(
    env,
    {
      queue: 'pagerduty',
      name: 'pagerduty-worker',
      queueEnv: ENV.pagerDutyQueueUrl,
      dlqEnv: ENV.pagerDutyDlqUrl,
      parse: parsePagerDutyQueueEvent,
      logContext: (event) =>
        event.kind === 'confirmation.refresh'
          ? { eventId: event.id, channel: event.channel, dedupKey: event.dedupKey }
          : event.kind === 'incident.link'
            ? { eventId: event.event.id, incidentId: event.event.incident.id, dedupKey: event.dedupKey }
            : { eventId: event.id, incidentId: event.incident.id },
      build: ({ config, ...parts }) => makePagerDutyWorker({ ...parts, config: { showResponderNames: config.showResponderNames, ...(config.pagerDutyFromEmail ? { pagerDutyFromEmail: config.pagerDutyFromEmail } : {}) } }),
    },
    overrides,
  );
}
