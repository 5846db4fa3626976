import { pagerDutyText, slackMarkupToPlainText, stripInvisible } from '../../lib/slack/commands';
import type { SlackReplyEvent } from '../../lib/events';
import { NOTE_MAX_LENGTH, type PagerDutyApi } from '../../lib/pagerduty/api';
import { PermanentError } from '../../lib/errors';
import type { Logger } from '../../lib/runtime/log';
import { type ChannelScopes, type SlackApi } from '../../lib/slack/web-api';
import type { Actor, DeliveryGate } from '../../lib/escalation/delivery-gate';
import { gateRefusalMessage } from '../../lib/slack/messages';
import type { Effects } from '../../lib/store/effects';
import { answerOnce } from '../../lib/escalation/once';
import type { EscalationLinks } from '../../lib/store/incident-links';
import { NOTE_BUDGET, type PageBudget } from '../../lib/store/page-budget';
import type { Ownership } from '../../lib/tenancy/ownership';

export interface ThreadRepliesDeps {
  links: EscalationLinks;
  noteBudget: PageBudget;
  effects: Effects;
  slack: SlackApi;
  /** Where each channel is spoken to. */
  scopes: ChannelScopes;
  /** The delivery gate (lib/escalation/delivery-gate.ts), and who acts in a reply, as the worker reads it. */
  gate: DeliveryGate;
  actorOf: (event: SlackReplyEvent) => Actor;
  pagerDuty: Pick<PagerDutyApi, 'addNote' | 'findNote'>;
  ownership: Pick<Ownership, 'locate'>;
  /** The PagerDuty user notes are added as; unset: replies are ignored. */
  fromEmail?: string;
  now?: () => Date;
  /** Called after each step that changes something; tests throw here to simulate a crash. */
  checkpoint?: (step: string) => void;
}

/**
 * The note a reply becomes: where it was said, by whom, what (as plain text no reader of
 * PagerDuty turns into markup, lib/slack/commands.ts `pagerDutyText`), and a link back.
 * The text gives way first so that the whole fits PagerDuty's limit with its link intact.
 */
export function replyNote(input: { lead?: string; channel: string; channelName?: string; user: string; text: string; suffix: string }): string {
  const head = `${input.lead ?? ''}Slack, #${input.channelName ?? input.channel}, @${input.user}: `;
  const tail = ` (${input.suffix})`;
  const text = pagerDutyText(stripInvisible(slackMarkupToPlainText(input.text))).trim();
  return head + text.slice(0, Math.max(0, NOTE_MAX_LENGTH - head.length - tail.length)) + tail;
}

/**
 * A person's reply in a thread → one note on the incident of the escalation whose thread it is,
 * whatever retries and redeliveries come. Replies in any other thread are ignored without
 * storing anything (a reply whose thread cannot be looked up is dropped on its last attempt, not
 * parked with its text); over its escalation's note budget a reply is logged and dropped (not folded:
 * on-call still has the thread's link in the incident).
 */
export function makeThreadReplies(deps: ThreadRepliesDeps) {
  const now = deps.now ?? (() => new Date());
  return async function threadReply(event: SlackReplyEvent, logger: Logger, finalAttempt = false): Promise<void> {
    if (!deps.fromEmail) return logger.debug('a thread reply; PAGER_DUTY_FROM_EMAIL is not set, so replies stay in Slack');
    let dedupKey: string | undefined;
    try {
      dedupKey = await deps.links.byThread(event.channel, event.threadTs);
    } catch (error) {
      // Until its thread is known to be an escalation's, a reply is someone's conversation, none of
      // pd-router's business: on its last attempt it is dropped (its ids logged) rather than
      // parked in the DLQ with its text.
      if (!finalAttempt) throw error;
      return logger.warn('could not tell whether a thread reply is in an escalation thread; dropped on its last attempt, its text kept nowhere', { threadTs: event.threadTs, error });
    }
    if (!dedupKey) return logger.debug('a reply outside any escalation thread; ignored');
    let link = await deps.links.get(dedupKey);
    // The pointer's key holds the channel; this also refuses a link that somehow moved.
    if (!link || link.channel !== event.channel || link.threadTs !== event.threadTs) return logger.warn('a reply whose thread does not belong to this channel; ignored', { dedupKey });
    const log = logger.child({ dedupKey });
    // Nothing reaches on-call from a channel removed or paused, or from a person nobody approved:
    // that person is told so, data-free, and only them.
    const allowed = await deps.gate({ path: 'thread-reply', channel: link.channel, link, actor: deps.actorOf(event) }, log);
    if (!allowed.allowed) {
      if (allowed.reason !== 'other-installation') {
        const scope = deps.scopes(link);
        await answerOnce(deps.effects, `refused:${event.id}`, () => scope.ephemeral(event.user, gateRefusalMessage(), event.threadTs), 'refused');
      }
      return;
    }
    if (!link.incidentId) link = (await deps.ownership.locate(link, log)).link;
    const incidentId = link.incidentId;
    if (!incidentId) return log.info('a reply in an escalation thread that no incident holds yet; dropped');
    // Counted per escalation, not per incident: in an incident several customers follow (grouping,
    // merges), one customer's chatty thread must not silence another's.
    const budget = await deps.noteBudget.take(link.dedupKey, event.id, now().getTime(), NOTE_BUDGET.limit);
    if (!budget.granted) return log.warn('over the escalation\'s note budget: the reply stays in Slack only', { incidentId, limit: NOTE_BUDGET.limit, windowMinutes: NOTE_BUDGET.windowMs / 60_000 });
    const [channelName, permalink] = await Promise.all([allowed.customer.channelName ?? deps.slack.channelName(event.channel), deps.slack.permalink(event.channel, event.ts)]);
    // What identifies this reply's note among the incident's notes, should an attempt be interrupted after adding it.
    const suffix = permalink ?? `Slack message ${event.channel}/${event.ts}`;
    const content = replyNote({ channel: event.channel, ...(channelName ? { channelName } : {}), user: event.user, text: event.text, suffix });
    let performed: boolean;
    try {
      ({ performed } = await deps.effects.once(
        `note:${event.id}`,
        async () => {
          const noteId = await deps.pagerDuty.addNote(incidentId, content, deps.fromEmail!);
          deps.checkpoint?.('note-added');
          return noteId;
        },
        () => deps.pagerDuty.findNote(incidentId, `(${suffix})`),
      ));
    } catch (error) {
      if (!(error instanceof PermanentError)) throw error;
      // A From that is no PagerDuty user, a key that cannot write, an incident gone: retrying cannot help.
      return log.error('PagerDuty refused the note; the reply stays in Slack only', { incidentId, reason: error.message });
    }
    log.info(performed ? 'thread reply added to the incident as a note' : 'thread reply was already a note', { incidentId });
  };
}
