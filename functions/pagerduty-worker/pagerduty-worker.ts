import type { IncidentStatus, PagerDutyEventType, PagerDutyIncidentEvent, PagerDutyQueueEvent } from '../../lib/events';
import type { PagerDutyApi } from '../../lib/pagerduty/api';
import { METRIC_NAMES } from '../../lib/runtime/metrics';
import { statusOf } from '../../lib/pagerduty/normalize';
import { PermanentError, TransientError } from '../../lib/runtime/errors';
import type { Logger } from '../../lib/runtime/log';
import { handledTogetherMessage, incidentUpdateMessage, statusUpdateMessage } from '../../lib/slack/messages';
import { channelScope, type SlackApi } from '../../lib/slack/web-api';
import type { Effects } from '../../lib/store/effects';
import { toldByReconciler, type IncidentLink, type IncidentLinks } from '../../lib/store/incident-links';
import { unapprovedOrgs, type Customers } from '../../lib/store/customers';
import { customerView, shownPerson, type Happening } from '../../lib/tenancy/customer-view';
import { incidentTag, makeOwnership } from '../../lib/tenancy/ownership';
import type { EventQueue } from '../../lib/runtime/queue';
import type { Pacer } from '../../lib/store/pacer';
import { makeConfirmationRefresh } from './confirmation-refresh';

export interface PagerDutyWorkerDeps {
  links: IncidentLinks;
  customers: Customers;
  effects: Effects;
  slack: SlackApi;
  pagerDuty: PagerDutyApi;
  /** This worker's own queue (confirmation refreshes) and the pace they go out at. */
  queue: EventQueue;
  pacer: Pacer;
  config: { showResponderNames: boolean };
  checkpoint?: (step: string) => void;
}

/**
 * What each PagerDuty event type means to a customer, in pd-router's words; undefined for the
 * types that change nothing a customer is shown (a priority is the provider's business).
 */
function happeningOf(event: PagerDutyIncidentEvent, showNames: boolean): Happening | undefined {
  const by = shownPerson(event.agentName, showNames);
  const kinds: Record<PagerDutyEventType, Happening | undefined> = {
    'incident.triggered': { kind: 'opened' },
    'incident.acknowledged': { kind: 'acknowledged', by },
    'incident.unacknowledged': { kind: 'unacknowledged' },
    'incident.reassigned': { kind: 'reassigned', to: event.incident.assignees.map((name) => shownPerson(name, showNames)) },
    'incident.escalated': { kind: 'escalated' },
    'incident.delegated': { kind: 'delegated' },
    'incident.reopened': { kind: 'reopened', by },
    'incident.resolved': { kind: 'resolved', by },
    'incident.priority_updated': undefined,
    // Told in its own words (statusUpdateMessage), not as a change of the incident.
    'incident.status_update_published': undefined,
  };
  return kinds[event.eventType];
}

/**
 * The pagerduty-worker's logic: find every escalation an incident holds (lib/tenancy/ownership.ts)
 * and tell each one's channel, in its own thread, from its own link only.
 */
export function makePagerDutyWorker(deps: PagerDutyWorkerDeps) {
  const checkpoint = (step: string) => deps.checkpoint?.(step);
  const ownership = makeOwnership(deps);
  const confirmations = makeConfirmationRefresh(deps);

  /**
   * A customer channel shared with an organization nobody approved hears nothing until the
   * provider approves it (`npm run customers -- approve`); the reconciler catches it up after.
   */
  async function paused(link: IncidentLink, logger: Logger): Promise<boolean> {
    const customer = await deps.customers.get(link.channel);
    if (!customer || !unapprovedOrgs(customer).length) return false;
    logger.warn('update held: the channel is shared with an organization nobody approved', { organizations: unapprovedOrgs(customer) });
    return true;
  }

  /** Record the status and post, once each, what one channel should read about this event. */
  async function tellChannel(link: IncidentLink, event: PagerDutyIncidentEvent, candidates: { effectKey: string; build: (link: IncidentLink) => ReturnType<typeof incidentUpdateMessage> }[], status: { value: IncidentStatus; at: string } | undefined, logger: Logger) {
    if (await paused(link, logger)) return;
    if (!link.threadTs) {
      // The confirmation that starts the thread is being posted: wait for it rather than spend every
      // attempt in the next milliseconds (RETRY_BASE_SECONDS may be small).
      throw new TransientError('the escalation has no thread yet; retrying once its confirmation is posted', undefined, 2);
    }
    const scope = channelScope(deps.slack, link.channel);
    const threadTs = link.threadTs;
    let current = link;
    if (status) {
      const advanced = await deps.links.advanceStatus(link.dedupKey, status.value, status.at);
      if (!advanced.advanced) logger.info('older than the status shown; the status stays', { eventStatus: status.value, shownStatus: advanced.link.status });
      current = advanced.link;
      checkpoint('status-recorded');
    }
    // The reconciler may have told this change already (webhooks were lost, then came back):
    // the webhook and the reconciler post it once between them. The stored link decides, so a
    // retry of this event decides the same way (see toldByReconciler).
    const told = status !== undefined && toldByReconciler(current, status.value, status.at);
    if (told) logger.info('the reconciler already told this change; not posted again', { eventStatus: status.value });
    const post = told ? candidates.filter((message) => !message.effectKey.startsWith('pd:')) : candidates;
    const latest = current;
    for (const message of post) {
      const { performed } = await deps.effects.once(message.effectKey, () => scope.post(message.build(latest), { threadTs, effectKey: message.effectKey }), (since) => scope.findByEffectKey(message.effectKey, since, threadTs));
      if (performed && message.effectKey.startsWith('pd:')) logger.metric(METRIC_NAMES.updatesPosted[event.eventType], 1, { eventType: event.eventType });
    }
    // The confirmation is brought up to date apart, paced (see confirmation-refresh.ts).
    await confirmations.request(latest, event.id, logger);
    checkpoint('posted');
    logger.info('update posted', { eventType: event.eventType, status: latest.status });
  }

  async function handle(event: PagerDutyIncidentEvent, logger: Logger): Promise<void> {
    const { incident } = event;
    const tasks: Promise<void>[] = [];
    if (incident.mergedInto) {
      // Merged away: the escalation is not resolved, it goes on in the target incident, whose
      // own status (not this one's "resolved") is what the channel is shown from now on.
      let moved = await ownership.moveOnMerge({ id: incident.id, ...(incident.incidentKey ? { incidentKey: incident.incidentKey } : {}) }, incident.mergedInto, logger);
      if (!moved.length) return unlinked(logger);
      let target = await deps.pagerDuty.getIncident(incident.mergedInto);
      // The target may itself have been merged on (its merge event processed first, in its own
      // queue group): carry the links along the chain to the incident that is still worked on.
      for (let hop = 0; target?.mergedInto && target.mergedInto !== target.id && hop < 5; hop++) {
        // Only this merge's links are told here; the target's own were told by its own merge.
        const ours = new Set(moved.map((link) => link.dedupKey));
        const carried = new Map((await ownership.moveOnMerge({ id: target.id }, target.mergedInto, logger)).filter((link) => ours.has(link.dedupKey)).map((link) => [link.dedupKey, link]));
        moved = moved.map((link) => carried.get(link.dedupKey) ?? link);
        target = await deps.pagerDuty.getIncident(target.mergedInto);
      }
      checkpoint('incident-attached');
      for (const link of moved) {
        const channelLogger = logger.child({ channel: link.channel, dedupKey: link.dedupKey });
        const status = target?.status ? { value: target.status, at: event.occurredAt } : undefined;
        tasks.push(tellChannel(link, event, [{ effectKey: `joined:${link.dedupKey}:${incidentTag(incident.mergedInto)}`, build: (l) => handledTogetherMessage(customerView(l)) }], status, channelLogger));
      }
    } else {
      const held = await ownership.heldBy({ id: incident.id, ...(incident.incidentKey ? { incidentKey: incident.incidentKey } : {}) }, logger);
      if (!held.length) return unlinked(logger);
      checkpoint('incident-attached');
      const eventStatus = statusOf(event);
      for (const link of held) {
        // Each channel's own names rule, as its customer had it when it escalated.
        const happening = happeningOf(event, link.showNames ?? deps.config.showResponderNames);
        const channelLogger = logger.child({ channel: link.channel, dedupKey: link.dedupKey });
        const posts = [];
        // Grouped into an incident that is not its own: said once, on the first of its events seen.
        // (A merge is told by the merge event itself, in the merged incident's queue group; telling it
        // here too would race that group for the same message.)
        if (link.heldBy === 'grouped') {
          posts.push({ effectKey: `joined:${link.dedupKey}:${incidentTag(incident.id)}`, build: (l: IncidentLink) => handledTogetherMessage(customerView(l)) });
        }
        if (happening) posts.push({ effectKey: `pd:${event.id}:${link.dedupKey}`, build: (l: IncidentLink) => incidentUpdateMessage(customerView(l), happening) });
        const update = event.statusUpdate;
        if (update) {
          const by = shownPerson(event.agentName, deps.config.showResponderNames);
          posts.push({ effectKey: `pd:${event.id}:${link.dedupKey}`, build: (l: IncidentLink) => statusUpdateMessage(customerView(l), update, by) });
        }
        tasks.push(tellChannel(link, event, posts, eventStatus ? { value: eventStatus, at: event.occurredAt } : undefined, channelLogger));
      }
    }
    // Each channel on its own: one channel's refusal or wait never holds back another's update.
    const results = await Promise.allSettled(tasks);
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
    for (const failure of failures) {
      if (failure instanceof PermanentError) {
        logger.warn('Slack refused our message to a channel; dropped', { reason: failure.code });
        logger.metric(METRIC_NAMES.slackChannelUnavailable);
      }
    }
    const retryable = failures.find((failure) => !(failure instanceof PermanentError));
    if (retryable) throw retryable;
  }

  function unlinked(logger: Logger) {
    logger.info('incident holds no escalation from Slack; nothing posted');
    logger.metric(METRIC_NAMES.unlinkedIncidentEvents);
  }

  return async function handlePagerDutyEvent(event: PagerDutyQueueEvent, context: { logger: Logger; finalAttempt: boolean }): Promise<void> {
    try {
      if (event.kind === 'confirmation.refresh') await confirmations.handle(event, context.logger);
      else await handle(event, context.logger);
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
