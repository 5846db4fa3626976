import { postAtTurn, postTurn } from '../../lib/store/pacer';
import { type IncidentStatus, type PagerDutyEventType, type PagerDutyIncidentEvent } from '../../lib/events';
import { METRIC_NAMES } from '../../lib/runtime/metrics';
import { statusOf } from '../../lib/pagerduty/normalize';
import { NoThreadError, PermanentError, WaitForTurnError } from '../../lib/errors';
import type { Logger } from '../../lib/runtime/log';
import { combinedStatusUpdateMessage, handledTogetherMessage, incidentUpdateMessage, receiptMessage, statusUpdateMessage } from '../../lib/slack/messages';
import { type ChannelScope } from '../../lib/slack/web-api';
import { toldByReconciler, type IncidentLink } from '../../lib/store/incident-links';
import { postOnce } from '../../lib/escalation/once';
import type { Claim } from '../../lib/store/effects';
import { confirmationSaysIt } from '../../lib/escalation/confirmation';
import { customerView, shownPerson, shownStatusUpdate, type Happening } from '../../lib/tenancy/customer-view';
import { incidentTag } from '../../lib/tenancy/ownership';
import { historyOf } from '../../lib/store/history';

import type { PagerDutyTools } from './tools';

/** How long an update waits for a slash command's confirmation (its thread) before it is dropped. */
export const THREAD_WAIT_MS = 30 * 60 * 1000;

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
 * The delivery gate (lib/escalation/delivery-gate.ts), asked for every channel told, fan-out
 * included: a channel removed (or added again since this escalation) hears nothing more; one
 * shared with an organization nobody approved hears nothing until the provider approves it
 * (`npm run customers -- approve`), and the reconciler catches it up after.
 */
async function refused(tools: PagerDutyTools, link: IncidentLink, logger: Logger): Promise<boolean> {
  return !(await tools.gate({ path: 'incident-update', channel: link.channel, link }, logger)).allowed;
}

/**
 * How a channel's posts are paced under the workspace's limit (every post counts against it, and
 * in an outage every customer is told at once): `first`, an event's first delivery (a webhook, or
 * one channel's part of an event told to many), whose posts may spend the lane's burst; `retry`, a
 * redelivery (most often Slack refused a post of it, or its turn was far), whose posts find their
 * kept turns or take one outside the burst: the limit was spent by posts no lane saw.
 */
export type Pacing = 'first' | 'retry';

/** A paced post's turn under the workspace's limit (none: pacing is off). */
function postTurnOf(tools: PagerDutyTools, link: IncidentLink, effectKey: string, pacing: Pacing): Promise<number> | undefined {
  const pacer = tools.deps.postPacer;
  return pacer ? postTurn(pacer, link.team, effectKey, tools.now, pacing === 'first' ? { firstAttempt: true } : { burst: false }) : undefined;
}

/** Record the status and post, once each, what one channel should read about this event. */
async function tellChannel(tools: PagerDutyTools, link: IncidentLink, event: PagerDutyIncidentEvent, candidates: Post[], status: { value: IncidentStatus; at: string } | undefined, pacing: Pacing, afterPosts: () => Promise<void>, logger: Logger) {
  // The first post's turn, taken beside the gate's read: on a quiet lane it adds no round trip.
  // Only for a post that will be made (an opening the confirmation tells is not): a turn taken and
  // not used costs every later post on the lane one interval.
  const first = candidates.find((message) => !message.unless?.(link));
  const firstTurn = pacing === 'first' && first ? postTurnOf(tools, link, first.effectKey, pacing) : undefined;
  // The first post's claim, taken beside the status write once the gate lets the channel hear:
  // neither needs the other, and the post needs both. Given back if the post is not made.
  let ahead: Claim | undefined;
  try {
    if (await refused(tools, link, logger)) return;
    if (!link.threadTs) {
      // A slash command's confirmation starts its thread and is being posted: the update waits its
      // turn (2 s at a time, and never into the DLQ: a busy channel's confirmation may take a while
      // under Slack's limits). One that never came (Slack refused it for good) is not waited for forever.
      if (tools.now() - Date.parse(link.createdAt) > THREAD_WAIT_MS) throw new NoThreadError();
      throw new WaitForTurnError('the escalation has no thread yet; retrying once its confirmation is posted', undefined, 2);
    }
    const scope = tools.deps.scopes(link);
    const threadTs = link.threadTs;
    let current = link;
    if (status && first && pacing === 'first') ahead = tools.deps.effects.claim(first.effectKey);
    if (status) {
      const advanced = await tools.deps.links.advanceStatus(link.dedupKey, status.value, status.at);
      if (!advanced.advanced) logger.info('older than the status shown; the status stays', { eventStatus: status.value, shownStatus: advanced.link.status });
      current = advanced.link;
      tools.checkpoint('status-recorded');
    }
    // The reconciler may have told this change already (webhooks were lost, then came back):
    // the webhook and the reconciler post it once between them. The stored link decides, so a
    // retry of this event decides the same way (see toldByReconciler).
    const told = status !== undefined && toldByReconciler(current, status.value, status.at);
    if (told) logger.info('the reconciler already told this change; not posted again', { eventStatus: status.value });
    const latest = current;
    const post = candidates.filter((message) => !(told && message.effectKey.startsWith('pd:')) && !message.unless?.(latest));
    for (const message of post) {
      // A retry's post made by an earlier attempt takes no turn: it would only wait to find it made.
      // A first delivery has no earlier attempt to look for.
      const turn = message === first && firstTurn ? firstTurn : pacing === 'first' || !(await tools.deps.effects.done(message.effectKey)) ? postTurnOf(tools, link, message.effectKey, pacing) : undefined;
      const { performed } = await postAtTurn(tools.deps.postPacer, link.team, message.effectKey, await turn, tools.now, () => {
        const claim = ahead?.key === message.effectKey ? ahead : undefined;
        if (claim) ahead = undefined;
        return postOnce(tools.deps.effects, scope, message.effectKey, message.build(latest), threadTs, claim);
      });
      if (performed && message.effectKey.startsWith('pd:')) logger.metric(METRIC_NAMES.updatesPosted[event.eventType], 1, { eventType: event.eventType });
    }
    // The history after the posts (it is not what the customer waits for), before the receipt that reads it.
    await afterPosts();
    if (status?.value === 'resolved' && latest.status === 'resolved') await sendReceipt(tools, latest, scope, threadTs, logger);
    // The confirmation is brought up to date apart, paced (see confirmation-refresh.ts).
    await tools.confirmations.request(latest, event.id, logger);
    tools.checkpoint('posted');
    logger.info('update posted', { eventType: event.eventType, status: latest.status });
  } finally {
    // A claim not used (the post was not wanted, or something failed first) would make the next
    // attempt wait out its lease, then ask Slack whether the post was made.
    if (ahead) await tools.deps.effects.release(ahead);
    // Not left running past the invocation, whatever ended it (a turn taken and not used only slows the pace a little).
    await firstTurn?.catch(() => undefined);
  }
}

/**
 * The customer's receipt (its `receipt` setting), once: this escalation's own times, from the
 * history. None for an escalation handled together with others, whose times are the combined
 * incident's rather than its own.
 */
async function sendReceipt(tools: PagerDutyTools, link: IncidentLink, scope: ChannelScope, threadTs: string, logger: Logger): Promise<void> {
  const { history } = tools.deps;
  if (!history || link.heldBy !== 'own') return;
  if (!(await tools.deps.customers.get(link.channel))?.receipt) return;
  const record = await history.get(link.dedupKey);
  if (!record?.resolvedAt || record.merged || (record.handledWith ?? 0) > 0) return;
  const after = (at: string) => (Date.parse(at) - Date.parse(record.askedAt)) / 1000;
  const times = { ...(record.acknowledgedAt ? { acknowledgedAfterSeconds: after(record.acknowledgedAt) } : {}), resolvedAfterSeconds: after(record.resolvedAt) };
  const { performed } = await postOnce(tools.deps.effects, scope, `receipt:${link.dedupKey}`, receiptMessage(times), threadTs);
  if (performed) logger.info('receipt posted');
}

/** `unless`: not posted when the link as recorded (after this event's status) says it need not be. */
type Post = { effectKey: string; build: (link: IncidentLink) => ReturnType<typeof incidentUpdateMessage>; unless?: (link: IncidentLink) => boolean };

/**
 * What one channel is told about an event, from its own link: the posts (each with its effect
 * key) and the status to record. `targetStatus`: for a merge, the status of the incident the
 * escalation now goes on in. `followers`: how many escalations the incident held when the event
 * was handled (undefined: more than one).
 */
function tellingOf(tools: PagerDutyTools, event: PagerDutyIncidentEvent, link: IncidentLink, targetStatus: IncidentStatus | undefined, followers: number | undefined): { posts: Post[]; status?: { value: IncidentStatus; at: string } } {
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
  const showNames = link.showNames ?? tools.deps.config.showResponderNames;
  const happening = happeningOf(event, showNames);
  const posts: Post[] = [];
  // Grouped into an incident that is not its own: said once, on the first of its events seen.
  // (A merge is told by the merge event itself, in the merged incident's queue group; telling it
  // here too would race that group for the same message.)
  if (link.heldBy === 'grouped') posts.push({ effectKey: `joined:${link.dedupKey}:${incidentTag(incident.id)}`, build: (l) => handledTogetherMessage(customerView(l)) });
  if (happening) posts.push({ effectKey: `pd:${event.id}:${link.dedupKey}`, build: (l) => incidentUpdateMessage(customerView(l), happening), unless: (l) => confirmationSaysIt(l, happening) });
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
 * escalation is handled together with others (how many, never who).
 */
async function record(tools: PagerDutyTools, link: IncidentLink, event: PagerDutyIncidentEvent, status: { value: IncidentStatus; at: string } | undefined, followers: number | undefined): Promise<void> {
  const { history } = tools.deps;
  if (!history) return;
  if (status) await history.recordStatus(link, status.value, status.at);
  const together = event.incident.mergedInto !== undefined || link.heldBy === 'grouped' || link.heldBy === 'merged';
  const others = followers !== undefined && followers > 1 ? followers - 1 : together ? 1 : 0;
  if (others) await history.record(historyOf(link), { step: 'handled-together', count: others });
  if (event.incident.mergedInto) await history.record(historyOf(link), { step: 'merged' });
}

/** Tell one channel; a channel Slack refuses for good (archived, the bot removed) is dropped, not retried. */
/** `pacing`: how its posts wait for their turns (see Pacing). */
export async function tellOne(tools: PagerDutyTools, link: IncidentLink, event: PagerDutyIncidentEvent, targetStatus: IncidentStatus | undefined, followers: number | undefined, logger: Logger, pacing: Pacing): Promise<void> {
  const channelLogger = logger.child({ channel: link.channel, dedupKey: link.dedupKey });
  const { posts, status } = tellingOf(tools, event, link, targetStatus, followers);
  // Recorded whether or not the channel is told (the gate, a channel gone): on-call's times are what they are.
  let recorded = false;
  const recordOnce = async () => {
    if (recorded) return;
    recorded = true;
    await record(tools, link, event, status, followers);
  };
  try {
    await tellChannel(tools, link, event, posts, status, pacing, recordOnce, channelLogger);
  } catch (error) {
    if (!(error instanceof PermanentError)) throw error;
    if (error instanceof NoThreadError) channelLogger.warn('the escalation never got its thread (its confirmation was not posted); update dropped', { waitedMinutes: THREAD_WAIT_MS / 60_000 });
    else {
      channelLogger.warn('Slack refused our message to a channel; dropped', { reason: error.code });
      channelLogger.metric(METRIC_NAMES.slackChannelUnavailable);
    }
  }
  await recordOnce();
}
