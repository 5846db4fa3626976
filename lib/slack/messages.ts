import type { IncidentStatus } from '../events';
import { isSlackUserId, type CustomerView, type Happening, type LiveStatus, type ShownPerson, type ShownUpdate } from '../tenancy/customer-view';
import type { Blocks, SlackMessage } from './web-api';
import { CANCEL_PAGE_ACTION_ID, CHECK_STATUS_ACTION_ID, PAGE_ONCALL_ACTION_ID } from './normalize';
import { stripInvisible } from './commands';

/**
 * Everything pd-router says in a customer channel is written here, from a CustomerView (the
 * channel's own link) and pd-router's own vocabulary. The builders never receive PagerDuty's
 * incident: no title, URL, number, service, escalation policy, team or note can reach a customer.
 * The types hold it: customer data comes in only as what lib/tenancy/customer-view.ts made
 * (CustomerView, ShownPerson, ShownUpdate), never as a plain object or string.
 * Every piece of text we did not write is escaped, in blocks and in the top-level `text` alike.
 */

const STATUS_LABEL: Record<IncidentStatus, string> = {
  triggered: ':red_circle: Triggered',
  acknowledged: ':large_yellow_circle: Acknowledged',
  resolved: ':large_green_circle: Resolved',
};

/**
 * Slack's control characters in text we did not write (a customer's words, a name): with `&`,
 * `<` and `>` escaped, no `<!channel>`, `<@U…>`, `<!subteam^…>` or labelled link survives.
 */
export function escapeMrkdwn(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Slack refuses a section whose text is longer (invalid_blocks), counted as sent: escaped and quoted. */
export const SECTION_TEXT_MAX = 3000;

/**
 * Words we did not write as a block quote under `head`, escaped, cut to keep the section within
 * Slack's limit: escaping (`<` → `&lt;`) and quoting (`\n` → `\n>`) lengthen the text, so it is
 * measured after both, and never cut inside an entity.
 */
function quotedSection(head: string, words: string): string {
  let text = `${head}\n>`;
  const room = SECTION_TEXT_MAX - 1; // one character for the ellipsis, when cut
  for (const char of words) {
    const piece = char === '\n' ? '\n>' : escapeMrkdwn(char);
    if (text.length + piece.length > room) return `${text}…`;
    text += piece;
  }
  return text;
}

function checkStatusButton(dedupKey: string) {
  return {
    type: 'actions',
    elements: [{ type: 'button', action_id: CHECK_STATUS_ACTION_ID, text: { type: 'plain_text', text: 'Check Status' }, value: dedupKey }],
  } as const;
}

/** "Escalation #3": the channel's own number, never PagerDuty's. */
function reference(view: CustomerView): string {
  return view.ref !== undefined ? `Escalation #${view.ref}` : 'Your escalation';
}

const person = (who: ShownPerson) => (who ? escapeMrkdwn(who) : 'the on-call team');

/** The confirmation in the escalation's thread; later kept current with chat.update. */
export function confirmationMessage(view: CustomerView): SlackMessage {
  const words = escapeMrkdwn(view.words.slice(0, 2800));
  const ref = view.ref !== undefined ? ` (escalation #${view.ref})` : '';
  const raisedBy = view.requester ? `  ·  raised by <@${view.requester}>` : '';
  const blocks: Blocks = [
    { type: 'section', text: { type: 'mrkdwn', text: quotedSection(`:rotating_light: *On-call has been paged*${ref}`, view.words.slice(0, 2800)) } },
    { type: 'context', elements: [{ type: 'mrkdwn', text: `*Status:* ${STATUS_LABEL[view.status]}${raisedBy}` }] },
    checkStatusButton(view.dedupKey),
  ];
  return { text: `On-call has been paged${ref} (${view.status}): ${words}`, blocks };
}

/** For a customer who asked for it: nothing pages until someone in the channel clicks Page on-call. */
export function confirmPromptMessage(view: CustomerView): SlackMessage {
  const words = escapeMrkdwn(view.words.slice(0, 2800));
  return {
    text: `Page on-call about: ${words}?`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: quotedSection(':question: *Page on-call about:*', view.words.slice(0, 2800)) } },
      {
        type: 'actions',
        elements: [
          { type: 'button', action_id: PAGE_ONCALL_ACTION_ID, style: 'danger', text: { type: 'plain_text', text: 'Page on-call' }, value: view.dedupKey },
          { type: 'button', action_id: CANCEL_PAGE_ACTION_ID, text: { type: 'plain_text', text: 'Cancel' }, value: view.dedupKey },
        ],
      },
    ],
  };
}

/** The prompt, once decided: the buttons go, the outcome stays. */
export function promptDecidedMessage(view: CustomerView, decision: 'confirmed' | 'cancelled' | 'expired' | 'refused', by?: string): SlackMessage {
  const who = isSlackUserId(by) ? ` by <@${by}>` : '';
  const outcome = {
    confirmed: `:white_check_mark: Paging on-call (confirmed${who}).`,
    cancelled: `:no_entry_sign: Cancelled${who}: on-call was not paged.`,
    expired: ':hourglass: Nobody confirmed within 15 minutes: on-call was not paged.',
    // The delivery gate refused the channel at the click (removed, or shared with an organization nobody approved).
    refused: ":no_entry_sign: This channel isn't set up for escalations right now: on-call was not paged. Please ask your account team.",
  }[decision];
  const words = escapeMrkdwn(view.words.slice(0, 2800));
  return { text: `${outcome} ${words}`, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: quotedSection(outcome, view.words.slice(0, 2800)) } }] };
}

/** One line for what happened, in pd-router's words. */
export function describeHappening(happening: Happening): string {
  switch (happening.kind) {
    case 'opened':
      return 'Incident opened';
    case 'acknowledged':
      return `Acknowledged by ${person(happening.by)}`;
    case 'unacknowledged':
      return 'Acknowledgement timed out; back to triggered';
    case 'reassigned':
      return happening.to.some(Boolean) ? `Reassigned to ${happening.to.filter(Boolean).map(person).join(', ')}` : 'Reassigned to another on-call responder';
    case 'escalated':
      return 'Escalated to the next on-call responder';
    case 'delegated':
      return 'Handed to another team';
    case 'reopened':
      return `Reopened by ${person(happening.by)}`;
    case 'resolved':
      return `Resolved by ${person(happening.by)}`;
  }
}

function threadUpdate(view: CustomerView, headline: string): SlackMessage {
  const blocks: Blocks = [
    { type: 'section', text: { type: 'mrkdwn', text: `*${reference(view)}*\n${headline}` } },
    { type: 'context', elements: [{ type: 'mrkdwn', text: `*Status:* ${STATUS_LABEL[view.status]}` }] },
    checkStatusButton(view.dedupKey),
  ];
  return { text: `${reference(view)}: ${headline} (${view.status})`, blocks };
}

/** A thread message for one change of the incident; its status is the newest known, never an older one. */
export function incidentUpdateMessage(view: CustomerView, happening: Happening): SlackMessage {
  return threadUpdate(view, describeHappening(happening));
}

/**
 * The escalation is now held by an incident that is not its own (on-call merged it, or PagerDuty
 * grouped its alert into one): said plainly, with nothing about the other incident.
 */
export function handledTogetherMessage(view: CustomerView): SlackMessage {
  return threadUpdate(view, 'Your escalation is now handled together with a related incident; updates continue here.');
}

/**
 * A status update on-call published for stakeholders, in the escalation's thread: their text
 * (escaped, quoted), attributed to the person under the names rule or to the on-call team.
 */
export function statusUpdateMessage(view: CustomerView, update: ShownUpdate, by: ShownPerson): SlackMessage {
  // On-call's text, without bidi controls and zero-width characters (they reorder or hide what a reader sees).
  const words = stripInvisible(update).slice(0, 2800);
  const text = escapeMrkdwn(words);
  const blocks: Blocks = [
    { type: 'section', text: { type: 'mrkdwn', text: quotedSection(`*${reference(view)}*: status update from ${person(by)}`, words) } },
    { type: 'context', elements: [{ type: 'mrkdwn', text: `*Status:* ${STATUS_LABEL[view.status]}` }] },
    checkStatusButton(view.dedupKey),
  ];
  return { text: `${reference(view)}: status update from ${person(by)}: ${text} (${view.status})`, blocks };
}

/**
 * A status update on an incident that holds more than this escalation (grouped, merged, or joined
 * by others): on-call wrote it for everyone the incident concerns, so its text is not shown, only
 * that there was one and the status. Nothing of the update, its author or the other escalations.
 */
export function combinedStatusUpdateMessage(view: CustomerView): SlackMessage {
  return threadUpdate(view, 'On-call posted a status update on the combined incident your escalation is part of. Its text is not shown here; the status is below.');
}

/** The live state, shown only to the person who clicked Check Status. */
export function statusMessage(view: CustomerView, live: LiveStatus): SlackMessage {
  const handledBy = live.handledBy.filter((who): who is NonNullable<ShownPerson> => Boolean(who));
  const lines = [
    `*${reference(view)}*`,
    `>${escapeMrkdwn(view.words.slice(0, 500))}`,
    `*Status:* ${live.status ? STATUS_LABEL[live.status] : 'unknown'}`,
    live.urgency ? `*Urgency:* ${live.urgency}` : undefined,
    handledBy.length ? `*Handled by:* ${handledBy.map(escapeMrkdwn).join(', ')}` : undefined,
  ].filter((l): l is string => Boolean(l));
  return { text: `Status of ${reference(view).toLowerCase()}: ${live.status ?? 'unknown'}`, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: lines.join('\n') } }] };
}

/**
 * The answer to an escalation from anywhere but a registered customer channel (another channel, a
 * DM, a channel shared with an organization nobody approved): it says nothing about anyone.
 */
export function notSetUpMessage(): SlackMessage {
  return { text: "This channel isn't set up for escalations, so I can't page on-call from here. Please ask your account team." };
}

/** Over the page budget while the channel's last escalation is still open: added to it, no new page. */
export function foldedMessage(open: CustomerView): SlackMessage {
  const which = open.ref !== undefined ? `escalation #${open.ref}` : 'your open escalation';
  return { text: `On-call is already working on ${which}; I've added this to it, so they see it there.` };
}

/**
 * The answer to a click or a thread reply the delivery gate refused (a channel removed or paused,
 * a person from an organization nobody approved): shown to that person only, and nothing else.
 */
export function gateRefusalMessage(): SlackMessage {
  return { text: "Sorry, I can't do that from here, so nothing was shown or passed on to on-call. Please ask your account team." };
}

/** The answer to a Check Status click from a channel the incident does not belong to: no data at all. */
export function refusalMessage(): SlackMessage {
  return { text: "Sorry, that status button doesn't belong to this channel, so I can't show anything for it here." };
}

export function statusUnavailableMessage(): SlackMessage {
  return { text: "Sorry, I couldn't reach PagerDuty to check the status just now. Please try again in a minute." };
}

export function pongMessage(): SlackMessage {
  return { text: 'pong :wave: pd-router is up.' };
}

export function helpMessage(slashCommand: string): SlackMessage {
  const text = [
    'Here is what I can do:',
    '• `@me escalate <what is wrong>` pages our on-call engineer and links the incident to this channel.',
    `• \`${slashCommand} <what is wrong>\` does the same.`,
    '• *Check Status* on any incident message shows its live status.',
  ].join('\n');
  return { text };
}

export function escalationRejectedMessage(supportContact: string): SlackMessage {
  return { text: `:warning: I could not page on-call: PagerDuty refused the escalation. Please contact ${escapeMrkdwn(supportContact)} directly.` };
}

/**
 * PagerDuty accepted the escalation but no incident holds it (a maintenance window, an event
 * rule that suppresses it, a disabled service): said plainly, with whom to contact.
 */
export function escalationNotOpenedMessage(view: CustomerView, supportContact: string): SlackMessage {
  const headline = `:warning: PagerDuty received ${reference(view).toLowerCase()} but has not opened an incident for it, so on-call may not have been paged. Please contact ${escapeMrkdwn(supportContact)} directly. If an incident opens later, you will see it here.`;
  return { text: headline, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: headline } }] };
}

/** A duration in a customer's words: "under a minute", "4 minutes", "2 hours 5 minutes". */
function spoken(seconds: number): string {
  const minutes = Math.round(seconds / 60);
  if (minutes < 1) return 'under a minute';
  if (minutes < 120) return `${minutes} ${minutes === 1 ? 'minute' : 'minutes'}`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return `${hours} hours${rest ? ` ${rest} ${rest === 1 ? 'minute' : 'minutes'}` : ''}`;
}

/**
 * The receipt a customer may ask for (`--receipt on`): after resolution, this escalation's own
 * times, counted from when the person asked. Numbers only: nothing of the incident or on-call.
 */
export function receiptMessage(times: { acknowledgedAfterSeconds?: number; resolvedAfterSeconds: number }): SlackMessage {
  const text =
    times.acknowledgedAfterSeconds !== undefined
      ? `:receipt: Acknowledged ${spoken(times.acknowledgedAfterSeconds)} after you asked; resolved after ${spoken(times.resolvedAfterSeconds)}.`
      : `:receipt: Resolved ${spoken(times.resolvedAfterSeconds)} after you asked.`;
  return { text };
}

/**
 * The person wrote more than an escalation carries to on-call (the incident's details hold the
 * first `kept` characters): said in the thread, so nobody believes on-call read all of it.
 */
export function messageCutMessage(kept: number): SlackMessage {
  return { text: `:scissors: Your message was too long to pass on whole: on-call received its first ${kept.toLocaleString('en-US')} characters, and the rest was cut. Please send anything important from the rest in a shorter message.` };
}

export function escalationFailedMessage(supportContact: string): SlackMessage {
  return { text: `:warning: I could not reach PagerDuty after several tries, so on-call has *not* been paged. Please contact ${escapeMrkdwn(supportContact)} directly.` };
}
