import type { IncidentStatus } from '../../lib/events';
import type { IncidentState, PagerDutyApi } from '../../lib/pagerduty/api';
import { PdRouterError, PermanentError, RateLimitedError } from '../../lib/errors';
import type { Logger } from '../../lib/runtime/log';
import { METRIC_NAMES } from '../../lib/runtime/metrics';
import { handledTogetherMessage, incidentUpdateMessage, escalationNotOpenedMessage, promptDecidedMessage } from '../../lib/slack/messages';
import type { Customers } from '../../lib/store/customers';
import { isGone, makeDeliveryGate } from '../../lib/escalation/delivery-gate';
import { postOnce } from '../../lib/escalation/once';
import { channelScope, DEAD_CHANNEL_ERRORS, type SlackApi, type SlackMessage } from '../../lib/slack/web-api';
import type { Effects } from '../../lib/store/effects';
import { CONFIRMATION_LIFETIME_MS, type IncidentLink, type IncidentLinks } from '../../lib/store/incident-links';
import { customerView, type Happening } from '../../lib/tenancy/customer-view';
import { showConfirmationNow } from '../../lib/tenancy/confirmation';
import { historyOf, type History } from '../../lib/store/history';
import { incidentTag, type Ownership } from '../../lib/tenancy/ownership';

export interface ReconcilerDeps {
  links: IncidentLinks;
  /** Which escalations an incident holds (the only module that binds a link to one). */
  ownership: Ownership;
  customers: Customers;
  effects: Effects;
  /** The escalation history: what the reconciler learns (a status, no incident, an expired prompt) is recorded too. */
  history: History;
  slack: SlackApi;
  pagerDuty: PagerDutyApi;
  config: { noIncidentAfterSeconds: number; supportContact: string };
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  /** Called after each step that changes something; the crash tests throw here. */
  checkpoint?: (step: string) => void;
}

export interface RunContext {
  logger: Logger;
  /** Milliseconds left before the Lambda is stopped. */
  remainingMs: () => number;
  /** Stop starting new work when less than this is left (one link's calls with their retries). */
  reserveMs: number;
}

export interface RunSummary {
  examined: number;
  caughtUp: number;
  /** True when the run stopped before the end of the open links (time, or PagerDuty's rate limit). */
  stoppedEarly: boolean;
}

/** Links read from the open-link index per page. */
const PAGE_SIZE = 50;
/** A link no incident ever held is given up (taken out of the open-link index) after this long. */
const GIVE_UP_WITHOUT_INCIDENT_MS = 24 * 3600 * 1000;
/** Waits for PagerDuty's rate limit, per run; past this the rest waits for the next run. */
const MAX_RATE_LIMIT_WAITS = 3;

/** How a status the channel did not see is told: the change from the status it last showed. */
function catchUpHappening(from: IncidentStatus | undefined, to: IncidentStatus): Happening {
  if (to === 'resolved') return { kind: 'resolved', by: undefined };
  if (to === 'acknowledged') return { kind: 'acknowledged', by: undefined };
  if (from === 'resolved') return { kind: 'reopened', by: undefined };
  if (from === 'acknowledged') return { kind: 'unacknowledged' };
  return { kind: 'opened' };
}

/**
 * The reconciler's logic: for every link whose incident is not resolved (the sparse open-link
 * index, a page at a time, never a scan), read the incident's live state through ownership.locate
 * and post what the channel missed: a merge or grouping ("handled together"), a status change, a
 * resolution; and, when no incident ever held an accepted escalation, tell the channel so.
 *
 * One source among two of the same effects. A merge or grouping has one effect key on both paths
 * (`joined:<dedup key>:<incident tag>`). A status change cannot: the webhook knows its event id,
 * the reconciler only the incident's last_status_change_at. So the link's stored status decides
 * who tells it, by conditional writes: the reconciler records a status only when it differs from
 * the stored one (then it owns the post `caught:<dedup key>:<status>:<time>`), and a webhook of a
 * change the reconciler recorded, or older than it, posts nothing (toldByReconciler in
 * lib/store/incident-links.ts). Whichever writes first tells the channel; the other finds it told.
 */
export function makeReconciler(deps: ReconcilerDeps) {
  const { ownership } = deps;
  const now = deps.now ?? (() => new Date());
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const checkpoint = (step: string) => deps.checkpoint?.(step);
  const gate = makeDeliveryGate({ customers: deps.customers });

  /** Post once under `effectKey` in the link's thread; true when this call posted it. */
  async function postInThread(link: IncidentLink, effectKey: string, message: SlackMessage): Promise<boolean> {
    return (await postOnce(deps.effects, channelScope(deps.slack, link.channel), effectKey, message, link.threadTs!)).performed;
  }

  /** `contact`: whom the customer is told to contact, its own (registry `contact`) or the deployment's. */
  async function noIncidentYet(link: IncidentLink, contact: string, logger: Logger): Promise<number> {
    const acceptedAt = Date.parse(link.acceptedAt ?? link.createdAt);
    const waited = now().getTime() - acceptedAt;
    if (waited < deps.config.noIncidentAfterSeconds * 1000) return 0;
    await deps.history.record(historyOf(link), { step: 'no-incident', at: now().toISOString() });
    const told = await postInThread(link, `noincident:${link.dedupKey}`, escalationNotOpenedMessage(customerView(link), contact));
    if (told) {
      // The provider's part: someone must page on-call by hand, or fix the service's rules.
      logger.error('PagerDuty accepted an escalation but no incident holds it; the channel was told to contact support', { waitedSeconds: Math.round(waited / 1000) });
      logger.metric(METRIC_NAMES.escalationsWithoutIncident);
    }
    if (waited > GIVE_UP_WITHOUT_INCIDENT_MS) {
      await deps.links.close(link.dedupKey);
      logger.warn('no incident holds this escalation a day after it was accepted; the reconciler stops looking');
    }
    return told ? 1 : 0;
  }

  /**
   * A confirmation prompt nobody clicked within its lifetime pages no one: the prompt says so, once
   * (the same conditional decision a late click would make, so the two cannot disagree).
   */
  async function expirePrompt(link: IncidentLink, heard: boolean, logger: Logger): Promise<number> {
    if (now().getTime() - Date.parse(link.createdAt) <= CONFIRMATION_LIFETIME_MS) return 0;
    const decided = await deps.links.decide(link.dedupKey, 'expired', 'pd-router');
    if (decided.confirmation !== 'expired') return 0;
    await deps.history.recordLink(decided);
    // Expired all the same where the gate refuses the channel (it never pages), but not shown there.
    if (decided.promptTs && heard) await channelScope(deps.slack, decided.channel).update(decided.promptTs, promptDecidedMessage(customerView(decided), 'expired'));
    await deps.links.close(decided.dedupKey);
    logger.info('a confirmation prompt expired unanswered; nobody was paged');
    return 1;
  }

  /** Tell one channel what it missed; returns the number of posts made (0 when nothing was missed). */
  async function reconcileLink(start: IncidentLink, logger: Logger): Promise<number> {
    const prompt = start.state === 'pending' && start.confirmation === 'asked';
    // Pending: its trigger is in flight (the slack-worker owns it). No thread: its confirmation is being posted.
    if (!prompt && (start.state !== 'triggered' || !start.threadTs)) return 0;
    // The delivery gate: a channel removed (or added again since) hears nothing more, and its
    // escalation leaves the open-link index for good; one shared with an organization nobody
    // approved hears nothing until it is approved, and its link keeps its last shown status, so
    // the first run after approval catches it up.
    const answer = await gate({ path: 'reconciler', channel: start.channel, link: start }, logger);
    if (!answer.allowed && isGone(answer.reason)) {
      if (prompt) await deps.history.recordLink(await deps.links.decide(start.dedupKey, 'refused', 'pd-router'));
      await deps.links.close(start.dedupKey);
      logger.info('the channel is no longer a customer (or was registered again since): the escalation is closed, nothing posted');
      return 0;
    }
    if (prompt) return expirePrompt(start, answer.allowed, logger);
    if (!answer.allowed) return 0;
    const { link, incident } = await ownership.locate(start, logger);
    checkpoint('read');
    if (!incident) return link.incidentId ? 0 : noIncidentYet(link, answer.customer.contact ?? deps.config.supportContact, logger);
    return tellMissed(link, incident, logger);
  }

  async function tellMissed(link: IncidentLink, incident: IncidentState, logger: Logger): Promise<number> {
    let posted = 0;
    if ((link.heldBy === 'grouped' || link.heldBy === 'merged') && link.incidentId === incident.id) {
      if (await postInThread(link, `joined:${link.dedupKey}:${incidentTag(incident.id)}`, handledTogetherMessage(customerView(link)))) posted++;
    }
    let current = link;
    if (incident.status && incident.lastStatusChangeAt) {
      const status = incident.status;
      const at = new Date(incident.lastStatusChangeAt).toISOString();
      const recorded = await deps.links.recordReconciledStatus(link.dedupKey, status, at);
      current = recorded.link;
      checkpoint('status-recorded');
      // Ours to tell when this call recorded it, or an earlier run did and stopped before posting.
      const ours = recorded.advanced || (current.statusSource === 'reconciler' && current.status === status && current.statusAt === at);
      if (ours) {
        await deps.history.recordStatus(current, status, at);
        const happening = catchUpHappening(link.status, status);
        if (await postInThread(current, `caught:${link.dedupKey}:${status}:${at}`, incidentUpdateMessage(customerView(current), happening))) posted++;
        checkpoint('posted');
        // Re-rendering is idempotent, so a run that finds its post already made still does it.
        await showConfirmationNow(deps, current);
        // Only now, told, does a resolved link leave the open-link index: a run that stopped before
        // its post finds the link again next time (recordReconciledStatus keeps it listed).
        if (status === 'resolved') await deps.links.close(link.dedupKey);
      }
    }
    if (posted) {
      logger.info('the reconciler told a channel what no webhook had', { posts: posted, status: current.status });
      logger.metric(METRIC_NAMES.reconcilerCatchUps, posted);
    }
    return posted;
  }

  /**
   * One run over every open link. Stops early, to go on at the next run, when the Lambda's time
   * runs short or PagerDuty keeps answering 429.
   */
  return async function reconcile(context: RunContext): Promise<RunSummary> {
    const { logger } = context;
    const summary: RunSummary = { examined: 0, caughtUp: 0, stoppedEarly: false };
    let rateLimitWaits = 0;
    let cursor: Record<string, unknown> | undefined;
    do {
      const page = await deps.links.listOpen({ limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) });
      cursor = page.cursor;
      for (const link of page.links) {
        if (context.remainingMs() < context.reserveMs) {
          logger.warn('reconciler stopped before the function times out; the rest waits for the next run', { examined: summary.examined });
          return { ...summary, stoppedEarly: true };
        }
        const linkLogger = logger.child({ channel: link.channel, dedupKey: link.dedupKey });
        for (;;) {
          try {
            summary.caughtUp += await reconcileLink(link, linkLogger);
            break;
          } catch (error) {
            if (error instanceof RateLimitedError && error.service === 'pagerduty') {
              logger.metric(METRIC_NAMES.pagerDutyRateLimited);
              const waitMs = (error.retryAfterSeconds ?? 1) * 1000;
              if (++rateLimitWaits > MAX_RATE_LIMIT_WAITS || context.remainingMs() - waitMs < context.reserveMs) {
                logger.warn('PagerDuty keeps rate limiting the reconciler; the rest waits for the next run', { examined: summary.examined });
                return { ...summary, stoppedEarly: true };
              }
              logger.info('PagerDuty rate limit: waiting as it asked', { waitMs });
              await sleep(waitMs);
              continue;
            }
            if (error instanceof PermanentError) {
              logger.warn('Slack or PagerDuty refused for good; this link is skipped', { reason: error.code });
              if (DEAD_CHANNEL_ERRORS.has(error.code)) logger.metric(METRIC_NAMES.slackChannelUnavailable);
              break;
            }
            // A transient failure of one link leaves it for the next run; anything else is a bug or a crash.
            if (error instanceof PdRouterError && error.retryable) {
              logger.warn('one link could not be reconciled now; next run', { error: error.message });
              break;
            }
            throw error;
          }
        }
        summary.examined++;
      }
    } while (cursor);
    if (summary.examined || summary.caughtUp) logger.info('reconciler run finished', { ...summary });
    return summary;
  };
}
