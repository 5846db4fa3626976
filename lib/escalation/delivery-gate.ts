import { TransientError } from '../errors';
import type { Logger } from '../runtime/log';
import { METRIC_NAMES } from '../runtime/metrics';
import type { SlackApi } from '../slack/web-api';
import { unapprovedOrgs, type CustomerRecord, type CustomerRecords } from '../store/customer-records';

/**
 * The one question every path asks before it shows something to a channel or acts for one:
 * may this channel hear, and may this person act, now?
 *
 * - the channel is a registered customer's (`npm run customers -- add`);
 * - the escalation asked about belongs to the channel's current registration: a customer removed
 *   (and perhaps added again since) hears nothing more about what it escalated before;
 * - the channel is not paused: shared with no organization nobody approved;
 * - for clicks, replies and escalations, the person acting belongs to the provider's own
 *   workspace (the installation's, from `auth.test`) or to an organization approved for the
 *   channel, and the event came through the installation: its `team_id` is the installation's
 *   and its `api_app_id` is the app's (`SLACK_APP_ID`, when set: `auth.test` does not say).
 *
 * Every refusal is logged with the path and the reason, and counted (`DeliveriesRefused`); the
 * caller shows the person a data-free line where Slack lets it, and nothing else.
 */

/** Where the gate is asked: each path that shows something to a channel or acts for one. */
export type GatePath =
  | 'escalation'
  | 'confirmation-click'
  | 'check-status'
  | 'thread-reply'
  /** Slack's channel_shared / channel_unshared: only the installation and the registration are checked. */
  | 'channel-change'
  | 'incident-update'
  | 'confirmation-refresh'
  | 'reconciler';

export type GateRefusal =
  /** The channel is no customer's. */
  | 'unregistered'
  /** The escalation belongs to a registration of the channel that was removed. */
  | 'removed'
  /** The channel is shared with an organization nobody approved. */
  | 'unapproved-organization'
  /** The person acting belongs to an organization that is neither the provider's nor approved. */
  | 'actor-organization'
  /** The event came from another workspace's installation, or another app. */
  | 'other-installation';

/** Who acts, as the event says (all of it from Slack's signed request, normalized by the ingress). */
export interface Actor {
  /** The Events API envelope's `team_id`: must be the installation's (absent for clicks and commands). */
  eventTeam?: string;
  /** The request's `api_app_id`: must be the app's when `SLACK_APP_ID` is set. */
  appId?: string;
  /** The person's own organization (`user_team`, `user.team_id`, a command's `team_id`). */
  org?: string;
}

export interface GateQuestion {
  path: GatePath;
  channel: string;
  /** The escalation the path is about, when there is one: it must be of the channel's current registration. */
  link?: { registrationId?: string };
  /** For clicks, replies and escalations: who acts. */
  actor?: Actor;
}

export type GateAnswer = { allowed: true; customer: CustomerRecord } | { allowed: false; reason: GateRefusal; organizations?: string[] };

export interface DeliveryGateDeps {
  customers: Pick<CustomerRecords, 'get'>;
  /** The installation's own workspace (auth.test); needed only for questions with an actor. */
  slack?: Pick<SlackApi, 'teamId'>;
  /** The Slack app's id (`SLACK_APP_ID`); unset: `api_app_id` is not compared. */
  appId?: string;
}

/** Whether a channel refusal means the escalation is gone for good (not merely held until approval). */
export function isGone(reason: GateRefusal): boolean {
  return reason === 'unregistered' || reason === 'removed';
}

/** Whether the refusal concerns the channel as a whole (not only the person acting). */
export function isChannelRefusal(reason: GateRefusal): boolean {
  return isGone(reason) || reason === 'unapproved-organization';
}

export type DeliveryGate = (question: GateQuestion, logger: Logger) => Promise<GateAnswer>;

export function makeDeliveryGate(deps: DeliveryGateDeps): DeliveryGate {
  async function installationTeam(): Promise<string> {
    const team = await deps.slack?.teamId();
    // Without it, nobody's organization can be told from the provider's: wait and ask again.
    if (!team) throw new TransientError('the installation\'s workspace is unknown (auth.test failed); the gate cannot decide');
    return team;
  }

  async function decide({ path, channel, link, actor }: GateQuestion): Promise<GateAnswer> {
    if (actor && deps.appId && actor.appId !== undefined && actor.appId !== deps.appId) return { allowed: false, reason: 'other-installation' };
    const ours = actor ? await installationTeam() : undefined;
    if (actor?.eventTeam !== undefined && actor.eventTeam !== ours) return { allowed: false, reason: 'other-installation' };
    const customer = await deps.customers.get(channel);
    if (!customer) return { allowed: false, reason: link ? 'removed' : 'unregistered' };
    // A registration made before registrations had ids (none) owns every escalation of its channel.
    if (link && customer.registrationId !== undefined && link.registrationId !== customer.registrationId) return { allowed: false, reason: 'removed' };
    // Who the channel is shared with is recorded paused or not: that is how a pause starts and ends.
    if (path === 'channel-change') return { allowed: true, customer };
    const unapproved = unapprovedOrgs(customer);
    if (unapproved.length) return { allowed: false, reason: 'unapproved-organization', organizations: unapproved };
    if (actor?.org !== undefined && actor.org !== ours && !customer.approvedOrgs.includes(actor.org)) return { allowed: false, reason: 'actor-organization' };
    return { allowed: true, customer };
  }

  return async function ask(question, logger) {
    const answer = await decide(question);
    // A channel that is no customer's changing who it is shared with is none of ours: not a refusal worth counting.
    if (!answer.allowed && !(question.path === 'channel-change' && answer.reason === 'unregistered')) {
      const fields = { path: question.path, reason: answer.reason, ...(answer.organizations ? { organizations: answer.organizations } : {}), ...(question.actor?.org ? { actorOrganization: question.actor.org } : {}) };
      if (answer.reason === 'other-installation') logger.error('refused by the delivery gate', fields);
      else logger.warn('refused by the delivery gate', fields);
      logger.metric(METRIC_NAMES.deliveriesRefused, 1, { path: question.path, reason: answer.reason });
    }
    return answer;
  };
}
