import { ENV, type Env } from '../../lib/runtime/config';
import { parseSlackQueueEvent } from '../../lib/slack-events';
import { makeChannelReferences } from '../../lib/store/channel-references';
import { makePageBudget, NOTE_BUDGET } from '../../lib/store/page-budget';
import { makeLocator } from '../../lib/tenancy/ownership';
import { makeEscalationLinks } from '../../lib/store/incident-links';
import { makeWindowPacer } from '../../lib/store/window-pacer';
import { postPacing } from '../../lib/store/pacer';
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
      // Check Status and thread replies find where one escalation is now; only webhooks need the rest of ownership.
      ownership: makeLocator,
      links: makeEscalationLinks,
      own: ({ config, db }) => {
        const store = { ttlDays: config.linkTtlDays };
        return {
          references: makeChannelReferences(db, config.tableName),
          budget: makePageBudget(db, config.tableName, store),
          noteBudget: makePageBudget(db, config.tableName, { ...store, prefix: NOTE_BUDGET.prefix, windowMs: NOTE_BUDGET.windowMs }),
          ...postPacing(db, config.tableName, config),
          ...(config.triggersPerWindow > 0 ? { triggerPacer: makeWindowPacer(db, config.tableName, { limit: config.triggersPerWindow, windowMs: config.triggerWindowSeconds * 1000 }) } : {}),
        };
      },
      build: ({ config, ...parts }) =>
        makeSlackWorker({
          ...parts,
          config: { pingPhrase: config.pingPhrase, slashCommand: config.slashCommand, supportContact: config.supportContact, showResponderNames: config.showResponderNames, severity: config.severity, ...(config.pagerDutyFromEmail ? { pagerDutyFromEmail: config.pagerDutyFromEmail } : {}), ...(config.slackAppId ? { slackAppId: config.slackAppId } : {}) },
        }),
    },
    overrides,
  );
}
