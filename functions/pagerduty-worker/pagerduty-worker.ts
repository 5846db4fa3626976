import { EVENT_CONTRACT_VERSION, pagerDutyRouting, WEBHOOK_MAX_AGE_MS, type IncidentLinkEvent, type IncidentStatus, type PagerDutyEventType, type PagerDutyIncidentEvent, type PagerDutyQueueEvent } from '../../lib/events';
import type { PagerDutyApi } from '../../lib/pagerduty/api';
import { METRIC_NAMES } from '../../lib/runtime/metrics';
import { statusOf } from '../../lib/pagerduty/normalize';
import { PermanentError, WaitForTurnError } from '../../lib/errors';
import type { Logger } from '../../lib/runtime/log';
import { combinedStatusUpdateMessage, handledTogetherMessage, incidentUpdateMessage, statusUpdateMessage } from '../../lib/slack/messages';
import { channelScope, type SlackApi } from '../../lib/slack/web-api';
import type { Effects } from '../../lib/store/effects';
import { toldByReconciler, type IncidentLink, type IncidentLinks } from '../../lib/store/incident-links';
import type { Customers } from '../../lib/store/customers';
import { makeDeliveryGate } from '../../lib/escalation/delivery-gate';
import { postOnce } from '../../lib/escalation/once';
import { customerView, shownPerson, shownStatusUpdate, type Happening } from '../../lib/tenancy/customer-view';
import { followMerges, incidentTag, type Ownership } from '../../lib/tenancy/ownership';
import { makeAudience, statusUpdateTextShown } from '../../lib/tenancy/audience';
import { isDedupKey } from '../../lib/dedup-key';
import type { EventQueue } from '../../lib/runtime/queue';
import type { Pacer } from '../../lib/store/pacer';
import { historyOf, type History } from '../../lib/store/history';
import { makeConfirmationRefresh } from './confirmation-refresh';

/** How long an update waits for a slash command's confirmation (its thread) before it is dropped. */
export const THREAD_WAIT_MS = 30 * 60 * 1000;
const NO_THREAD = 'no_thread';

export interface PagerDutyWorkerDeps {
  links: IncidentLinks;
  /** Which escalations an incident holds (the only module that binds a link to one). */
  ownership: Ownership;
  customers: Customers;
  effects: Effects;
  slack: SlackApi;
  pagerDuty: PagerDutyApi;
  /** This worker's own queue (confirmation refreshes) and the pace they go out at. */
  queue: EventQueue;
  pacer: Pacer;
  /** The escalation history (acknowledged, resolved, handled together); absent in tests of other things. */
  history?: History;
  /** `pagerDutyFromEmail`: the PagerDuty user that notes telling on-call who follows an incident are added as; unset: none are. */
  config: { showResponderNames: boolean; pagerDutyFromEmail?: string };
  checkpoint?: (step: string) => void;
  now?: () => number;
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
  const now = deps.now ?? Date.now;
  const { ownership } = deps;
  const gate = makeDeliveryGate({ customers: deps.customers });
  const confirmations = makeConfirmationRefresh({ ...deps, gate });
  const audience = makeAudience({ ...deps, ...(deps.config.pagerDutyFromEmail ? { fromEmail: deps.config.pagerDutyFromEmail } : {}) });

  /**
   * The delivery gate (lib/escalation/delivery-gate.ts), asked for every channel told, fan-out
   * included: a channel removed (or added again since this escalation) hears nothing more; one
   * shared with an organization nobody approved hears nothing until the provider approves it
   * (`npm run customers -- approve`), and the reconciler catches it up after.
   */
  async function refused(link: IncidentLink, logger: Logger): Promise<boolean> {
    return !(await gate({ path: 'incident-update', channel: link.channel, link }, logger)).allowed;
  }

  /** Record the status and post, once each, what one channel should read about this event. */
  async function tellChannel(link: IncidentLink, event: PagerDutyIncidentEvent, candidates: { effectKey: string; build: (link: IncidentLink) => ReturnType<typeof incidentUpdateMessage> }[], status: { value: IncidentStatus; at: string } | undefined, logger: Logger) {
    if (await refused(link, logger)) return;
    if (!link.threadTs) {
      // A slash command's confirmation starts its thread and is being posted: the update waits its
      // turn (2 s at a time, and never into the DLQ: a busy channel's confirmation may take a while
      // under Slack's limits). One that never came (Slack refused it for good) is not waited for forever.
      if (now() - Date.parse(link.createdAt) > THREAD_WAIT_MS) throw new PermanentError(NO_THREAD, 'the escalation never got its thread (its confirmation was not posted)');
      throw new WaitForTurnError('the escalation has no thread yet; retrying once its confirmation is posted', undefined, 2);
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
      const { performed } = await postOnce(deps.effects, scope, message.effectKey, message.build(latest), threadTs);
      if (performed && message.effectKey.startsWith('pd:')) logger.metric(METRIC_NAMES.updatesPosted[event.eventType], 1, { eventType: event.eventType });
    }
    // The confirmation is brought up to date apart, paced (see confirmation-refresh.ts).
    await confirmations.request(latest, event.id, logger);
    checkpoint('posted');
    logger.info('update posted', { eventType: event.eventType, status: latest.status });
  }

  type Post = { effectKey: string; build: (link: IncidentLink) => ReturnType<typeof incidentUpdateMessage> };

  /**
   * What one channel is told about an event, from its own link: the posts (each with its effect
   * key) and the status to record. `targetStatus`: for a merge, the status of the incident the
   * escalation now goes on in. `followers`: how many escalations the incident held when the event
   * was handled (undefined: more than one).
   */
  function tellingOf(event: PagerDutyIncidentEvent, link: IncidentLink, targetStatus: IncidentStatus | undefined, followers: number | undefined): { posts: Post[]; status?: { value: IncidentStatus; at: string } } {
    const { incident } = event;
    if (incident.mergedInto) {
      // Merged away: the escalation is not resolved, it goes on in the target incident, whose
      // own status (not this one's "resolved") is what the channel is shown from now on.
      return {
        posts: [{ effectKey: `joined:${link.dedupKey}:${incidentTag(incident.mergedInto)}`, build: (l) => handledTogetherMessage(customerView(l)) }],
        ...(targetStatus ? { status: { value: targetStatus, at: event.occurredAt } } : {}),
      };
    }
    // Each channel's own names rule, as its customer had it when it escalated.
    const showNames = link.showNames ?? deps.config.showResponderNames;
    const happening = happeningOf(event, showNames);
    const posts: Post[] = [];
    // Grouped into an incident that is not its own: said once, on the first of its events seen.
    // (A merge is told by the merge event itself, in the merged incident's queue group; telling it
    // here too would race that group for the same message.)
    if (link.heldBy === 'grouped') posts.push({ effectKey: `joined:${link.dedupKey}:${incidentTag(incident.id)}`, build: (l) => handledTogetherMessage(customerView(l)) });
    if (happening) posts.push({ effectKey: `pd:${event.id}:${link.dedupKey}`, build: (l) => incidentUpdateMessage(customerView(l), happening) });
    const update = event.statusUpdate;
    if (update) {
      // On-call's text only on an incident that is this escalation's own and holds no other: on a
      // combined one it was written for everyone the incident concerns (and may name them).
      const by = shownPerson(event.agentName, showNames);
      const text = shownStatusUpdate(update, link, followers);
      const build = text !== undefined ? (l: IncidentLink) => statusUpdateMessage(customerView(l), text, by) : (l: IncidentLink) => combinedStatusUpdateMessage(customerView(l));
      posts.push({ effectKey: `pd:${event.id}:${link.dedupKey}`, build });
    }
    const eventStatus = statusOf(event);
    return { posts, ...(eventStatus ? { status: { value: eventStatus, at: event.occurredAt } } : {}) };
  }

  /**
   * The history's part of an event for one escalation: the status it reports, and whether the
   * escalation is handled together with others (how many, never who). Recorded before the channel
   * is told, whatever the gate says of telling it: on-call's times are what they are.
   */
  async function record(link: IncidentLink, event: PagerDutyIncidentEvent, status: { value: IncidentStatus; at: string } | undefined, followers: number | undefined): Promise<void> {
    const { history } = deps;
    if (!history) return;
    if (status) await history.recordStatus(link, status.value, status.at);
    const together = event.incident.mergedInto !== undefined || link.heldBy === 'grouped' || link.heldBy === 'merged';
    const others = followers !== undefined && followers > 1 ? followers - 1 : together ? 1 : 0;
    if (others) await history.record(historyOf(link), { step: 'handled-together', count: others });
    if (event.incident.mergedInto) await history.record(historyOf(link), { step: 'merged' });
  }

  /** Tell one channel; a channel Slack refuses for good (archived, the bot removed) is dropped, not retried. */
  async function tellOne(link: IncidentLink, event: PagerDutyIncidentEvent, targetStatus: IncidentStatus | undefined, followers: number | undefined, logger: Logger): Promise<void> {
    const channelLogger = logger.child({ channel: link.channel, dedupKey: link.dedupKey });
    const { posts, status } = tellingOf(event, link, targetStatus, followers);
    await record(link, event, status, followers);
    try {
      await tellChannel(link, event, posts, status, channelLogger);
    } catch (error) {
      if (!(error instanceof PermanentError)) throw error;
      if (error.code === NO_THREAD) return channelLogger.warn('the escalation never got its thread (its confirmation was not posted); update dropped', { waitedMinutes: THREAD_WAIT_MS / 60_000 });
      channelLogger.warn('Slack refused our message to a channel; dropped', { reason: error.code });
      channelLogger.metric(METRIC_NAMES.slackChannelUnavailable);
    }
  }

  async function handle(event: PagerDutyIncidentEvent, logger: Logger): Promise<void> {
    const { incident } = event;
    let links: IncidentLink[];
    let targetStatus: IncidentStatus | undefined;
    /** The incident the links are held by now (a merge's target), for the note telling on-call who follows it. */
    let holder: string | undefined = incident.id;
    if (incident.mergedInto) {
      let moved = await ownership.moveOnMerge({ id: incident.id, ...(incident.incidentKey ? { incidentKey: incident.incidentKey } : {}) }, incident.mergedInto, logger);
      if (!moved.length) return unlinked(logger);
      // The target may itself have been merged on (its merge event processed first, in its own
      // queue group): carry the links along the chain to the incident that is still worked on.
      const target = await followMerges(deps.pagerDuty, incident.mergedInto, async (merged, into) => {
        // Only this merge's links are told here; the target's own were told by its own merge.
        const ours = new Set(moved.map((link) => link.dedupKey));
        const carried = new Map((await ownership.moveOnMerge({ id: merged.id }, into, logger)).filter((link) => ours.has(link.dedupKey)).map((link) => [link.dedupKey, link]));
        moved = moved.map((link) => carried.get(link.dedupKey) ?? link);
        return true;
      });
      links = moved;
      targetStatus = target?.status;
      holder = target?.id;
    } else {
      const ref = { id: incident.id, ...(incident.incidentKey ? { incidentKey: incident.incidentKey } : {}) };
      // The channels already known to follow the incident hear first: asking PagerDuty which
      // alerts it holds (grouping) is for channels not yet known, and would otherwise sit in
      // series before every update. On-call's text is the exception: whether it may be shown
      // depends on who else the incident holds, so it waits for the answer.
      const known = event.statusUpdate === undefined ? await ownership.known(ref, logger) : [];
      if (known.length) {
        checkpoint('incident-attached');
        await tellAll(known, event, logger);
      }
      links = await ownership.heldBy(ref, logger, known);
      if (!links.length) return unlinked(logger);
      if (known.length) {
        const told = new Set(known.map((link) => link.dedupKey));
        const found = links.filter((link) => !told.has(link.dedupKey));
        if (found.length) {
          logger.info('the incident holds escalations found after its known ones were told', { found: found.length });
          await tellAll(found, event, logger);
        }
        return announce(holder, links, logger);
      }
    }
    checkpoint('incident-attached');
    if (links.length === 1) {
      const [link] = links as [IncidentLink];
      // Before on-call's text is shown, the incident's alerts as PagerDuty has them now: another
      // escalation's alert may be in it before this worker bound it (a merge into it not yet
      // handled), or the incident merged on (its own alert gone) after the update was written.
      const alone = event.statusUpdate === undefined || !statusUpdateTextShown(link, 1) || holdsOnly(await deps.pagerDuty.alertKeys(incident.id), link.dedupKey);
      await tellOne(link, event, targetStatus, alone ? 1 : undefined, logger);
      return announce(holder, incident.mergedInto ? undefined : links, logger);
    }
    // Many channels (an outage merged into one incident): each is told by a message of its own, in
    // its escalation's FIFO group, so a channel that must wait (a 429, its thread not yet posted)
    // is retried alone. Retrying this event instead would redo every channel's reads and claims to
    // post the few that waited, hundreds of times under Slack's workspace limit.
    await fanOut(links, event, targetStatus, logger);
    await announce(holder, incident.mergedInto ? undefined : links, logger);
  }

  /**
   * Tell channels about an event that needs no answer from PagerDuty to be told (not a merge, not
   * on-call's text): one inline, several each by a message of its own (see handle).
   */
  async function tellAll(links: IncidentLink[], event: PagerDutyIncidentEvent, logger: Logger): Promise<void> {
    if (links.length === 1) return tellOne(links[0]!, event, undefined, 1, logger);
    await fanOut(links, event, undefined, logger);
  }

  async function fanOut(links: IncidentLink[], event: PagerDutyIncidentEvent, targetStatus: IncidentStatus | undefined, logger: Logger): Promise<void> {
    await Promise.all(
      links.map((link) => {
        const perLink: IncidentLinkEvent = { v: EVENT_CONTRACT_VERSION, kind: 'incident.link', id: `${event.id}:${link.dedupKey}`, dedupKey: link.dedupKey, ...(targetStatus ? { targetStatus } : {}), followers: links.length, event };
        return deps.queue.send(perLink, pagerDutyRouting(perLink));
      }),
    );
    logger.info('fanned out to each channel', { channels: links.length });
  }

  /**
   * Tell on-call who follows the incident, when that changed (lib/tenancy/audience.ts). `held`: the
   * links it holds, as just found; for a merge's target, read again (its own links as well as the moved ones).
   */
  async function announce(incidentId: string | undefined, held: IncidentLink[] | undefined, logger: Logger): Promise<void> {
    if (!incidentId) return;
    const links = held ?? (await deps.links.followersOf(incidentId)).filter((link) => link.state !== 'rejected');
    await audience.announce(incidentId, links, logger);
  }

  /** The incident's alerts are this escalation's own and none of another escalation (alerts of the provider's own monitoring may be there too). */
  function holdsOnly(alertKeys: string[], dedupKey: string): boolean {
    return alertKeys.includes(dedupKey) && alertKeys.every((key) => key === dedupKey || !isDedupKey(key));
  }

  /** One channel's part of an event that concerns many. */
  async function handleLink(message: IncidentLinkEvent, logger: Logger): Promise<void> {
    const link = await deps.links.get(message.dedupKey);
    if (!link) return logger.warn('the escalation is gone (its link expired); nothing posted');
    await tellOne(link, message.event, message.targetStatus, message.followers, logger);
  }

  function unlinked(logger: Logger) {
    logger.info('incident holds no escalation from Slack; nothing posted');
    logger.metric(METRIC_NAMES.unlinkedIncidentEvents);
  }

  return async function handlePagerDutyEvent(event: PagerDutyQueueEvent, context: { logger: Logger; finalAttempt: boolean }): Promise<void> {
    try {
      if (event.kind === 'confirmation.refresh') await confirmations.handle(event, context.logger);
      else if (event.kind === 'incident.link') await handleLink(event, context.logger);
      else if (now() - Date.parse(event.occurredAt) > WEBHOOK_MAX_AGE_MS) {
        // Older than any delivery PagerDuty still retries: a replayed body, never posted.
        context.logger.warn('a webhook older than PagerDuty retries a delivery was refused; nothing posted', { occurredAt: event.occurredAt, maxAgeHours: WEBHOOK_MAX_AGE_MS / 3_600_000 });
        context.logger.metric(METRIC_NAMES.staleWebhooksRefused);
      } else await handle(event, context.logger);
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
