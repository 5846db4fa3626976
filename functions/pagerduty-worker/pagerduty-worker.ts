import { WEBHOOK_MAX_AGE_MS, type PagerDutyQueueEvent } from '../../lib/events';
import { METRIC_NAMES } from '../../lib/runtime/metrics';
import { PermanentError } from '../../lib/errors';
import type { Logger } from '../../lib/runtime/log';

import { makePagerDutyTools, type PagerDutyWorkerDeps } from './tools';
import { handleIncidentEvent, handleLink } from './incident-event';

export type { PagerDutyWorkerDeps } from './tools';
export { THREAD_WAIT_MS } from './tell';

/**
 * The pagerduty-worker's logic: find every escalation an incident holds (lib/tenancy/ownership.ts)
 * and tell each one's channel, in its own thread, from its own link only. Which step each queued
 * event is for: a confirmation to refresh, one channel's part of an event, or a webhook.
 */
export function makePagerDutyWorker(deps: PagerDutyWorkerDeps) {
  const tools = makePagerDutyTools(deps);
  return async function handlePagerDutyEvent(event: PagerDutyQueueEvent, context: { logger: Logger; attempt?: number; finalAttempt: boolean }): Promise<void> {
    try {
      if (event.kind === 'confirmation.refresh') await tools.confirmations.handle(event, context.logger);
      else if (event.kind === 'incident.link') await handleLink(tools, event, context.logger, (context.attempt ?? 1) > 1);
      else if (event.kind === 'incident.followers') await tools.followersNote.handle(event, context.logger);
      else if (tools.now() - Date.parse(event.occurredAt) > WEBHOOK_MAX_AGE_MS) {
        // Older than any delivery PagerDuty still retries: a replayed body, never posted.
        context.logger.warn('a webhook older than PagerDuty retries a delivery was refused; nothing posted', { occurredAt: event.occurredAt, maxAgeHours: WEBHOOK_MAX_AGE_MS / 3_600_000 });
        context.logger.metric(METRIC_NAMES.staleWebhooksRefused);
      } else await handleIncidentEvent(tools, event, context.logger, (context.attempt ?? 1) > 1);
    } catch (error) {
      // PagerDuty answering 4xx about an incident (deleted, or merged and gone) will answer the
      // same on every retry: log it and let the message go instead of walking it to the DLQ.
      if (error instanceof PermanentError) {
        context.logger.warn('PagerDuty or Slack refused for good; the event is dropped', { reason: error.code });
        context.logger.metric(METRIC_NAMES.permanentlyRefusedEvents);
        return;
      }
      throw error;
    }
  };
}
