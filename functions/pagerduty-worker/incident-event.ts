import { EVENT_CONTRACT_VERSION, pagerDutyRouting, type IncidentLinkEvent, type IncidentStatus, type PagerDutyIncidentEvent } from '../../lib/events';
import { METRIC_NAMES } from '../../lib/runtime/metrics';
import type { Logger } from '../../lib/runtime/log';
import { type IncidentLink } from '../../lib/store/incident-links';
import { followMerges } from '../../lib/tenancy/ownership';
import { statusUpdateTextShown } from '../../lib/tenancy/audience';
import { isDedupKey } from '../../lib/dedup-key';

import { toolsForOneEvent, type PagerDutyTools } from './tools';
import { tellOne, type Pacing } from './tell';

/**
 * `retried`: a redelivery (most often Slack refused a post of it under the workspace's limit): its
 * posts to one channel then find their kept turns or take paced ones outside the lane's burst
 * (tell.ts, Pacing).
 */
export async function handleIncidentEvent(shared: PagerDutyTools, event: PagerDutyIncidentEvent, logger: Logger, retried = false): Promise<void> {
  const { tools, readAhead } = toolsForOneEvent(shared);
  const pacing: Pacing = retried ? 'retry' : 'first';
  const { incident } = event;
  let links: IncidentLink[];
  let targetStatus: IncidentStatus | undefined;
  /** The incident the links are held by now (a merge's target), for the note telling on-call who follows it. */
  let holder: string | undefined = incident.id;
  if (incident.mergedInto) {
    let moved = await tools.ownership.moveOnMerge({ id: incident.id, ...(incident.incidentKey ? { incidentKey: incident.incidentKey } : {}) }, incident.mergedInto, logger);
    if (!moved.length) return unlinked(logger);
    // The target may itself have been merged on (its merge event processed first, in its own
    // queue group): carry the links along the chain to the incident that is still worked on.
    const target = await followMerges(tools.deps.pagerDuty, incident.mergedInto, async (merged, into) => {
      // Only this merge's links are told here; the target's own were told by its own merge.
      const ours = new Set(moved.map((link) => link.dedupKey));
      const carried = new Map((await tools.ownership.moveOnMerge({ id: merged.id }, into, logger)).filter((link) => ours.has(link.dedupKey)).map((link) => [link.dedupKey, link]));
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
    // series before every update. On-call's text is the exception while one channel is known:
    // whether it may be shown depends on who else the incident holds, so it waits for the answer.
    // With more than one known it is not shown, whatever the answer (an outage merged into one
    // incident: the whole fan-out would otherwise wait for the listing).
    const found = await tools.ownership.known(ref, logger, readAhead);
    // What was found is the followers the listing adds to, either way.
    const known = event.statusUpdate === undefined || found.length > 1 ? found : [];
    if (known.length) {
      tools.checkpoint('incident-attached');
      await tellAll(tools, known, event, pacing, logger);
    }
    links = await tools.ownership.heldBy(ref, logger, found);
    if (!links.length) return unlinked(logger);
    if (known.length) {
      const told = new Set(known.map((link) => link.dedupKey));
      const found = links.filter((link) => !told.has(link.dedupKey));
      if (found.length) {
        logger.info('the incident holds escalations found after its known ones were told', { found: found.length });
        await tellAll(tools, found, event, pacing, logger);
      }
      return announce(tools, holder, links, logger);
    }
  }
  tools.checkpoint('incident-attached');
  if (links.length === 1) {
    const [link] = links as [IncidentLink];
    // Before on-call's text is shown, the incident's alerts as PagerDuty has them now: another
    // escalation's alert may be in it before this worker bound it (a merge into it not yet
    // handled), or the incident merged on (its own alert gone) after the update was written.
    const alone = event.statusUpdate === undefined || !statusUpdateTextShown(link, 1) || holdsOnly(await tools.deps.pagerDuty.alertKeys(incident.id), link.dedupKey);
    await tellOne(tools, link, event, targetStatus, alone ? 1 : undefined, logger, pacing);
    return announce(tools, holder, incident.mergedInto ? undefined : links, logger);
  }
  // Many channels (an outage merged into one incident): each is told by a message of its own, in
  // its escalation's FIFO group, so a channel that must wait (a 429, its thread not yet posted)
  // is retried alone. Retrying this event instead would redo every channel's reads and claims to
  // post the few that waited, hundreds of times under Slack's workspace limit.
  await fanOut(tools, links, event, targetStatus, logger);
  await announce(tools, holder, incident.mergedInto ? undefined : links, logger);
}

/**
 * Tell channels about an event that needs no answer from PagerDuty to be told (not a merge, not
 * on-call's text): one inline, several each by a message of its own (see handle).
 */
async function tellAll(tools: PagerDutyTools, links: IncidentLink[], event: PagerDutyIncidentEvent, pacing: Pacing, logger: Logger): Promise<void> {
  if (links.length === 1) return tellOne(tools, links[0]!, event, undefined, 1, logger, pacing);
  await fanOut(tools, links, event, undefined, logger);
}

async function fanOut(tools: PagerDutyTools, links: IncidentLink[], event: PagerDutyIncidentEvent, targetStatus: IncidentStatus | undefined, logger: Logger): Promise<void> {
  await Promise.all(
    links.map((link) => {
      const perLink: IncidentLinkEvent = { v: EVENT_CONTRACT_VERSION, kind: 'incident.link', id: `${event.id}:${link.dedupKey}`, dedupKey: link.dedupKey, ...(targetStatus ? { targetStatus } : {}), followers: links.length, event };
      return tools.deps.queue.send(perLink, pagerDutyRouting(perLink));
    }),
  );
  logger.info('fanned out to each channel', { channels: links.length });
}

/**
 * Tell on-call who follows the incident, when that changed (lib/tenancy/audience.ts). `held`: the
 * links it holds, as just found; none for a merge's target, whose note waits for the merges into
 * it to settle (./followers-note.ts).
 */
async function announce(tools: PagerDutyTools, incidentId: string | undefined, held: IncidentLink[] | undefined, logger: Logger): Promise<void> {
  if (!incidentId) return;
  if (!held) return tools.followersNote.request(incidentId, logger);
  await tools.audience.announce(incidentId, held, logger);
}

/** The incident's alerts are this escalation's own and none of another escalation (alerts of the provider's own monitoring may be there too). */
function holdsOnly(alertKeys: string[], dedupKey: string): boolean {
  return alertKeys.includes(dedupKey) && alertKeys.every((key) => key === dedupKey || !isDedupKey(key));
}

/** One channel's part of an event that concerns many. */
export async function handleLink(tools: PagerDutyTools, message: IncidentLinkEvent, logger: Logger, retried = false): Promise<void> {
  const link = await tools.deps.links.get(message.dedupKey);
  if (!link) return logger.warn('the escalation is gone (its link expired); nothing posted');
  await tellOne(tools, link, message.event, message.targetStatus, message.followers, logger, retried ? 'retry' : 'first');
}

function unlinked(logger: Logger) {
  logger.info('incident holds no escalation from Slack; nothing posted');
  logger.metric(METRIC_NAMES.unlinkedIncidentEvents);
}

