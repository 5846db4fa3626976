import { pagerDutyText, parseCommand, parseSlashCommand, slackMarkupToPlainText, stripInvisible, textAfterBotMention, trimSummary } from '../../lib/commands';
import { dedupKeyFor, isDedupKey } from '../../lib/dedup-key';
import type { Effects } from '../../lib/store/effects';
import { PermanentError } from '../../lib/errors';
import type { SlackActionEvent, SlackChannelEvent, SlackMessageEvent, SlackQueueEvent, SlackReplyEvent } from '../../lib/events';
import { CONFIRMATION_LIFETIME_MS, type IncidentLink } from '../../lib/store/incident-links';
import type { Logger } from '../../lib/runtime/log';
import { CANCEL_PAGE_ACTION_ID, CHECK_STATUS_ACTION_ID } from '../../lib/slack/normalize';
import { METRIC_NAMES } from '../../lib/runtime/metrics';
import {
  confirmationMessage,
  escalationFailedMessage,
  confirmPromptMessage,
  escalationRejectedMessage,
  foldedMessage,
  messageCutMessage,
  gateRefusalMessage,
  promptDecidedMessage,
  helpMessage,
  notSetUpMessage,
  pongMessage,
  refusalMessage,
  statusMessage,
  statusUnavailableMessage,
} from '../../lib/slack/messages';
import type { Severity } from '../../lib/pagerduty/api';
import type { WorkerParts } from '../shared/worker-runtime';
import { unapprovedOrgs, type CustomerRecord } from '../../lib/store/customers';
import { isChannelRefusal, makeDeliveryGate, type Actor, type GateRefusal } from '../../lib/escalation/delivery-gate';
import { customerView, shownPerson, shownUrgency } from '../../lib/tenancy/customer-view';
import { confirmationFor, showConfirmationNow } from '../../lib/tenancy/confirmation';
import { makeOwnership } from '../../lib/tenancy/ownership';
import { channelScope, type ChannelScope, type SlackMessage } from '../../lib/slack/web-api';
import { makeThreadReplies, replyNote } from './thread-replies';
import { NOTE_BUDGET } from '../../lib/store/page-budget';

/** The worker's parts (lib/runtime/worker-runtime.ts), with only the settings it reads. */
export interface SlackWorkerDeps extends Omit<WorkerParts, 'config' | 'checkpoint'> {
  config: { pingPhrase: string; slashCommand: string; supportContact: string; showResponderNames: boolean; severity: Severity; pagerDutyFromEmail?: string; slackAppId?: string };
  /** Called after each step that changes something; tests throw here to simulate a crash. */
  checkpoint?: (step: string) => void;
  now?: () => Date;
}

export interface HandleContext {
  logger: Logger;
  finalAttempt: boolean;
}

/** The most of a person's message an escalation carries to on-call (its `custom_details.message`). */
export const MESSAGE_DETAIL_MAX_LENGTH = 4000;

/** Post a message once per effect key, even if this work runs again after a crash. */
async function postOnce(effects: Effects, scope: ChannelScope, effectKey: string, message: SlackMessage, threadTs?: string): Promise<string> {
  const { result } = await effects.once(
    effectKey,
    () => scope.post(message, { effectKey, ...(threadTs ? { threadTs } : {}) }),
    (since) => scope.findByEffectKey(effectKey, since, threadTs),
  );
  return result;
}

/** The slack-worker's logic: escalations, ping, help and Check Status. */
export function makeSlackWorker(deps: SlackWorkerDeps) {
  const checkpoint = (step: string) => deps.checkpoint?.(step);
  const ownership = makeOwnership(deps);
  const now = deps.now ?? (() => new Date());
  // Asked by every path below before it shows anything to a channel or acts for one.
  const gate = makeDeliveryGate({ customers: deps.customers, slack: deps.slack, ...(deps.config.slackAppId ? { appId: deps.config.slackAppId } : {}) });
  const threadReply = makeThreadReplies({ ...deps, ownership, gate, actorOf, ...(deps.config.pagerDutyFromEmail ? { fromEmail: deps.config.pagerDutyFromEmail } : {}) });

  async function reply(event: SlackMessageEvent, message: SlackMessage, threadTs: string | undefined) {
    const scope = channelScope(deps.slack, event.channel);
    if (event.via === 'command') {
      // A slash command has no message to answer in a thread: answer its author only.
      await deps.effects.once(`reply:${event.id}`, async () => (await scope.ephemeral(event.user, message), 'ephemeral'), async () => undefined);
      return;
    }
    await postOnce(deps.effects, scope, `reply:${event.id}`, message, threadTs);
  }

  /**
   * Nothing goes to PagerDuty from a channel that is not a registered customer's (or that became
   * shared with an organization nobody approved): the person gets a data-free answer, the
   * provider a log line and a metric.
   */
  async function refuse(event: SlackMessageEvent, reason: GateRefusal, context: HandleContext, orgs: string[] = []) {
    if (reason === 'unregistered' || reason === 'removed') context.logger.warn('escalation refused: the channel is not a registered customer', { reason });
    else if (reason === 'unapproved-organization') context.logger.error('escalation refused: the channel is shared with an organization nobody approved', { reason, organizations: orgs });
    else context.logger.warn('escalation refused: the person or the event is not of the installation or an approved organization', { reason });
    context.logger.metric(METRIC_NAMES.escalationsRefused, 1, { reason });
    // Another workspace's installation, or another app: Slack gives us no way to answer there.
    if (reason === 'other-installation') return;
    const message = notSetUpMessage();
    if (event.via === 'command') {
      // A DM or a channel the bot is not in has no room for chat.postEphemeral: answer through the command's own URL.
      if (event.responseUrl) await deps.effects.once(`refused:${event.id}`, async () => (await deps.slack.respond(event.responseUrl!, message), 'responded'), async () => undefined);
      return;
    }
    await postOnce(deps.effects, channelScope(deps.slack, event.channel), `refused:${event.id}`, message, event.threadTs ?? event.ts);
  }

  /**
   * Who acts, for the gate. An Events API envelope's `team_id` is the installation's, so it is
   * compared; a click's or a slash command's `team` is the person's own workspace, so it is their
   * organization. `userTeam` (Slack Connect's `user_team`, `user.team_id`) names it when given.
   */
  function actorOf(event: SlackMessageEvent | SlackActionEvent | SlackReplyEvent): Actor {
    const envelope = event.kind === 'slack.reply' || (event.kind === 'slack.message' && event.via === 'mention');
    return { ...(envelope ? { eventTeam: event.team } : {}), ...(event.appId ? { appId: event.appId } : {}), org: event.userTeam ?? event.team };
  }

  /** The answer to a click the gate refused: a data-free line to the clicker only (none where Slack gives us no way). */
  async function refuseClick(event: SlackActionEvent, reason: GateRefusal) {
    if (reason === 'other-installation') return;
    await deps.effects.once(`click:${event.id}`, async () => (await channelScope(deps.slack, event.channel).ephemeral(event.user, gateRefusalMessage()), 'refused'), async () => undefined);
  }

  /** What the escalation's PagerDuty event says about where it came from (looked up, never failing). */
  interface Origin {
    team: string;
    text: string;
    /** How long the message was when the ingress cut it to the queue's limit (lib/events.ts). */
    cut?: number;
    via: 'mention' | 'command';
    lookups: Promise<[string | undefined, string | undefined]>;
  }

  /** The once-only notice that an escalation failed for good, on its last attempt. */
  function failureNotice(link: Pick<IncidentLink, 'dedupKey' | 'channel' | 'threadTs'>, supportContact: string, context: HandleContext, logger: Logger) {
    const scope = channelScope(deps.slack, link.channel);
    // On the last attempt, before PagerDuty has the escalation: the customer must hear that it
    // failed, whatever failed (PagerDuty, or DynamoDB, which the once-only post itself needs).
    return async (error: unknown) => {
      if (!context.finalAttempt) return;
      logger.error('escalation failed for good; telling the channel', { error });
      logger.metric(METRIC_NAMES.escalationsFailed);
      const message = escalationFailedMessage(supportContact);
      try {
        await postOnce(deps.effects, scope, `failed:${link.dedupKey}`, message, link.threadTs);
      } catch (postError) {
        logger.warn('could not post the failure notice once-only; posting it directly', { error: postError });
        await scope.post(message, { effectKey: `failed:${link.dedupKey}`, ...(link.threadTs ? { threadTs: link.threadTs } : {}) }).catch((directError: unknown) => {
          logger.error('could not tell the channel that the escalation failed', { error: directError });
        });
      }
    };
  }

  async function escalate(event: SlackMessageEvent, description: string, context: HandleContext) {
    const dedupKey = dedupKeyFor(event);
    const logger = context.logger.child({ dedupKey });
    const threadTs = event.via === 'mention' ? (event.threadTs ?? event.ts) : undefined;
    let registration: Awaited<ReturnType<typeof gate>>;
    try {
      registration = await gate({ path: 'escalation', channel: event.channel, actor: actorOf(event) }, logger);
    } catch (error) {
      // The registry cannot be read (DynamoDB is down): on the last attempt the person still hears
      // that nobody was paged, in words that say nothing about any customer.
      await failureNotice({ dedupKey, channel: event.channel, ...(threadTs ? { threadTs } : {}) }, deps.config.supportContact, context, logger)(error);
      throw error;
    }
    if (!registration.allowed) return refuse(event, registration.reason, context, registration.organizations);
    const { customer } = registration;
    // Started now so that they overlap the DynamoDB write; neither ever rejects (a missing name
    // or link only makes the incident's details less readable).
    const origin: Origin = {
      team: event.team,
      text: event.text,
      ...(event.cut !== undefined ? { cut: event.cut } : {}),
      via: event.via,
      lookups: Promise.all([event.channelName ?? deps.slack.channelName(event.channel), event.ts ? deps.slack.permalink(event.channel, event.ts) : undefined]),
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
        showNames: customer.showResponderNames ?? deps.config.showResponderNames,
        ...(customer.registrationId ? { registrationId: customer.registrationId } : {}),
      }));
    } catch (error) {
      await failureNotice({ dedupKey, channel: event.channel, ...(threadTs ? { threadTs } : {}) }, customer.contact ?? deps.config.supportContact, context, logger)(error);
      throw error;
    }
    logger.info(created ? 'escalation recorded' : 'escalation resumed', { state: link.state });
    if (created) logger.metric(METRIC_NAMES.escalationsReceived);
    checkpoint('link-created');

    // The customer asked that paging needs a click: ask, once, and wait for it.
    if (customer.confirm && link.state === 'pending' && link.confirmation !== 'confirmed') {
      if (link.confirmation) return; // cancelled or expired: nothing pages
      const scope = channelScope(deps.slack, event.channel);
      const promptTs = await postOnce(deps.effects, scope, `prompt:${dedupKey}`, confirmPromptMessage(customerView(link)), link.threadTs);
      link = await deps.links.askConfirmation(dedupKey, promptTs);
      if (!link.threadTs) await deps.links.setThread(dedupKey, promptTs);
      logger.info('asked the channel to confirm before paging');
      return;
    }
    await page(link, customer, origin, context, logger);
  }

  /**
   * An escalation over its channel's page budget, added to the channel's open escalation as one
   * PagerDuty note on its incident (once, whatever retries come). False when a note cannot carry
   * it (no PAGER_DUTY_FROM_EMAIL, no incident holds the open escalation yet, its note budget is
   * spent, PagerDuty refuses the note): then it is folded by a trigger, as before.
   */
  async function foldAsNote(link: IncidentLink, into: IncidentLink, origin: Origin, channelName: string | undefined, permalink: string | undefined, logger: Logger): Promise<boolean> {
    const fromEmail = deps.config.pagerDutyFromEmail;
    if (!fromEmail) return false;
    const incidentId = into.incidentId ?? (await ownership.locate(into, logger)).link.incidentId;
    if (!incidentId) return false;
    const notes = await deps.noteBudget.take(into.dedupKey, `fold:${link.dedupKey}`, now().getTime(), NOTE_BUDGET.limit);
    if (!notes.granted) return false;
    // What identifies this note among the incident's notes, should an attempt be interrupted after adding it.
    const suffix = permalink ?? `pd-router ${link.dedupKey}`;
    const content = replyNote({
      lead: 'Another escalation from this channel, over its page budget, added here instead of paging again. ',
      channel: link.channel,
      ...(channelName ? { channelName } : {}),
      user: link.requester,
      text: origin.text,
      suffix,
    });
    try {
      await deps.effects.once(`foldnote:${link.dedupKey}`, () => deps.pagerDuty.addNote(incidentId, content, fromEmail), () => deps.pagerDuty.findNote(incidentId, `(${suffix})`));
    } catch (error) {
      if (!(error instanceof PermanentError)) throw error;
      logger.warn('PagerDuty refused the folded escalation\'s note; folding it by a trigger instead', { incidentId, reason: error.message });
      return false;
    }
    logger.info('over the page budget: added to the open incident as a note', { incidentId });
    return true;
  }

  /** Page (or fold) an escalation that may page, and confirm it in its thread. */
  async function page(start: IncidentLink, customer: CustomerRecord, origin: Origin, context: HandleContext, logger: Logger) {
    let link = start;
    const { dedupKey } = link;
    const supportContact = customer.contact ?? deps.config.supportContact;
    const scope = channelScope(deps.slack, link.channel);
    const tellFailed = failureNotice(link, supportContact, context, logger);
    // What on-call receives of the person's words; longer than that, the person is told in the thread.
    const written = pagerDutyText(stripInvisible(slackMarkupToPlainText(origin.text)));
    const carried = written.slice(0, MESSAGE_DETAIL_MAX_LENGTH);
    const tellCut = async (threadTs: string | undefined) => {
      if (origin.cut === undefined && written.length <= MESSAGE_DETAIL_MAX_LENGTH) return;
      logger.info('the message was longer than an escalation carries; the channel is told it was cut', { characters: origin.cut ?? Array.from(written).length, kept: carried.length });
      await postOnce(deps.effects, scope, `cut:${dedupKey}`, messageCutMessage(carried.length), threadTs);
    };

    if (link.state === 'pending') {
      // The customer's own key, read beside the lookups and the budget (only this role may read it).
      const ownKey = customer.routingKeyMask === undefined ? Promise.resolve(undefined) : deps.customers.routingKey(link.channel);
      ownKey.catch(() => undefined);
      const [channelName, permalink] = await origin.lookups;
      // The customer's budget: counted once per escalation, whatever retries and redeliveries come.
      const budget = await deps.budget.take(link.channel, dedupKey, now().getTime(), customer.pagesPerHour);
      let foldInto: IncidentLink | undefined;
      if (!budget.granted) {
        const latest = await deps.references.latest(link.channel);
        const open = latest && latest.dedupKey !== dedupKey ? await deps.links.get(latest.dedupKey) : undefined;
        if (open && open.state === 'triggered' && open.status !== 'resolved') foldInto = open;
        else {
          // A customer in trouble must still be able to page: over budget with nothing open, it pages.
          logger.warn('over the page budget with nothing open: paging anyway', { used: budget.used, pagesPerHour: customer.pagesPerHour });
          logger.metric(METRIC_NAMES.escalationsOverBudget);
        }
      }
      const routingKey = await ownKey;
      // Folded, with notes possible: one note on the open incident, under that escalation's note
      // budget, instead of one more trigger on the routing key's Events API budget (which every
      // customer on the deployment's key shares).
      const foldedAsNote = foldInto ? await foldAsNote(link, foldInto, origin, channelName, permalink, logger) : false;
      if (!foldedAsNote) try {
        await deps.pagerDuty.trigger({
          ...(routingKey ? { routingKey } : {}),
          // Folded: the trigger carries the open escalation's key, which PagerDuty adds to its open alert without paging again.
          dedupKey: foldInto?.dedupKey ?? dedupKey,
          // What the person typed, as text no reader of PagerDuty turns into a live mention or link.
          summary: trimSummary(pagerDutyText(link.summary)),
          source: channelName ? `#${channelName}` : link.channel,
          severity: customer.severity ?? deps.config.severity,
          customDetails: {
            team: origin.team,
            channel_id: link.channel,
            channel_name: channelName ?? null,
            customer: customer.name,
            requested_by: link.requester,
            permalink: permalink ?? null,
            message: carried,
            via: origin.via === 'mention' ? 'app_mention' : deps.config.slashCommand,
            ...(link.decidedBy ? { confirmed_by: link.decidedBy } : {}),
            ...(foldInto ? { added_to: foldInto.dedupKey } : {}),
          },
          ...(permalink ? { links: [{ href: permalink, text: 'Slack message' }] } : {}),
        });
      } catch (error) {
        if (!(error instanceof PermanentError)) {
          await tellFailed(error);
          throw error;
        }
        logger.error('PagerDuty refused the escalation', { reason: error.message });
        link = await deps.links.settle(dedupKey, { state: 'rejected', reason: error.message });
        logger.metric(METRIC_NAMES.escalationsRejected);
      }
      // Outside the try: once PagerDuty has accepted, a failure here must not say "not paged".
      if (link.state === 'pending' && foldInto) {
        link = await deps.links.fold(dedupKey, foldInto.dedupKey);
        logger.info('over the page budget: added to the channel\'s open escalation', { foldedInto: foldInto.dedupKey });
        logger.metric(METRIC_NAMES.escalationsFolded);
      } else if (link.state === 'pending') {
        // The channel's own number for it, taken now and stored with the new state in one write.
        // A retry after a crash between the two gets the same number back (references.take).
        const ref = await deps.references.take(link.channel, dedupKey);
        checkpoint('numbered');
        link = await deps.links.settle(dedupKey, { state: 'triggered', ref });
        logger.info('PagerDuty triggered');
        logger.metric(METRIC_NAMES.escalationsPaged);
      }
      checkpoint('triggered');
    }

    if (link.state === 'folded') {
      const open = await deps.links.get(link.foldedInto!);
      await postOnce(deps.effects, scope, `folded:${dedupKey}`, foldedMessage(customerView(open ?? link)), link.threadTs);
      await tellCut(link.threadTs);
      return;
    }

    if (link.state === 'rejected') {
      await postOnce(deps.effects, scope, `rejected:${dedupKey}`, escalationRejectedMessage(supportContact), link.threadTs);
      return;
    }

    // Stored by the settle above; a link an earlier version settled may still lack it.
    if (link.ref === undefined) link = await deps.links.setRef(dedupKey, await deps.references.take(link.channel, dedupKey));
    const confirmation = confirmationFor(link);
    const confirmationTs = await postOnce(deps.effects, scope, `confirm:${dedupKey}`, confirmation.message, link.threadTs);
    checkpoint('confirmed');
    if (link.confirmationTs !== confirmationTs) link = await deps.links.setConfirmation(dedupKey, confirmationTs, confirmation.shown);
    // A slash command's confirmation starts the thread every later update goes to.
    if (!link.threadTs) link = await deps.links.setThread(dedupKey, confirmationTs);
    // An update may have arrived while we were posting (its own refresh found no confirmation yet): show it.
    await showConfirmationNow(deps, link);
    await tellCut(link.threadTs);
    logger.info('escalation confirmed');
  }

  /**
   * A click on Page on-call or Cancel: only from the escalation's own channel, decided once
   * whoever clicks and however often; a prompt older than 15 minutes pages no one.
   */
  async function confirmationClick(event: SlackActionEvent, context: HandleContext) {
    const link = isDedupKey(event.value) ? await deps.links.get(event.value) : undefined;
    if (!link || link.channel !== event.channel || !link.confirmation) {
      context.logger.warn('confirmation click refused: the escalation does not belong to this channel');
      await deps.effects.once(`click:${event.id}`, async () => (await channelScope(deps.slack, event.channel).ephemeral(event.user, refusalMessage()), 'refused'), async () => undefined);
      return;
    }
    const logger = context.logger.child({ dedupKey: link.dedupKey });
    const scope = channelScope(deps.slack, link.channel);
    // Decided only when the gate allows it now: the channel may have been removed or shared since
    // the prompt was posted, and the clicker must be of the provider or an approved organization.
    const allowed = await gate({ path: 'confirmation-click', channel: link.channel, link, actor: actorOf(event) }, logger);
    if (!allowed.allowed) {
      if (!isChannelRefusal(allowed.reason)) return refuseClick(event, allowed.reason);
      // The channel may not page: the prompt is decided as refused, for good (a click after an
      // approval pages no one either), and says so, once whatever clicks and retries come.
      const refused = await deps.links.decide(link.dedupKey, 'refused', event.user);
      if (refused.confirmation === 'refused') {
        const promptTs = refused.promptTs;
        if (promptTs) await deps.effects.once(`refused:${refused.dedupKey}`, async () => (await scope.update(promptTs, promptDecidedMessage(customerView(refused), 'refused')), 'updated'), async () => undefined);
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
      await deps.links.close(decided.dedupKey);
      return;
    }
    await page(decided, allowed.customer, { team: decided.team, text: decided.summary, via: decided.via ?? 'mention', lookups: Promise.all([deps.slack.channelName(decided.channel), decided.threadTs ? deps.slack.permalink(decided.channel, decided.threadTs) : undefined]) }, context, logger);
  }

  async function checkStatus(event: SlackActionEvent, context: HandleContext) {
    const clickScope = channelScope(deps.slack, event.channel);
    const link: IncidentLink | undefined = isDedupKey(event.value) ? await deps.links.get(event.value) : undefined;
    // Tenancy is the channel: a button copied into another channel (or forged) learns nothing.
    if (!link || link.channel !== event.channel) {
      context.logger.warn('Check Status refused: the incident does not belong to this channel');
      await deps.effects.once(`click:${event.id}`, async () => (await clickScope.ephemeral(event.user, refusalMessage()), 'refused'), async () => undefined);
      return;
    }
    const scope = channelScope(deps.slack, link.channel);
    const logger = context.logger.child({ dedupKey: link.dedupKey, ...(link.incidentId ? { incidentId: link.incidentId } : {}) });
    // Nothing of the incident for a channel removed or paused, or a clicker nobody approved.
    const allowed = await gate({ path: 'check-status', channel: link.channel, link, actor: actorOf(event) }, logger);
    if (!allowed.allowed) return refuseClick(event, allowed.reason);
    let message: SlackMessage;
    try {
      // The incident that holds this channel's own alert, by evidence; nothing of it is shown but
      // its status, urgency and (under the names rule) who is handling it.
      const located = await ownership.locate(link, logger);
      const view = customerView(located.link);
      const incident = located.incident;
      message = incident
        ? statusMessage(view, {
            ...(incident.status ? { status: incident.status } : {}),
            ...(shownUrgency(incident.urgency) ? { urgency: shownUrgency(incident.urgency)! } : {}),
            handledBy: incident.assignees.map((name) => shownPerson(name, located.link.showNames ?? deps.config.showResponderNames)),
          })
        : confirmationMessage(view);
    } catch (error) {
      if (!context.finalAttempt && !(error instanceof PermanentError)) throw error;
      logger.error('could not read the incident from PagerDuty', { error });
      message = statusUnavailableMessage();
    }
    await deps.effects.once(`click:${event.id}`, async () => (await scope.ephemeral(event.user, message, link.threadTs), 'shown'), async () => undefined);
    logger.info('Check Status answered');
  }

  /** Who the channel is shared with changed: recorded, so the guard pauses it until `customers approve`. */
  async function channelChanged(event: SlackChannelEvent, context: HandleContext) {
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

  return async function handleSlackEvent(event: SlackQueueEvent, context: HandleContext): Promise<void> {
    try {
      if (event.kind === 'slack.action') return await (event.actionId === CHECK_STATUS_ACTION_ID ? checkStatus(event, context) : confirmationClick(event, context));
      if (event.kind === 'slack.channel') return await channelChanged(event, context);
      if (event.kind === 'slack.reply') return await threadReply(event, context.logger, context.finalAttempt);
      // Our own id from auth.test: in a Slack Connect channel the event's authorizations may be another organization's.
      const botUserId = event.via === 'mention' ? ((await deps.slack.botUserId()) ?? event.botUserId) : undefined;
      const command = event.via === 'mention' ? parseCommand(textAfterBotMention(event.text, botUserId), deps.config.pingPhrase) : parseSlashCommand(event.text, deps.config.pingPhrase);
      const threadTs = event.threadTs ?? event.ts;
      if (command.type === 'escalate') return await escalate(event, command.description, context);
      return await reply(event, command.type === 'ping' ? pongMessage() : helpMessage(deps.config.slashCommand), threadTs);
    } catch (error) {
      if (error instanceof PermanentError) {
        context.logger.warn('Slack refused our message to this channel; dropped', { reason: error.code });
        context.logger.metric(METRIC_NAMES.slackChannelUnavailable);
        return;
      }
      throw error;
    }
  };
}
