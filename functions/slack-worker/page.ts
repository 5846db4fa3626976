import { pagerDutyText, slackMarkupToPlainText, stripInvisible, trimSummary } from '../../lib/slack/commands';
import { PermanentError, RateLimitedError, WaitForTurnError } from '../../lib/errors';
import { awaitTurn, postAtTurn, postTurn } from '../../lib/store/pacer';
import { routingKeyLane, type WindowPacer } from '../../lib/store/window-pacer';
import type { IncidentLink } from '../../lib/store/incident-links';
import type { Logger } from '../../lib/runtime/log';
import { METRIC_NAMES } from '../../lib/runtime/metrics';
import { escalationFailedMessage, escalationRejectedMessage, foldedMessage, messageCutMessage } from '../../lib/slack/messages';
import type { CustomerRecord } from '../../lib/store/customers';
import { customerView } from '../../lib/tenancy/customer-view';
import { confirmationFor, showConfirmationNow } from '../../lib/escalation/confirmation';
import { NOTE_BUDGET, type BudgetAnswer, type BudgetRead } from '../../lib/store/page-budget';
import { postOnce } from '../../lib/escalation/once';
import { replyNote } from './thread-replies';
import type { HandleContext, StepTools } from './tools';

/** The most of a person's message an escalation carries to on-call (its `custom_details.message`). */
export const MESSAGE_DETAIL_MAX_LENGTH = 4000;

/**
 * A trigger whose turn under its routing key's limit is at most this far waits for it in place;
 * farther, its message leaves and comes back near its turn.
 */
const TRIGGER_WAIT_IN_PLACE_MS = 3000;

/**
 * Every customer on a routing key shares its Events API limit: in an outage, each trigger goes out
 * at its turn, when the window has room, rather than finding the limit by refusals. Resolves once
 * the turn has come, with the slot's record still being written (wrapped, so that awaiting the
 * turn does not await the record): await `recorded` after the trigger, and call `went` once the
 * trigger has gone (the slot a window later waits for a window after that, should this one go late).
 */
async function triggerTurn(tools: StepTools, lane: string, dedupKey: string, context: HandleContext): Promise<{ recorded: Promise<void>; went: () => Promise<void> }> {
  const pacer = tools.deps.triggerPacer;
  if (!pacer) return { recorded: Promise.resolve(), went: () => Promise.resolve() };
  const nowMs = tools.now().getTime();
  // A first delivery has no kept turn to look up, and one it uses at once it need not keep.
  const turn = context.attempt === 1 ? await pacer.firstTurn(lane, dedupKey, nowMs, TRIGGER_WAIT_IN_PLACE_MS) : { ...(await pacer.kept(lane, dedupKey, nowMs)), recorded: Promise.resolve() };
  const why = "the trigger waits for its turn under PagerDuty's limit on its routing key";
  await awaitTurn(turn.turnAt, nowMs, TRIGGER_WAIT_IN_PLACE_MS, why);
  const atTurn = tools.now().getTime();
  await awaitTurn(await pacer.clearAt(lane, turn, atTurn), atTurn, TRIGGER_WAIT_IN_PLACE_MS, why);
  return { recorded: turn.recorded, went: () => pacer.went(lane, turn.slot, tools.now().getTime()) };
}

/**
 * A paced trigger PagerDuty refused anyway. Its turn is given up and a new one taken. When the
 * window is full of the lane's own turns (an outage on a shared key, this trigger gone late after a
 * busy moment), that turn is when the window has room: it waits for exactly that, instead of a
 * backoff that comes back while the window is still full and leaves freed room unused. When the
 * lane has room by its own count, someone else on the key (the provider's monitoring) took it, at
 * times pd-router cannot see: the new turn is dropped too and the refusal is retried with backoff.
 */
async function afterRefusal(pacer: WindowPacer, lane: string, dedupKey: string, nowMs: number, refusal: RateLimitedError, logger: Logger): Promise<Error> {
  try {
    await pacer.forget(lane, dedupKey);
    const turnAt = await pacer.keptTurn(lane, dedupKey, nowMs);
    if (turnAt - nowMs <= TRIGGER_WAIT_IN_PLACE_MS) {
      await pacer.forget(lane, dedupKey);
      return refusal;
    }
    logger.metric(METRIC_NAMES.pagerDutyRateLimited);
    return new WaitForTurnError('PagerDuty refused the trigger; it goes again at its next turn on the routing key', refusal, Math.floor((turnAt - nowMs) / 1000));
  } catch (error) {
    logger.warn('could not take a new turn for the refused trigger; it is retried with backoff', { error });
    return refusal;
  }
}

/** What the escalation's PagerDuty event says about where it came from (looked up, never failing). */
export interface Origin {
  team: string;
  text: string;
  /** How long the message was when the ingress cut it to the queue's limit (lib/events.ts). */
  cut?: number;
  via: 'mention' | 'command';
  lookups: Promise<[string | undefined, string | undefined]>;
  /** The channel's page budget as read beside the escalation's first writes (PageBudget.read); none: the take reads it. */
  budgetRead?: Promise<BudgetRead>;
  /** The budget already taken for this escalation, beside its first writes (escalate.ts); none: taken here. */
  budgetTaken?: Promise<BudgetAnswer>;
}

/**
 * The once-only notice that an escalation failed for good, on its last attempt, before PagerDuty
 * has it: the customer must hear that it failed, whatever failed (PagerDuty, or DynamoDB, which
 * the once-only post itself needs).
 */
export function failureNotice(tools: StepTools, link: Pick<IncidentLink, 'dedupKey' | 'channel' | 'threadTs'>, contact: string, context: HandleContext, logger: Logger) {
  const { deps } = tools;
  const scope = tools.scope(link);
  return async (error: unknown) => {
    if (!context.finalAttempt) return;
    logger.error('escalation failed for good; telling the channel', { error });
    logger.metric(METRIC_NAMES.escalationsFailed);
    const message = escalationFailedMessage(contact);
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

/**
 * An escalation over its channel's page budget, added to the channel's open escalation as one
 * PagerDuty note on its incident (once, whatever retries come). False when a note cannot carry
 * it (no PAGER_DUTY_FROM_EMAIL, no incident holds the open escalation yet, its note budget is
 * spent, PagerDuty refuses the note): then it is folded by a trigger, as before.
 */
async function foldAsNote(tools: StepTools, link: IncidentLink, into: IncidentLink, origin: Origin, channelName: string | undefined, permalink: string | undefined, logger: Logger): Promise<boolean> {
  const { deps, now } = tools;
  const fromEmail = deps.config.pagerDutyFromEmail;
  if (!fromEmail) return false;
  const incidentId = into.incidentId ?? (await tools.ownership.locate(into, logger)).link.incidentId;
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

/** The open escalation of the channel an escalation over its budget is folded into; none: it pages anyway. */
async function foldTarget(tools: StepTools, link: IncidentLink, customer: CustomerRecord, origin: Origin, logger: Logger): Promise<IncidentLink | undefined> {
  const { deps, now } = tools;
  // The customer's budget: counted once per escalation, whatever retries and redeliveries come.
  const budget = await (origin.budgetTaken ?? deps.budget.take(link.channel, link.dedupKey, now().getTime(), customer.pagesPerHour, origin.budgetRead));
  if (budget.granted) return undefined;
  const latest = await deps.references.latest(link.channel);
  const open = latest && latest.dedupKey !== link.dedupKey ? await deps.links.get(latest.dedupKey) : undefined;
  if (open && open.state === 'triggered' && open.status !== 'resolved') return open;
  // A customer in trouble must still be able to page: over budget with nothing open, it pages.
  logger.warn('over the page budget with nothing open: paging anyway', { used: budget.used, pagesPerHour: customer.pagesPerHour });
  logger.metric(METRIC_NAMES.escalationsOverBudget);
  return undefined;
}

/** What a trigger tells PagerDuty of an escalation (its event, before the API's own wrapping). */
function triggerEvent(input: { link: IncidentLink; customer: CustomerRecord; origin: Origin; carried: string; severity: ReturnType<StepTools['settings']>['severity']; slashCommand: string; channelName: string | undefined; permalink: string | undefined; routingKey: string | undefined; foldInto: IncidentLink | undefined }) {
  const { link, customer, origin, carried, channelName, permalink, routingKey, foldInto } = input;
  return {
    ...(routingKey ? { routingKey } : {}),
    // Folded: the trigger carries the open escalation's key, which PagerDuty adds to its open alert without paging again.
    dedupKey: foldInto?.dedupKey ?? link.dedupKey,
    // What the person typed, as text no reader of PagerDuty turns into a live mention or link.
    summary: trimSummary(pagerDutyText(link.summary)),
    source: channelName ? `#${channelName}` : link.channel,
    severity: input.severity,
    customDetails: {
      team: origin.team,
      channel_id: link.channel,
      channel_name: channelName ?? null,
      customer: customer.name,
      requested_by: link.requester,
      permalink: permalink ?? null,
      message: carried,
      via: origin.via === 'mention' ? 'app_mention' : input.slashCommand,
      ...(link.decidedBy ? { confirmed_by: link.decidedBy } : {}),
      ...(foldInto ? { added_to: foldInto.dedupKey } : {}),
    },
    ...(permalink ? { links: [{ href: permalink, text: 'Slack message' }] } : {}),
  };
}

/** Trigger (or fold) a pending escalation at PagerDuty, and settle it: triggered, folded or rejected. */
async function trigger(tools: StepTools, start: IncidentLink, customer: CustomerRecord, origin: Origin, carried: string, context: HandleContext, logger: Logger): Promise<IncidentLink> {
  const { deps, checkpoint } = tools;
  let link = start;
  const { dedupKey } = link;
  const settings = tools.settings(customer);
  // The customer's own key, read beside the lookups and the budget (only this role may read it).
  const ownKey = settings.ownRoutingKey ? deps.customers.routingKey(link.channel) : Promise.resolve(undefined);
  ownKey.catch(() => undefined);
  const [channelName, permalink] = await origin.lookups;
  const foldInto = await foldTarget(tools, link, customer, origin, logger);
  const routingKey = await ownKey;
  // Folded, with notes possible: one note on the open incident, under that escalation's note
  // budget, instead of one more trigger on the routing key's Events API budget (which every
  // customer on the deployment's key shares).
  const foldedAsNote = foldInto ? await foldAsNote(tools, link, foldInto, origin, channelName, permalink, logger) : false;
  // When the trigger went, recorded beside what follows it rather than before (see triggerTurn).
  let wentRecorded: Promise<void> = Promise.resolve();
  if (!foldedAsNote) {
    const pacer = deps.triggerPacer;
    const lane = routingKeyLane(deps.pagerDuty.routingKeyFor(routingKey));
    const { recorded, went } = await triggerTurn(tools, lane, dedupKey, context);
    // Refused (a 429), the call did not count against the limit; any other end may have.
    let counted = true;
    try {
      await deps.pagerDuty.trigger(triggerEvent({ link, customer, origin, carried, severity: settings.severity, slashCommand: deps.config.slashCommand, channelName, permalink, routingKey, foldInto }));
    } catch (error) {
      if (error instanceof RateLimitedError) {
        counted = false;
        if (pacer) throw await afterRefusal(pacer, lane, dedupKey, tools.now().getTime(), error, logger);
      }
      if (!(error instanceof PermanentError)) {
        await failureNotice(tools, link, settings.contact, context, logger)(error);
        throw error;
      }
      logger.error('PagerDuty refused the escalation', { reason: error.message });
      logger.metric(METRIC_NAMES.escalationsRejected);
      return deps.links.settle(dedupKey, { state: 'rejected', reason: error.message });
    } finally {
      await recorded;
      // Best effort: without it the slot a window later follows this one's planned turn, as before.
      if (counted) wentRecorded = went().catch((error: unknown) => logger.warn('could not record when the trigger went', { error }));
    }
  }
  // Once PagerDuty has accepted, a failure here must not say "not paged".
  if (foldInto) {
    link = await deps.links.fold(dedupKey, foldInto.dedupKey);
    logger.info('over the page budget: added to the channel\'s open escalation', { foldedInto: foldInto.dedupKey });
    logger.metric(METRIC_NAMES.escalationsFolded);
    await wentRecorded;
    return link;
  }
  // The channel's own number for it, taken now and stored with the new state in one write.
  // A retry after a crash between the two gets the same number back (references.take).
  const ref = await deps.references.take(link.channel, dedupKey);
  checkpoint('numbered');
  link = await deps.links.settle(dedupKey, { state: 'triggered', ref });
  logger.info('PagerDuty triggered');
  logger.metric(METRIC_NAMES.escalationsPaged);
  await wentRecorded;
  return link;
}

/** Page (or fold) an escalation that may page, and confirm it in its thread. */
export async function page(tools: StepTools, start: IncidentLink, customer: CustomerRecord, origin: Origin, context: HandleContext, logger: Logger): Promise<void> {
  const { deps, checkpoint } = tools;
  let link = start;
  const { dedupKey } = link;
  const scope = tools.scope(link);
  // What on-call receives of the person's words; longer than that, the person is told in the thread.
  const written = pagerDutyText(stripInvisible(slackMarkupToPlainText(origin.text)));
  const carried = written.slice(0, MESSAGE_DETAIL_MAX_LENGTH);
  const tellCut = async (threadTs: string | undefined) => {
    if (origin.cut === undefined && written.length <= MESSAGE_DETAIL_MAX_LENGTH) return;
    logger.info('the message was longer than an escalation carries; the channel is told it was cut', { characters: origin.cut ?? Array.from(written).length, kept: carried.length });
    await postOnce(deps.effects, scope, `cut:${dedupKey}`, messageCutMessage(carried.length), threadTs);
  };

  if (link.state === 'pending') {
    link = await trigger(tools, link, customer, origin, carried, context, logger);
    checkpoint('triggered');
  }
  // Retried before it was posted (most often Slack refused it: every customer escalating at once
  // meets the workspace's post limit), the confirmation takes a turn under that limit (beside the
  // history's write) rather than coming back with hundreds of others at a random point after
  // their Retry-After and being refused again; never from the lane's burst, which posts the lane
  // did not see spent. A first attempt posts at once: paced too, each one whose turn is far leaves
  // and comes back, competing with the escalations still arriving for the workers, and the storm
  // confirmed everyone later that way (docs/performance.md, "Issue 27, fifth round").
  const confirmTurn = context.attempt > 1 && link.state === 'triggered' && !link.confirmationTs && deps.postPacer ? postTurn(deps.postPacer, link.team, `confirm:${dedupKey}`, () => tools.now().getTime(), { burst: false }) : undefined;
  // After the settle, on every attempt: a crash between the two is recorded by the retry.
  const [recorded, turn] = await Promise.allSettled([deps.history.recordLink(link), confirmTurn]);
  if (recorded.status === 'rejected') throw recorded.reason;

  if (link.state === 'folded') {
    const open = await deps.links.get(link.foldedInto!);
    await postOnce(deps.effects, scope, `folded:${dedupKey}`, foldedMessage(customerView(open ?? link)), link.threadTs);
    await tellCut(link.threadTs);
    return;
  }

  if (link.state === 'rejected') {
    await postOnce(deps.effects, scope, `rejected:${dedupKey}`, escalationRejectedMessage(tools.settings(customer).contact), link.threadTs);
    return;
  }

  // Stored by the settle above; a link an earlier version settled may still lack it.
  if (link.ref === undefined) link = await deps.links.setRef(dedupKey, await deps.references.take(link.channel, dedupKey));
  const confirmation = confirmationFor(link);
  if (turn.status === 'rejected') throw turn.reason;
  const { ts: confirmationTs } = await postAtTurn(deps.postPacer, link.team, `confirm:${dedupKey}`, turn.value, () => tools.now().getTime(), () =>
    postOnce(deps.effects, scope, `confirm:${dedupKey}`, confirmation.message, link.threadTs),
  );
  checkpoint('confirmed');
  if (link.confirmationTs !== confirmationTs) link = await deps.links.setConfirmation(dedupKey, confirmationTs, confirmation.shown);
  // A slash command's confirmation starts the thread every later update goes to.
  if (!link.threadTs) link = await deps.links.setThread(dedupKey, confirmationTs);
  // An update may have arrived while we were posting (its own refresh found no confirmation yet): show it.
  await showConfirmationNow(deps, link);
  await tellCut(link.threadTs);
  logger.info('escalation confirmed');
}
