import { createHash } from 'node:crypto';
import { isDedupKey } from '../dedup-key';
import type { IncidentState, PagerDutyApi } from '../pagerduty/api';
import type { Logger } from '../runtime/log';
import type { IncidentLink, IncidentLinks, LinkBinding } from '../store/incident-links';

/**
 * Which escalations (links) a PagerDuty incident holds. This module is the only writer of that
 * relation, and it binds a link to an incident only on evidence no one else can produce:
 *
 * - own key: the incident's `incident_key` is the link's dedup key (our trigger opened it);
 * - own alert: the link's alert is among the incident's alerts (`alert_key` equal to the dedup key),
 *   which is how PagerDuty's alert grouping and a trigger folded into an open incident show;
 * - merge: PagerDuty resolved the link's incident with a merge `resolve_reason` naming the target.
 *
 * Own key and own alert bind only a link no incident holds yet; a bound link moves only on merge
 * evidence. Never "the first incident a search returns", never an empty key: PagerDuty's
 * `incident_key` filter matches alert keys too, and an empty one matches every open incident.
 */
export interface Ownership {
  /**
   * The links an incident is known to hold without asking PagerDuty: those bound to it, and its
   * own key's link (bound here when the webhook names the key). What a webhook can be told to at
   * once; {@link heldBy} then finds what its alerts reveal. `channels`: their channels, as soon
   * as the incident's own item says them (see IncidentLinks.followersOf).
   */
  known(incident: IncidentRef, logger: Logger, channels?: (channels: string[]) => void): Promise<IncidentLink[]>;
  /**
   * The links an incident holds, for one of its webhooks (binding any its alerts reveal).
   * `known`: what {@link known} returned for the same webhook, so that it is not read again.
   */
  heldBy(incident: IncidentRef, logger: Logger, known?: IncidentLink[]): Promise<IncidentLink[]>;
  /**
   * Follow a merge: every link the merged incident held moves to the target, including its own
   * link when no earlier webhook had bound it. Returns the links that left the merged incident
   * with this merge (in the target, or further along a chain of merges). (Other alerts now in the target are found by the target's own webhooks, as grouping is.)
   */
  moveOnMerge(merged: IncidentRef, into: string, logger: Logger): Promise<IncidentLink[]>;
  /** The incident that holds one link now, found and bound from evidence (Check Status, the reconciler). */
  locate(link: IncidentLink, logger: Logger): Promise<{ link: IncidentLink; incident?: IncidentState }>;
}

export interface IncidentRef {
  id: string;
  incidentKey?: string;
}

/** Merges can chain (A into B, B into C); a loop or an absurd chain stops here. */
export const MAX_MERGE_HOPS = 5;
/** Candidates a key search may return are checked one by one; PagerDuty returns few. */
const MAX_CANDIDATES = 10;

/** What Check Status, a thread reply and the reconciler ask of ownership: where one link is now. */
export type Locator = Pick<Ownership, 'locate'>;

/**
 * `binding`: the store's port for binding a link to an incident, given to ownership alone (each
 * function's composition root builds it); everyone else reads links.
 */
export interface OwnershipDeps {
  links: Pick<IncidentLinks, 'get' | 'followersOf'>;
  binding: LinkBinding;
  pagerDuty: PagerDutyApi;
}

/**
 * Bind one link no incident holds yet to an incident, from own-key or own-alert evidence. Returns
 * the link as stored: held by that incident, or by whichever incident was bound first.
 */
async function bindOnEvidence(binding: LinkBinding, link: IncidentLink, incidentId: string, ownKey: boolean, logger: Logger): Promise<IncidentLink> {
  if (link.incidentId) return link;
  const result = await binding.bind(link, incidentId, ownKey ? 'own-key' : 'alert');
  if (result.bound) logger.info(ownKey ? 'escalation bound to its own incident' : 'escalation found grouped into an incident', { dedupKey: link.dedupKey });
  return result.link;
}

/**
 * Ownership's {@link Ownership.locate} alone: the slack-worker and the reconciler build this, and
 * leave out what only the pagerduty-worker's webhooks ask (known, heldBy, moveOnMerge).
 */
export function makeLocator(deps: Pick<OwnershipDeps, 'binding' | 'pagerDuty'>): Locator {
  const { binding, pagerDuty } = deps;
  const bindFromEvidence = (link: IncidentLink, incidentId: string, ownKey: boolean, logger: Logger) => bindOnEvidence(binding, link, incidentId, ownKey, logger);
  return {
    async locate(start: IncidentLink, logger: Logger): Promise<{ link: IncidentLink; incident?: IncidentState }> {
      let link = start;
      if (!link.incidentId) {
        const candidates = (await pagerDuty.findIncidentsByKey(link.dedupKey)).slice(0, MAX_CANDIDATES);
        for (const candidate of candidates) {
          const ownKey = candidate.incidentKey === link.dedupKey;
          if (!ownKey && !(await pagerDuty.alertKeys(candidate.id)).includes(link.dedupKey)) continue;
          link = await bindFromEvidence(link, candidate.id, ownKey, logger);
          break;
        }
        if (!link.incidentId) return { link };
      }
      const end = await followMerges(pagerDuty, link.incidentId!, async (incident, into) => {
        const result = await binding.bind(link, into, 'merge', incident.id);
        if (result.bound) logger.info('escalation moved with a merge found on read', { dedupKey: link.dedupKey });
        link = result.link;
        return link.incidentId === into;
      });
      return end && !mergedOn(end) ? { link, incident: end } : { link };
    },
  };
}

/** Ownership whole: what the pagerduty-worker's webhooks ask, and locate. */
export function makeOwnership(deps: OwnershipDeps): Ownership {
  const { links, binding, pagerDuty } = deps;
  const bindFromEvidence = (link: IncidentLink, incidentId: string, ownKey: boolean, logger: Logger) => bindOnEvidence(binding, link, incidentId, ownKey, logger);

  /**
   * The incident's own key: from the webhook, or when PagerDuty left it out (it does for incidents
   * with several alerts), from the REST API, so that a link's own incident is never mistaken for
   * one its alert was grouped into.
   */
  async function ownKeyOf(incident: IncidentRef): Promise<string | undefined> {
    if (incident.incidentKey) return incident.incidentKey;
    return (await pagerDuty.getIncident(incident.id))?.incidentKey;
  }

  async function known(incident: IncidentRef, logger: Logger, channels?: (channels: string[]) => void): Promise<IncidentLink[]> {
    const found = new Map((await links.followersOf(incident.id, channels)).filter((link) => link.incidentId === incident.id).map((link) => [link.dedupKey, link]));
    const ownKey = incident.incidentKey;
    if (ownKey && isDedupKey(ownKey) && !found.has(ownKey)) {
      const own = await links.get(ownKey);
      if (own && own.state !== 'rejected') {
        const stored = await bindFromEvidence(own, incident.id, true, logger);
        if (stored.incidentId === incident.id) found.set(ownKey, stored);
      }
    }
    return [...found.values()].sort((a, b) => a.dedupKey.localeCompare(b.dedupKey));
  }

  async function heldBy(incident: IncidentRef, logger: Logger, knownLinks?: IncidentLink[]): Promise<IncidentLink[]> {
    const found = new Map<string, IncidentLink>();
    const [followers, alertKeys] = await Promise.all([knownLinks ?? links.followersOf(incident.id), pagerDuty.alertKeys(incident.id)]);
    for (const link of followers) if (link.incidentId === incident.id) found.set(link.dedupKey, link);

    const candidateKeys = new Set(alertKeys.filter(isDedupKey));
    if (incident.incidentKey && isDedupKey(incident.incidentKey)) candidateKeys.add(incident.incidentKey);
    for (const key of found.keys()) candidateKeys.delete(key);
    const candidates = (await Promise.all([...candidateKeys].map((key) => links.get(key)))).filter((link): link is IncidentLink => link !== undefined && link.state !== 'rejected');
    const unbound = candidates.filter((link) => !link.incidentId);
    const ownKey = unbound.length ? await ownKeyOf(incident) : incident.incidentKey;
    for (const link of candidates) {
      const stored = await bindFromEvidence(link, incident.id, link.dedupKey === ownKey, logger);
      if (stored.incidentId === incident.id) found.set(link.dedupKey, stored);
    }
    return [...found.values()].sort((a, b) => a.dedupKey.localeCompare(b.dedupKey));
  }

  async function moveOnMerge(merged: IncidentRef, into: string, logger: Logger): Promise<IncidentLink[]> {
    const followers = await links.followersOf(merged.id);
    const candidates = new Map(followers.map((link) => [link.dedupKey, link]));
    // Its own incident's webhooks may all have been lost: the merged incident's own key is evidence
    // enough. (Links merged into it from elsewhere say nothing about whether its own is bound.)
    const ownKey = merged.incidentKey ?? (followers.some((link) => link.incidentId === merged.id && link.heldBy === 'own') ? undefined : await ownKeyOf(merged));
    if (ownKey && isDedupKey(ownKey) && !candidates.get(ownKey)?.incidentId) {
      const ownKeyLink = candidates.get(ownKey) ?? (await links.get(ownKey));
      if (ownKeyLink) candidates.set(ownKey, ownKeyLink);
    }
    // A link no incident holds yet: its own (no webhook bound it), or listed under the merged
    // incident by a bind still under way (a Check Status click: bind lists it before it writes the
    // link) or one that failed half-way, after the evidence was checked. Bound here, or found as
    // whoever was first stored it; held by the merged incident or (something else followed the
    // merge first) beyond it, it is this merge's to tell either way.
    for (const link of [...candidates.values()].filter((candidate) => !candidate.incidentId)) {
      candidates.set(link.dedupKey, await bindFromEvidence(link, merged.id, link.dedupKey === ownKey, logger));
    }
    const affected = [...candidates.values()].filter((link) => link.incidentId === merged.id || (link.incidentId === into && (link.heldBy === 'merged' || link.dedupKey === ownKey)));
    const moved = await Promise.all(affected.map((link) => binding.bind(link, into, 'merge', merged.id)));
    for (const result of moved) if (result.bound) logger.info('escalation moved with a merge', { dedupKey: result.link.dedupKey });
    // The merged incident can only be left by its merge, so a link it held (or its own) that is
    // now held elsewhere by merge evidence left with this merge: carried further along a chain of
    // merges by a redelivery of this merge, or by a Check Status click or the reconciler following
    // the chain between the read above and the move.
    const leftWithThisMerge = (link: IncidentLink) => link.incidentId === into || (link.heldBy === 'merged' && link.incidentId !== undefined && link.incidentId !== merged.id);
    const movedKeys = new Set(affected.map((link) => link.dedupKey));
    const carriedOn = [...candidates.values()].filter((link) => !movedKeys.has(link.dedupKey) && link.incidentId !== into && leftWithThisMerge(link));
    return [...moved.map((result) => result.link).filter(leftWithThisMerge), ...carriedOn];
  }

  return { known, heldBy, moveOnMerge, ...makeLocator(deps) };
}

/** The incident PagerDuty merged this one into, when it was merged into another. */
function mergedOn(incident: IncidentState): string | undefined {
  return incident.mergedInto && incident.mergedInto !== incident.id ? incident.mergedInto : undefined;
}

/**
 * Walk a chain of merges (A into B, B into C), the one place it is walked: read the incident `id`
 * and, while it was merged into another, let `carry` move the links along to that one (it says
 * whether to go on), then read that one; at most MAX_MERGE_HOPS merges. Returns the last incident
 * read: where the chain ends, or one still merged on when `carry` stopped or the limit was
 * reached; undefined when PagerDuty no longer has it.
 */
export async function followMerges(
  pagerDuty: Pick<PagerDutyApi, 'getIncident'>,
  id: string,
  carry: (merged: IncidentState, into: string) => Promise<boolean>,
): Promise<IncidentState | undefined> {
  let incident = await pagerDuty.getIncident(id);
  for (let hop = 0; hop < MAX_MERGE_HOPS && incident; hop++) {
    const into = mergedOn(incident);
    if (!into || !(await carry(incident, into))) return incident;
    incident = await pagerDuty.getIncident(into);
  }
  return incident;
}

/**
 * A stand-in for an incident id where one must be named in something a channel can read (the
 * effect key travels as Slack message metadata, which apps in a shared channel can read).
 */
export function incidentTag(incidentId: string): string {
  return createHash('sha256').update(incidentId).digest('hex').slice(0, 12);
}
