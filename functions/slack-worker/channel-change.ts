import type { SlackChannelEvent } from '../../lib/events';
import { METRIC_NAMES } from '../../lib/runtime/metrics';
import { unapprovedOrgs } from '../../lib/store/customer-records';
import type { HandleContext, StepTools } from './tools';

/** Who a customer channel is shared with changed: recorded, so the guard pauses it until `customers approve`. */
export async function channelChanged(tools: StepTools, event: SlackChannelEvent, context: HandleContext) {
  const { deps, gate } = tools;
  // Only the installation's own events count (another workspace's could unpause a channel).
  const known = await gate({ path: 'channel-change', channel: event.channel, actor: { eventTeam: event.team, ...(event.appId ? { appId: event.appId } : {}) } }, context.logger);
  if (!known.allowed) return context.logger.info('a channel change pd-router does not act on (not a customer, or not of the installation); nothing to do');
  const { customer } = known;
  const orgs = event.change === 'shared' ? [...new Set([...customer.sharedWith, event.org])] : customer.sharedWith.filter((org) => org !== event.org);
  const updated = await deps.customers.recordSharedWith(event.channel, orgs);
  const unapproved = unapprovedOrgs(updated);
  if (unapproved.length) {
    context.logger.error('a customer channel is now shared with an organization nobody approved: updates and escalations are paused until `npm run customers -- approve`', { organizations: unapproved });
    context.logger.metric(METRIC_NAMES.sharedChannelPaused);
  } else context.logger.info('who the channel is shared with changed; nothing unapproved', { change: event.change });
}
