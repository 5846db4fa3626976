import type { IncidentStatus } from '../../lib/events';
import type { IncidentState } from '../../lib/pagerduty/api';
import type { Logger } from '../../lib/runtime/log';
import { RateLimitedError } from '../../lib/errors';
import { METRIC_NAMES } from '../../lib/runtime/metrics';
import { handledTogetherMessage, incidentUpdateMessage, escalationNotOpenedMessage, promptDecidedMessage } from '../../lib/slack/messages';
import { isGone } from '../../lib/escalation/delivery-gate';
import { postOnce } from '../../lib/escalation/once';
import { postAtTurn, postTurn } from '../../lib/store/pacer';
import { type SlackMessage } from '../../lib/slack/web-api';
import { CONFIRMATION_LIFETIME_MS, type IncidentLink } from '../../lib/store/incident-links';
import { customerView, type Happening } from '../../lib/tenancy/customer-view';
import { confirmationSaysIt } from '../../lib/escalation/confirmation';
import { requestConfirmationRefresh } from '../../lib/escalation/confirmation-refresh-request';
import { historyOf } from '../../lib/store/history';
import { incidentTag } from '../../lib/tenancy/ownership';

import type { ReconcilerTools } from './tools';
import type { ResolvedLookup } from './resolved-lookup';

/** A link no incident ever held is given up (taken out of the open-link index) after this long. */
const GIVE_UP_WITHOUT_INCIDENT_MS = 24 * 3600 * 1000;

/** How a status the channel did not see is told: the change from the status it last showed. */
function catchUpHappening(from: IncidentStatus | undefined, to: IncidentStatus): Happening {
  if (to === 'resolved') return { kind: 'resolved', by: undefined };
  if (to === 'acknowledged') return { kind: 'acknowledged', by: undefined };
  if (from === 'resolved') return { kind: 'reopened', by: undefined };
  if (from === 'acknowledged') return { kind: 'unacknowledged' };
  return { kind: 'opened' };
}


/**
 * Post once under `effectKey` in the link's thread; true when this call posted it. At a turn on the
 * lane the workers' paced posts take (lib/store/pacer.ts, postTurn): in an outage the reconciler
 * may find changes a fan-out is still telling, and its posts would otherwise spend the workspace's
 * limit under the fan-out's turns. A turn too far to wait for ends the run's posting with a
 * WaitForTurnError (reconciler.ts). The next run, minutes on, finds the turn kept if it is still
 * ahead, and a new one if it has passed (postTurn gives up a kept turn long passed): the ten links
 * examined side by side do not send ten posts at once outside the lane's count of that moment.
 */
async function postInThread(tools: ReconcilerTools, run: RunState, link: IncidentLink, effectKey: string, message: SlackMessage): Promise<boolean> {
  const { postPacer, effects } = tools.deps;
  const now = () => tools.now().getTime();
  // Told already (a webhook's post, most often): no turn is taken for it.
  if (postPacer && (await effects.done(effectKey))) return false;
  const turn = postPacer ? await postTurn(postPacer, link.team, effectKey, now) : undefined;
  return (
    await postAtTurn(postPacer, link.team, effectKey, turn, now, () => {
      // Slack refused a post of this run while this one waited for its turn: the limit is the
      // workspace's, so this one is left for the next run, unclaimed.
      if (run.slackLimited) throw new RateLimitedError('slack', 'an earlier post of this run was rate limited');
      return postOnce(effects, tools.deps.scopes(link), effectKey, message, link.threadTs!);
    })
  ).performed;
}

/** `contact`: whom the customer is told to contact, its own (registry `contact`) or the deployment's. */
async function noIncidentYet(tools: ReconcilerTools, run: RunState, link: IncidentLink, contact: string, logger: Logger): Promise<number> {
  const acceptedAt = Date.parse(link.acceptedAt ?? link.createdAt);
  const waited = tools.now().getTime() - acceptedAt;
  if (waited < tools.deps.config.noIncidentAfterSeconds * 1000) return 0;
  // An incident bound since this run read the link (its webhook came): nothing to warn about.
  if (!(await tools.deps.links.noteNoIncidentNotice(link.dedupKey, tools.now().toISOString()))) return 0;
  await tools.deps.history.record(historyOf(link), { step: 'no-incident', at: tools.now().toISOString() });
  const told = await postInThread(tools, run, link, `noincident:${link.dedupKey}`, escalationNotOpenedMessage(customerView(link), contact));
  if (told) {
    // The provider's part: someone must page on-call by hand, or fix the service's rules.
    logger.error('PagerDuty accepted an escalation but no incident holds it; the channel was told to contact support', { waitedSeconds: Math.round(waited / 1000) });
    logger.metric(METRIC_NAMES.escalationsWithoutIncident);
  }
  if (waited > GIVE_UP_WITHOUT_INCIDENT_MS) {
    await tools.deps.links.close(link.dedupKey);
    logger.warn('no incident holds this escalation a day after it was accepted; the reconciler stops looking');
  }
  return told ? 1 : 0;
}

/**
 * A confirmation prompt nobody clicked within its lifetime pages no one: the prompt says so, once
 * (the same conditional decision a late click would make, so the two cannot disagree).
 */
async function expirePrompt(tools: ReconcilerTools, link: IncidentLink, heard: boolean, logger: Logger): Promise<number> {
  if (tools.now().getTime() - Date.parse(link.createdAt) <= CONFIRMATION_LIFETIME_MS) return 0;
  const decided = await tools.deps.links.decide(link.dedupKey, 'expired', 'pd-router');
  if (decided.confirmation !== 'expired') return 0;
  await tools.deps.history.recordLink(decided);
  // Expired all the same where the gate refuses the channel (it never pages), but not shown there.
  if (decided.promptTs && heard) await tools.deps.scopes(decided).update(decided.promptTs, promptDecidedMessage(customerView(decided), 'expired'));
  await tools.deps.links.close(decided.dedupKey);
  logger.info('a confirmation prompt expired unanswered; nobody was paged');
  return 1;
}

/**
 * Tell one channel what it missed; returns the number of posts made (0 when nothing was missed).
 * `run`: what this run learned so far (see RunState).
 */
export async function reconcileLink(tools: ReconcilerTools, start: IncidentLink, logger: Logger, run: RunState): Promise<number> {
  const prompt = start.state === 'pending' && start.confirmation === 'asked';
  // Pending: its trigger is in flight (the slack-worker owns it). No thread: its confirmation is being posted.
  if (!prompt && (start.state !== 'triggered' || !start.threadTs)) return 0;
  // The delivery gate: a channel removed (or added again since) hears nothing more, and its
  // escalation leaves the open-link index for good; one shared with an organization nobody
  // approved hears nothing until it is approved, and its link keeps its last shown status, so
  // the first run after approval catches it up.
  const answer = await tools.gate({ path: 'reconciler', channel: start.channel, link: start }, logger);
  if (!answer.allowed && isGone(answer.reason)) {
    if (prompt) await tools.deps.history.recordLink(await tools.deps.links.decide(start.dedupKey, 'refused', 'pd-router'));
    await tools.deps.links.close(start.dedupKey);
    logger.info('the channel is no longer a customer (or was registered again since): the escalation is closed, nothing posted');
    return 0;
  }
  if (prompt) return expirePrompt(tools, start, answer.allowed, logger);
  if (!answer.allowed) return 0;
  const known = (await knownIncident(run, start.incidentId)) ?? (await listedResolved(run, start));
  const { link, incident } = known ? { link: start, incident: known } : await readIncident(tools, start, run, logger);
  tools.checkpoint('read');
  if (!incident) return link.incidentId ? 0 : noIncidentYet(tools, run, link, answer.customer.contact ?? tools.deps.config.supportContact, logger);
  return tellMissed(tools, run, link, incident, logger);
}

/** What one run of the reconciler learned so far, for the links it examines after. */
export interface RunState {
  /**
   * The incidents it knows, by id: those it listed as open, and each it read since that was merged
   * into no other. A link bound to one of them needs no read of its own: an outage merged into one
   * incident and resolved while its webhooks were lost is read once, not once per channel.
   */
  incidents: Map<string, IncidentState>;
  /** The reads under way, by the incident id the link was bound to: links examined side by side wait for the one read. */
  reading: Map<string, Promise<unknown>>;
  /** Waits for the run's next read of PagerDuty (the run's own pace of its REST calls). */
  readTurn: () => Promise<void>;
  /** The incidents resolved since the links last saw them open; none when the run could not list every open incident (a link missing from that listing may be open). */
  resolved?: ResolvedLookup;
  /** Slack refused one of the run's posts with a 429: no other post of the run is made. */
  slackLimited?: boolean;
}

/** The incident the run knows for this id, once a read of it under way has ended. */
async function knownIncident(run: RunState, incidentId: string | undefined): Promise<IncidentState | undefined> {
  if (!incidentId) return undefined;
  await run.reading.get(incidentId);
  return run.incidents.get(incidentId);
}

/** The link's incident from the run's listing of resolved incidents, if it is there (see ResolvedLookup). */
function listedResolved(run: RunState, link: IncidentLink): Promise<IncidentState | undefined> | undefined {
  return link.incidentId ? run.resolved?.find(link.incidentId, link.statusAt ?? link.acceptedAt ?? link.createdAt) : undefined;
}

/** Read the link's incident (following merges and grouping), at the run's pace, and keep it for the run's other links. */
async function readIncident(tools: ReconcilerTools, start: IncidentLink, run: RunState, logger: Logger) {
  const read = run.readTurn().then(() => tools.ownership.locate(start, logger));
  const id = start.incidentId;
  if (id && !run.reading.has(id)) {
    run.reading.set(id, read.catch(() => undefined));
  }
  const located = await read;
  if (located.incident && located.link.incidentId === located.incident.id) run.incidents.set(located.incident.id, located.incident);
  return located;
}

async function tellMissed(tools: ReconcilerTools, run: RunState, link: IncidentLink, incident: IncidentState, logger: Logger): Promise<number> {
  let posted = 0;
  if ((link.heldBy === 'grouped' || link.heldBy === 'merged') && link.incidentId === incident.id) {
    if (await postInThread(tools, run, link, `joined:${link.dedupKey}:${incidentTag(incident.id)}`, handledTogetherMessage(customerView(link)))) posted++;
  }
  let current = link;
  if (incident.status && incident.lastStatusChangeAt) {
    const status = incident.status;
    const at = new Date(incident.lastStatusChangeAt).toISOString();
    const recorded = await tools.deps.links.recordReconciledStatus(link.dedupKey, status, at);
    current = recorded.link;
    tools.checkpoint('status-recorded');
    // Ours to tell when this call recorded it, or an earlier run did and stopped before posting.
    const ours = recorded.advanced || (current.statusSource === 'reconciler' && current.status === status && current.statusAt === at);
    if (ours) {
      await tools.deps.history.recordStatus(current, status, at);
      const happening = catchUpHappening(link.status, status);
      if (!confirmationSaysIt(current, happening) && (await postInThread(tools, run, current, `caught:${link.dedupKey}:${status}:${at}`, incidentUpdateMessage(customerView(current), happening)))) posted++;
      tools.checkpoint('posted');
      // The confirmation is re-rendered by the pagerduty-worker at a paced turn of chat.update's
      // limit (50 a minute per workspace), as a fan-out's are: inline, a catch-up after lost
      // webhooks went at the pace of one refused update per run. Asked again by a run that finds
      // its post already made; a request for a confirmation shown already does nothing.
      await requestConfirmationRefresh(tools.deps.refreshes, current, `caught:${status}:${at}`, tools.now().getTime());
      tools.checkpoint('refresh-requested');
      // Only now, told and its re-render queued, does a resolved link leave the open-link index: a
      // run that stopped before either finds the link again next time (recordReconciledStatus keeps it listed).
      if (status === 'resolved') await tools.deps.links.close(link.dedupKey);
    }
  }
  if (posted) {
    logger.info('the reconciler told a channel what no webhook had', { posts: posted, status: current.status });
    logger.metric(METRIC_NAMES.reconcilerCatchUps, posted);
  }
  return posted;
}

