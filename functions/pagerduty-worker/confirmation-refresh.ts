import type { ConfirmationRefreshEvent } from '../../lib/events';
import { RateLimitedError } from '../../lib/errors';
import type { Logger } from '../../lib/runtime/log';
import type { EventQueue } from '../../lib/queue/queue';
import { type ChannelScopes, type SlackApi } from '../../lib/slack/web-api';
import type { IncidentLink, UpdateLinks } from '../../lib/store/incident-links';
import { awaitTurn, type Pacer } from '../../lib/store/pacer';
import { confirmationFor, confirmationIsStale } from '../../lib/escalation/confirmation';
import { requestConfirmationRefresh } from '../../lib/escalation/confirmation-refresh-request';
import type { DeliveryGate } from '../../lib/escalation/delivery-gate';

export interface ConfirmationRefreshDeps {
  links: UpdateLinks;
  slack: SlackApi;
  /** Where each channel is spoken to. */
  scopes: ChannelScopes;
  pacer: Pacer;
  /** The PagerDuty queue: a refresh is queued for this worker itself. */
  queue: EventQueue;
  /** Asked before each re-render: a channel removed or paused since the change is not refreshed. */
  gate: DeliveryGate;
  now?: () => number;
}

/**
 * A turn this close is waited for in the invocation. A farther one by a redelivery, in SQS's whole
 * seconds rounded down, so that the message is back just before its turn and takes it on time:
 * rounded up, a turn taken late and the next one taken on time would come closer than the pace.
 */
const WAIT_IN_PLACE_MS = 1000;

/**
 * Re-rendering confirmations apart from the posts. One incident event can change what hundreds
 * of confirmations show (an outage merged into one incident, then resolved), and chat.update is
 * limited to about 50 a minute per workspace: done inline, each refusal failed the message that
 * also carried the customer's update post, and hundreds of redeliveries competed for two slots.
 * Here the update post goes out at once; the re-render is queued, waits for a paced turn of the
 * workspace (lib/store/pacer.ts) and shows whatever the link says when its turn comes.
 */
export function makeConfirmationRefresh(deps: ConfirmationRefreshDeps) {
  const now = deps.now ?? Date.now;
  return {
    /** Ask for the confirmation to be brought up to date, if it shows something else (`cause`: the event that changed it). */
    async request(link: IncidentLink, cause: string, logger: Logger): Promise<void> {
      if (await requestConfirmationRefresh(deps.queue, link, cause, now())) logger.info('confirmation refresh queued');
    },

    async handle(event: ConfirmationRefreshEvent, logger: Logger): Promise<void> {
      const link = await deps.links.get(event.dedupKey);
      // Only the escalation's own channel, and only its own confirmation, whatever the message says.
      if (!link || link.channel !== event.channel || !link.confirmationTs) return;
      if (!(await deps.gate({ path: 'confirmation-refresh', channel: link.channel, link }, logger)).allowed) return;
      if (!confirmationIsStale(link)) {
        // Shown already (an earlier refresh of the same confirmation saw this change too).
        if (link.confirmationTurnAt !== undefined) await deps.links.dropConfirmationTurn(link.dedupKey);
        return;
      }
      let turnAt = link.confirmationTurnAt;
      if (turnAt === undefined) {
        turnAt = await deps.pacer.turn(`chat.update#${link.team}`, now());
        // Kept on the link only when it must outlive this delivery (a turn taken now is used now).
        if (turnAt - now() > WAIT_IN_PLACE_MS) turnAt = (await deps.links.keepConfirmationTurn(link.dedupKey, turnAt)).confirmationTurnAt ?? turnAt;
      }
      await awaitTurn(turnAt, now(), WAIT_IN_PLACE_MS, 'the confirmation waits for its turn under chat.update\'s limit');
      const { message, shown } = confirmationFor(link);
      try {
        await deps.scopes(link).update(link.confirmationTs!, message);
      } catch (error) {
        // Refused anyway (Slack's limit is shared with other updates): the next attempt takes a new turn.
        if (error instanceof RateLimitedError && link.confirmationTurnAt !== undefined) await deps.links.dropConfirmationTurn(link.dedupKey);
        throw error;
      }
      await deps.links.confirmationShows(link.dedupKey, shown);
      logger.info('confirmation refreshed', { status: link.status });
    },
  };
}
