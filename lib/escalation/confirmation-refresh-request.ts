import { EVENT_CONTRACT_VERSION, pagerDutyRouting, type ConfirmationRefreshEvent } from '../events';
import type { EventQueue } from '../queue/queue';
import type { IncidentLink } from '../store/incident-links';
import { confirmationIsStale } from './confirmation';

/**
 * Ask the pagerduty-worker to bring a confirmation up to date at a paced turn of the workspace's
 * chat.update limit (functions/pagerduty-worker/confirmation-refresh.ts), if it shows something
 * other than the link: the one way a confirmation is re-rendered for many channels at once, by a
 * fan-out or by the reconciler's catch-up. `cause` names the change: asked twice for the same
 * change, the queue keeps one request (and a request for a confirmation already shown does nothing).
 * `queue` is the PagerDuty queue. True when a request was queued.
 */
export async function requestConfirmationRefresh(queue: EventQueue, link: IncidentLink, cause: string, now: number): Promise<boolean> {
  if (!confirmationIsStale(link)) return false;
  const event: ConfirmationRefreshEvent = { v: EVENT_CONTRACT_VERSION, kind: 'confirmation.refresh', id: `${cause}:${link.dedupKey}`, dedupKey: link.dedupKey, channel: link.channel, requestedAt: new Date(now).toISOString() };
  await queue.send(event, pagerDutyRouting(event));
  return true;
}
