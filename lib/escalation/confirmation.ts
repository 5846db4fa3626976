import { createHash } from 'node:crypto';
import { confirmationMessage } from '../slack/messages';
import { type ChannelScopes, type SlackMessage } from '../slack/web-api';
import type { IncidentLink, IncidentLinks } from '../store/incident-links';
import { customerView, type Happening } from '../tenancy/customer-view';

/**
 * A channel's confirmation ("On-call has been paged", with its status and Check Status) as the
 * link stands, and a fingerprint of it: stored with the link when shown, so an update that would
 * show the same is never made (most incident events change nothing it shows).
 */
export function confirmationFor(link: IncidentLink): { message: SlackMessage; shown: string } {
  const message = confirmationMessage(customerView(link));
  return { message, shown: createHash('sha256').update(JSON.stringify(message)).digest('base64url').slice(0, 16) };
}

/**
 * An escalation's own incident opening is what its confirmation already shows ("paged",
 * Triggered): told in the thread only after the channel heard that no incident held it (the
 * reconciler's notice). One post fewer per escalation, which in an outage shares Slack's
 * workspace-wide limit with every channel's confirmation.
 */
export function confirmationSaysIt(link: Pick<IncidentLink, 'heldBy' | 'noIncidentToldAt'>, happening: Happening): boolean {
  return happening.kind === 'opened' && link.heldBy === 'own' && link.noIncidentToldAt === undefined;
}

/** Whether the link's confirmation is posted and shows something other than the link as it stands. */
export function confirmationIsStale(link: IncidentLink): boolean {
  return link.confirmationTs !== undefined && confirmationFor(link).shown !== link.confirmationShown;
}

/**
 * Re-render the confirmation now, unpaced, and record what it shows: for the rare path of a change
 * that arrived while the confirmation was being posted. A fan-out and a reconciler catch-up go
 * through the pagerduty-worker's paced refresh instead (confirmation-refresh-request.ts).
 */
export async function showConfirmationNow(deps: { scopes: ChannelScopes; links: Pick<IncidentLinks, 'confirmationShows'> }, link: IncidentLink): Promise<void> {
  if (!link.confirmationTs || !confirmationIsStale(link)) return;
  const { message, shown } = confirmationFor(link);
  await deps.scopes(link).update(link.confirmationTs, message);
  await deps.links.confirmationShows(link.dedupKey, shown);
}
