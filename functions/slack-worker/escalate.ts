import { slackMarkupToPlainText, stripInvisible, trimSummary } from '../../lib/slack/commands';
import { dedupKeyFor } from '../../lib/dedup-key';
import type { SlackMessageEvent } from '../../lib/events';
import type { IncidentLink } from '../../lib/store/incident-links';
import type { CustomerRecord } from '../../lib/store/customer-records';
import type { Logger } from '../../lib/runtime/log';
import { METRIC_NAMES } from '../../lib/runtime/metrics';
import { confirmPromptMessage, notSetUpMessage } from '../../lib/slack/messages';
import type { SlackMessage } from '../../lib/slack/web-api';
import type { GateRefusal } from '../../lib/escalation/delivery-gate';
import type { RefusedReason } from '../../lib/store/history';
import { customerView } from '../../lib/tenancy/customer-view';
import { answerOnce, postOnce } from '../../lib/escalation/once';
import { BUDGET_WINDOW_MS, type BudgetRead } from '../../lib/store/page-budget';
import { failureNotice, page, type Origin } from './page';
import type { HandleContext, StepTools } from './tools';

/**
 * Nothing goes to PagerDuty from a channel that is not a registered customer's (or that became
 * shared with an organization nobody approved): the person gets a data-free answer, the
 * provider a log line and a metric.
 */
async function refuse(tools: StepTools, event: SlackMessageEvent, reason: GateRefusal, context: HandleContext, orgs: string[] = []) {
  const { deps } = tools;
  if (reason === 'unregistered' || reason === 'removed') context.logger.warn('escalation refused: the channel is not a registered customer', { reason });
  else if (reason === 'unapproved-organization') context.logger.error('escalation refused: the channel is shared with an organization nobody approved', { reason, organizations: orgs });
  else context.logger.warn('escalation refused: the person or the event is not of the installation or an approved organization', { reason });
  context.logger.metric(METRIC_NAMES.escalationsRefused, 1, { reason });
  // Another workspace's installation, or another app: Slack gives us no way to answer there.
  if (reason === 'other-installation') return;
  const message = notSetUpMessage();
  if (event.via === 'command') {
    // A DM or a channel the bot is not in has no room for chat.postEphemeral: answer through the command's own URL.
    if (event.responseUrl) await answerOnce(deps.effects, `refused:${event.id}`, () => deps.slack.respond(event.responseUrl!, message), 'responded');
    return;
  }
  await postOnce(deps.effects, tools.scope(event), `refused:${event.id}`, message, event.threadTs ?? event.ts);
}

/** Why the history says nobody was paged for a refused escalation; undefined for another installation's events, which are not ours. */
function refusedReason(reason: GateRefusal): RefusedReason | undefined {
  if (reason === 'other-installation') return undefined;
  if (reason === 'unregistered' || reason === 'removed') return 'unregistered';
  return reason === 'unapproved-organization' ? 'paused' : 'not-approved';
}

/**
 * The page budget, read and taken beside the link's first write rather than after it. A take is
 * idempotent while the escalation's grant is in the window, and Slack's retries of an event come
 * within minutes of it: every earlier take of a message received this recently is still there, so
 * taken now, it is the take the page would make. An older one (a redrive) is taken by the page.
 */
function budgetAheadOf(tools: StepTools, event: SlackMessageEvent, dedupKey: string, customer: CustomerRecord, budgetRead: Promise<BudgetRead>): Pick<Origin, 'budgetRead' | 'budgetTaken'> {
  const nowMs = tools.now().getTime();
  if (nowMs - Date.parse(event.receivedAt) >= BUDGET_WINDOW_MS / 2) return { budgetRead };
  const budgetTaken = tools.deps.budget.take(event.channel, dedupKey, nowMs, customer.pagesPerHour, budgetRead);
  budgetTaken.catch(() => undefined);
  return { budgetRead, budgetTaken };
}

/** When the person asked: their message's time (a mention), or now (a slash command, which carries none). */
function askedAt(event: SlackMessageEvent, now: Date): string {
  const seconds = Number(event.ts);
  return event.ts && Number.isFinite(seconds) ? new Date(Math.floor(seconds * 1000)).toISOString() : now.toISOString();
}

/** A person's `escalate …` (a mention or the slash command): recorded once, then paged, or asked to confirm first. */
export async function escalate(tools: StepTools, event: SlackMessageEvent, description: string, context: HandleContext) {
  const { deps, gate, checkpoint } = tools;
  const dedupKey = dedupKeyFor(event);
  const logger = context.logger.child({ dedupKey });
  const threadTs = event.via === 'mention' ? (event.threadTs ?? event.ts) : undefined;
  const unsettled = { dedupKey, channel: event.channel, ...(threadTs ? { threadTs } : {}) };
  // The page budget is read beside the gate, not after it: one round trip less before the page.
  // Wasted only when the gate refuses or the customer's escalations wait for a click (the click
  // pages, and reads it then); never awaited by an escalation settled before (a redelivery).
  const budgetAhead = deps.budget.read(event.channel, dedupKey);
  budgetAhead.catch(() => undefined);
  let registration: Awaited<ReturnType<typeof gate>>;
  try {
    registration = await gate({ path: 'escalation', channel: event.channel, actor: tools.actorOf(event) }, logger);
  } catch (error) {
    // The registry cannot be read (DynamoDB is down): on the last attempt the person still hears
    // that nobody was paged, in words that say nothing about any customer.
    await failureNotice(tools, unsettled, deps.config.supportContact, context, logger)(error);
    throw error;
  }
  if (!registration.allowed) {
    const reason = refusedReason(registration.reason);
    if (reason) await deps.history.record({ dedupKey, channel: event.channel, askedAt: askedAt(event, tools.now()) }, { step: 'refused', reason });
    return refuse(tools, event, registration.reason, context, registration.organizations);
  }
  const { customer } = registration;
  const settings = tools.settings(customer);
  // Nothing is asked of Slack before PagerDuty: the channel's name comes with a slash command or
  // from the registry, the permalink from the workspace address auth.test gave (cached).
  const origin: Origin = {
    team: event.team,
    text: event.text,
    ...(event.cut !== undefined ? { cut: event.cut } : {}),
    via: event.via,
    lookups: Promise.all([event.channelName ?? customer.channelName, event.ts ? deps.slack.permalink(event.channel, event.ts) : undefined]),
    ...(settings.confirm ? {} : budgetAheadOf(tools, event, dedupKey, customer, budgetAhead)),
  };
  const summary = trimSummary(stripInvisible(slackMarkupToPlainText(description)));
  let link: IncidentLink;
  let created: boolean;
  try {
    ({ link, created } = await deps.links.create({
      dedupKey,
      team: event.team,
      channel: event.channel,
      ...(threadTs ? { threadTs } : {}),
      requester: event.user,
      summary,
      via: event.via,
      showNames: settings.showResponderNames,
      ...(customer.registrationId ? { registrationId: customer.registrationId } : {}),
    }));
  } catch (error) {
    await failureNotice(tools, unsettled, settings.contact, context, logger)(error);
    throw error;
  }
  logger.info(created ? 'escalation recorded' : 'escalation resumed', { state: link.state });
  if (created) logger.metric(METRIC_NAMES.escalationsReceived);
  checkpoint('link-created');

  // The customer asked that paging needs a click: ask, once, and wait for it.
  if (settings.confirm && link.state === 'pending' && link.confirmation !== 'confirmed') {
    if (link.confirmation) return; // cancelled or expired: nothing pages
    const { ts: promptTs } = await postOnce(deps.effects, tools.scope(link), `prompt:${dedupKey}`, confirmPromptMessage(customerView(link)), link.threadTs);
    link = await deps.links.askConfirmation(dedupKey, promptTs);
    if (!link.threadTs) await deps.links.setThread(dedupKey, promptTs);
    // The history learns of an escalation when it is paged or settled (page), or here, asked to confirm.
    await deps.history.recordLink(link);
    logger.info('asked the channel to confirm before paging');
    return;
  }
  await page(tools, link, customer, origin, context, logger);
  await keepChannelName(tools, event, customer, logger);
}

/**
 * After the escalation is answered, off the path to PagerDuty: the registry learns the channel's
 * name for the next escalation. A slash command carries it (a renamed channel is learned from the
 * next one); a mention does not, and Slack is asked (conversations.info) only while the registry
 * has no name at all. A failure here costs only a less readable page later.
 */
async function keepChannelName(tools: StepTools, event: SlackMessageEvent, customer: CustomerRecord, logger: Logger): Promise<void> {
  if (!event.channelName && customer.channelName) return;
  try {
    const name = event.channelName ?? (await tools.deps.slack.channelName(event.channel));
    if (!name || name === customer.channelName) return;
    await tools.deps.customers.recordChannelName(event.channel, name);
    logger.info('the channel\'s name is kept for its next escalations', { known: customer.channelName !== undefined });
  } catch (error) {
    logger.warn('could not keep the channel\'s name; its next escalation asks again', { error });
  }
}

/** The answer to a ping or a request for help: in the thread for a mention, to its author alone for a slash command. */
export async function reply(tools: StepTools, event: SlackMessageEvent, message: SlackMessage, threadTs: string | undefined) {
  const scope = tools.scope(event);
  // A slash command has no message to answer in a thread: answer its author only.
  if (event.via === 'command') return void (await answerOnce(tools.deps.effects, `reply:${event.id}`, () => scope.ephemeral(event.user, message), 'ephemeral'));
  await postOnce(tools.deps.effects, scope, `reply:${event.id}`, message, threadTs);
}
