import { ENV, type Env } from '../../lib/runtime/config';
import { parsePagerDutyQueueEvent } from '../../lib/pagerduty-events';
import { makeEventQueue } from '../../lib/queue/queue';
import { makePacer, postPacing } from '../../lib/store/pacer';
import { makeOwnership } from '../../lib/tenancy/ownership';
import { makeUpdateLinks } from '../../lib/store/incident-links';
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
            : event.kind === 'incident.followers'
              ? { eventId: event.id, incidentId: event.incidentId }
              : { eventId: event.id, incidentId: event.incident.id },
      ownership: makeOwnership,
      links: makeUpdateLinks,
      own: ({ config, db, sqs, queueUrl }) => ({
        /** The worker's own queue: confirmation refreshes and a fan-out's per-link events. */
        queue: makeEventQueue(sqs, queueUrl),
        /** Turns under Slack's chat.update limit, shared by every invocation. */
        pacer: makePacer(db, config.tableName, { perMinute: config.slackUpdatesPerMinute }),
        /** Turns under Slack's workspace-wide chat.postMessage limit, for the posts of webhooks and fan-outs. */
        ...postPacing(db, config.tableName, config),
      }),
      build: ({ config, ...parts }) =>
        makePagerDutyWorker({ ...parts, config: { showResponderNames: config.showResponderNames, followersNoteSettleSeconds: config.followersNoteSettleSeconds, ...(config.pagerDutyFromEmail ? { pagerDutyFromEmail: config.pagerDutyFromEmail } : {}) } }),
    },
    overrides,
  );
}
