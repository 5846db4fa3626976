import type { Effects } from '../../lib/store/effects';
import { PermanentError, TransientError } from '../../lib/runtime/errors';
import type { PagerDutyIncidentEvent } from '../../lib/events';
import type { IncidentLink, IncidentLinks } from '../../lib/store/incident-links';
import type { Logger } from '../../lib/runtime/log';
import { confirmationMessage, incidentUpdateMessage } from '../../lib/slack/messages';
import type { PagerDutyApi } from '../../lib/pagerduty/api';
import { METRIC_NAMES } from '../../lib/runtime/metrics';
import { statusOf } from '../../lib/pagerduty/normalize';
import { channelScope, type SlackApi } from '../../lib/slack/web-api';

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
    const link = await findLink(event, logger);
    if (!link) {
      logger.info('incident was not raised from Slack; nothing posted');
      logger.metric('UnlinkedIncidentEvents');
      return;
    }
    logger = logger.child({ channel: link.channel, dedupKey: link.dedupKey });
    const found = link;
    const status = statusOf(event);
    const needsAttach = found.incidentId !== event.incident.id || (event.incident.number !== undefined && found.incidentNumber === undefined);

    // Remembering the incident, recording the status and claiming the post are independent
    // writes: they go side by side, so the post waits on one round trip instead of three.
    const recorded = (async (): Promise<IncidentLink> => {
      const [attached, advanced] = await Promise.all([
        needsAttach
          ? deps.links.attachIncident(found.dedupKey, {
              id: event.incident.id,
              ...(event.incident.number !== undefined ? { number: event.incident.number } : {}),
              ...(event.incident.htmlUrl ? { url: event.incident.htmlUrl } : {}),
              ...(event.incident.title ? { title: event.incident.title } : {}),
            })
          : undefined,
        status ? deps.links.advanceStatus(found.dedupKey, status, event.occurredAt) : undefined,
      ]);
      if (needsAttach) checkpoint('incident-attached');
      if (advanced && !advanced.advanced) logger.info('older than the status shown; the status stays', { eventStatus: status, shownStatus: advanced.link.status });
      if (advanced) checkpoint('status-recorded');
      // Both wrote the same item: take the incident from one and the newest status from the other.
      const base = attached ?? found;
      return advanced ? { ...base, status: advanced.link.status, statusAt: advanced.link.statusAt } as IncidentLink : base;
    })();

    if (!found.threadTs) {
      await recorded;
      // The confirmation that starts the thread is being posted: wait for it rather than spend every
      // attempt in the next milliseconds (RETRY_BASE_SECONDS may be small).
      throw new TransientError('the escalation has no thread yet; retrying once its confirmation is posted', undefined, 1);
    }

    const scope = channelScope(deps.slack, found.channel);
    const threadTs = found.threadTs;
    const effectKey = `pd:${event.id}`;
    let current = found;
    try {
      const [posted] = await Promise.all([
        deps.effects.once(
          effectKey,
          async () => {
            current = await recorded;
            return scope.post(incidentUpdateMessage(current, event, current.status, deps.config.showResponderNames), { threadTs, effectKey });
          },
          (since) => scope.findByEffectKey(effectKey, since, threadTs),
        ),
        // Re-rendering the confirmation is idempotent, so it runs on every attempt.
        recorded.then((latest) => (latest.confirmationTs ? scope.update(latest.confirmationTs, confirmationMessage(latest)) : undefined)),
      ]);
      if (posted.performed) logger.metric(METRIC_NAMES.updatesPosted[event.eventType], 1, { eventType: event.eventType });
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
