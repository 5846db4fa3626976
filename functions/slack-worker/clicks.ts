import { isDedupKey } from '../../lib/dedup-key';
import { PermanentError } from '../../lib/errors';
import type { SlackActionEvent } from '../../lib/events';
import { CONFIRMATION_LIFETIME_MS, type IncidentLink } from '../../lib/store/incident-links';
import { CANCEL_PAGE_ACTION_ID } from '../../lib/slack/normalize';
import { confirmationMessage, gateRefusalMessage, promptDecidedMessage, refusalMessage, statusMessage, statusUnavailableMessage } from '../../lib/slack/messages';
import type { SlackMessage } from '../../lib/slack/web-api';
import { isChannelRefusal, type GateRefusal } from '../../lib/escalation/delivery-gate';
import { customerView, shownPerson, shownUrgency } from '../../lib/tenancy/customer-view';
import { answerOnce } from '../../lib/escalation/once';
import { page } from './page';
import type { HandleContext, StepTools } from './tools';

/*
 * The buttons: Check Status, and a confirming customer's Page on-call and Cancel. Tenancy is the
 * channel: a button answers only in the channel of the escalation it names, and only when the
 * delivery gate allows that channel and that clicker now.
 */

/** A button copied into another channel (or forged) learns nothing: a data-free line to the clicker. */
async function notThisChannel(tools: StepTools, event: SlackActionEvent, context: HandleContext, what: string) {
  context.logger.warn(`${what} refused: the escalation does not belong to this channel`);
  await answerOnce(tools.deps.effects, `click:${event.id}`, () => tools.scope(event).ephemeral(event.user, refusalMessage()), 'refused');
}

/** The answer to a click the gate refused: a data-free line to the clicker only (none where Slack gives us no way). */
async function refuseClick(tools: StepTools, event: SlackActionEvent, reason: GateRefusal) {
  if (reason === 'other-installation') return;
  await answerOnce(tools.deps.effects, `click:${event.id}`, () => tools.scope(event).ephemeral(event.user, gateRefusalMessage()), 'refused');
}

/**
 * A click on Page on-call or Cancel: only from the escalation's own channel, decided once
 * whoever clicks and however often; a prompt older than 15 minutes pages no one.
 */
export async function confirmationClick(tools: StepTools, event: SlackActionEvent, context: HandleContext) {
  const { deps, gate, now } = tools;
  const link = isDedupKey(event.value) ? await deps.links.get(event.value) : undefined;
  if (!link || link.channel !== event.channel || !link.confirmation) return notThisChannel(tools, event, context, 'confirmation click');
  const logger = context.logger.child({ dedupKey: link.dedupKey });
  const scope = tools.scope(link);
  // Decided only when the gate allows it now: the channel may have been removed or shared since
  // the prompt was posted, and the clicker must be of the provider or an approved organization.
  const allowed = await gate({ path: 'confirmation-click', channel: link.channel, link, actor: tools.actorOf(event) }, logger);
  if (!allowed.allowed) {
    if (!isChannelRefusal(allowed.reason)) return refuseClick(tools, event, allowed.reason);
    // The channel may not page: the prompt is decided as refused, for good (a click after an
    // approval pages no one either), and says so, once whatever clicks and retries come.
    const refused = await deps.links.decide(link.dedupKey, 'refused', event.user);
    await deps.history.recordLink(refused);
    if (refused.confirmation === 'refused') {
      const promptTs = refused.promptTs;
      if (promptTs) await answerOnce(deps.effects, `refused:${refused.dedupKey}`, () => scope.update(promptTs, promptDecidedMessage(customerView(refused), 'refused')), 'updated');
      await deps.links.close(refused.dedupKey);
    }
    return;
  }
  const wanted = event.actionId === CANCEL_PAGE_ACTION_ID ? 'cancelled' : now().getTime() - Date.parse(link.createdAt) > CONFIRMATION_LIFETIME_MS ? 'expired' : 'confirmed';
  const decided = await deps.links.decide(link.dedupKey, wanted, event.user);
  // The click that decided it rewrites the prompt (again, if it is a retry); later clicks leave it.
  if (decided.promptTs && decided.confirmation === wanted && decided.decidedBy === event.user) {
    await scope.update(decided.promptTs, promptDecidedMessage(customerView(decided), decided.confirmation, decided.decidedBy));
  }
  logger.info('confirmation decided', { decision: decided.confirmation });
  if (decided.confirmation !== 'confirmed') {
    await deps.history.recordLink(decided);
    return void (await deps.links.close(decided.dedupKey));
  }
  const lookups = Promise.all([allowed.customer.channelName, decided.threadTs ? deps.slack.permalink(decided.channel, decided.threadTs) : undefined]);
  await page(tools, decided, allowed.customer, { team: decided.team, text: decided.summary, via: decided.via ?? 'mention', lookups }, context, logger);
}

/** Check Status: the live state of the incident that holds this channel's escalation, to the clicker only. */
export async function checkStatus(tools: StepTools, event: SlackActionEvent, context: HandleContext) {
  const { deps, gate } = tools;
  const link: IncidentLink | undefined = isDedupKey(event.value) ? await deps.links.get(event.value) : undefined;
  if (!link || link.channel !== event.channel) return notThisChannel(tools, event, context, 'Check Status');
  const logger = context.logger.child({ dedupKey: link.dedupKey, ...(link.incidentId ? { incidentId: link.incidentId } : {}) });
  // Nothing of the incident for a channel removed or paused, or a clicker nobody approved.
  const allowed = await gate({ path: 'check-status', channel: link.channel, link, actor: tools.actorOf(event) }, logger);
  if (!allowed.allowed) return refuseClick(tools, event, allowed.reason);
  let message: SlackMessage;
  try {
    // The incident that holds this channel's own alert, by evidence; nothing of it is shown but
    // its status, urgency and (under the names rule) who is handling it.
    const located = await tools.ownership.locate(link, logger);
    const view = customerView(located.link);
    const incident = located.incident;
    const showNames = located.link.showNames ?? tools.settings(allowed.customer).showResponderNames;
    const urgency = shownUrgency(incident?.urgency);
    message = incident
      ? statusMessage(view, { ...(incident.status ? { status: incident.status } : {}), ...(urgency ? { urgency } : {}), handledBy: incident.assignees.map((name) => shownPerson(name, showNames)) })
      : confirmationMessage(view);
  } catch (error) {
    if (!context.finalAttempt && !(error instanceof PermanentError)) throw error;
    logger.error('could not read the incident from PagerDuty', { error });
    message = statusUnavailableMessage();
  }
  await answerOnce(deps.effects, `click:${event.id}`, () => tools.scope(link).ephemeral(event.user, message, link.threadTs), 'shown');
  logger.info('Check Status answered');
}
