import type { Effects } from '../../lib/effects';
import { PermanentError, TransientError } from '../../lib/errors';
import type { PagerDutyIncidentEvent } from '../../lib/events';
import type { IncidentLink, IncidentLinks } from '../../lib/incident-links';
import type { Logger } from '../../lib/log';
import { confirmationMessage, incidentUpdateMessage } from '../../lib/messages';
import type { PagerDutyApi } from '../../lib/pagerduty';
import { statusOf } from '../../lib/pagerduty-normalize';
import { channelScope, type SlackApi } from '../../lib/slack';

export interface PagerDutyWorkerDeps {
  links: IncidentLinks;
  effects: Effects;
  slack: SlackApi;
  pagerDuty: PagerDutyApi;
  config: { showResponderNames: boolean };
  checkpoint?: (step: string) => void;
}

/** The pagerduty-worker's logic: find the channel an incident belongs to and tell it, and only it. */
export function makePagerDutyWorker(deps: PagerDutyWorkerDeps) {
  const checkpoint = (step: string) => deps.checkpoint?.(step);

  /** The link by incident_key (our dedup_key), by an incident id seen before, or through the incident's alerts. */
  async function findLink(event: PagerDutyIncidentEvent, logger: Logger): Promise<IncidentLink | undefined> {
    const { incident } = event;
    if (incident.incidentKey) {
      const link = await deps.links.get(incident.incidentKey);
      if (link) return link;
    }
    const known = await deps.links.findByIncidentId(incident.id);
    if (known || incident.incidentKey) return known;
    for (const key of await deps.pagerDuty.alertKeys(incident.id)) {
      const link = await deps.links.get(key);
      if (link) {
        logger.info('link found through the incident alerts');
        return link;
      }
    }
    return undefined;
  }

  return async function handlePagerDutyEvent(event: PagerDutyIncidentEvent, context: { logger: Logger; finalAttempt: boolean }): Promise<void> {
    let logger = context.logger;
    let link = await findLink(event, logger);
    if (!link) {
      logger.info('incident was not raised from Slack; nothing posted');
      logger.metric('UnlinkedIncidentEvents');
      return;
    }
    logger = logger.child({ channel: link.channel, dedupKey: link.dedupKey });
    if (link.incidentId !== event.incident.id || (event.incident.number !== undefined && link.incidentNumber === undefined)) {
      link = await deps.links.attachIncident(link.dedupKey, {
        id: event.incident.id,
        ...(event.incident.number !== undefined ? { number: event.incident.number } : {}),
        ...(event.incident.htmlUrl ? { url: event.incident.htmlUrl } : {}),
        ...(event.incident.title ? { title: event.incident.title } : {}),
      });
      checkpoint('incident-attached');
    }
    const status = statusOf(event);
    if (status) {
      const result = await deps.links.advanceStatus(link.dedupKey, status, event.occurredAt);
      link = result.link;
      if (!result.advanced) logger.info('older than the status shown; the status stays', { eventStatus: status, shownStatus: link.status });
      checkpoint('status-recorded');
    }
    // The confirmation that starts the thread is being posted: wait for it rather than spend every
    // attempt in the next milliseconds (RETRY_BASE_SECONDS may be small).
    if (!link.threadTs) throw new TransientError('the escalation has no thread yet; retrying once its confirmation is posted', undefined, 1);

    const scope = channelScope(deps.slack, link.channel);
    const current = link;
    const effectKey = `pd:${event.id}`;
    try {
      await Promise.all([
        deps.effects.once(
          effectKey,
          () => scope.post(incidentUpdateMessage(current, event, current.status, deps.config.showResponderNames), { threadTs: current.threadTs!, effectKey }),
          (since) => scope.findByEffectKey(effectKey, since, current.threadTs),
        ),
        // Re-rendering the confirmation is idempotent, so it runs on every attempt.
        current.confirmationTs ? scope.update(current.confirmationTs, confirmationMessage(current)) : undefined,
      ]);
    } catch (error) {
      if (error instanceof PermanentError) {
        logger.warn('Slack refused our message to this channel; dropped', { reason: error.code });
        logger.metric('SlackChannelUnavailable');
        return;
      }
      throw error;
    }
    checkpoint('posted');
    logger.info('update posted', { eventType: event.eventType, status: current.status });
  };
}
