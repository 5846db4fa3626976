import { EVENT_CONTRACT_VERSION, pagerDutyRouting, type FollowersNoteEvent } from '../../lib/events';
import type { Logger } from '../../lib/runtime/log';
import type { EventQueue } from '../../lib/queue/queue';
import type { IncidentLinks } from '../../lib/store/incident-links';
import { awaitTurn } from '../../lib/store/pacer';
import type { makeAudience } from '../../lib/tenancy/audience';

export interface FollowersNoteDeps {
  links: Pick<IncidentLinks, 'followersOf'>;
  /** The PagerDuty queue: the note is queued for this worker itself. */
  queue: EventQueue;
  audience: ReturnType<typeof makeAudience>;
  /** The settle window (FOLLOWERS_NOTE_SETTLE_SECONDS). */
  settleMs: number;
  now?: () => number;
}

/** A due time this close is waited for in the invocation; a farther one by a redelivery. */
const WAIT_IN_PLACE_MS = 1000;
/** Past the window's end, for the clocks of the containers that queued and that handle it. */
const CLOCK_MARGIN_MS = 1000;

/**
 * Telling on-call who follows an incident after merges into it. An outage merged into one
 * incident is hundreds of merges in a minute: told inline, each merge read every follower (and
 * each follower's customer name) and added a note naming one more customer, n²/2 reads and n notes.
 * Here a merge only queues the incident's note for the end of its settle window (the window in the
 * id, so the merges of one window queue one message); when it is due, the followers are read once
 * and one note names them all. A merge's links are moved before it queues, and the note reads
 * them (consistently) after the window's end, so no merge of the window is left out; a merge in
 * the next window queues the next note, which says something only if the set changed.
 */
export function makeFollowersNote(deps: FollowersNoteDeps) {
  const now = deps.now ?? Date.now;
  return {
    async request(incidentId: string, logger: Logger): Promise<void> {
      const windowStart = Math.floor(now() / deps.settleMs) * deps.settleMs;
      const event: FollowersNoteEvent = { v: EVENT_CONTRACT_VERSION, kind: 'incident.followers', id: `${incidentId}:${windowStart}`, incidentId, dueAt: new Date(windowStart + deps.settleMs + CLOCK_MARGIN_MS).toISOString() };
      await deps.queue.send(event, pagerDutyRouting(event));
      logger.info('on-call is told who follows the incident once the merges into it settle', { dueAt: event.dueAt });
    },

    async handle(event: FollowersNoteEvent, logger: Logger): Promise<void> {
      await awaitTurn(Date.parse(event.dueAt), now(), WAIT_IN_PLACE_MS, 'the note naming who follows the incident waits for the merges into it to settle');
      const links = (await deps.links.followersOf(event.incidentId)).filter((link) => link.state !== 'rejected');
      await deps.audience.announce(event.incidentId, links, logger);
    },
  };
}
