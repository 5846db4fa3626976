import type { PagerDutyEventType, IncidentStatus } from '../events';
import type { IncidentLink } from '../store/incident-links';
import type { IncidentState } from '../pagerduty/api';
import type { Blocks, SlackMessage } from './web-api';
import { CHECK_STATUS_ACTION_ID } from './normalize';

/**
 * Everything pd-router says in a customer channel is written here, from the incident link and
 * the event, on purpose: titles, numbers, status, urgency and responder names (optional), never
 * e-mail addresses, notes, or anything about another service or customer.
 */

const STATUS_LABEL: Record<IncidentStatus, string> = {
  triggered: ':red_circle: Triggered',
  acknowledged: ':large_yellow_circle: Acknowledged',
  resolved: ':large_green_circle: Resolved',
};

/** Slack mrkdwn control characters in text we did not write (a customer's description, a name). */
export function escapeMrkdwn(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function checkStatusButton(dedupKey: string) {
  return {
    type: 'actions',
    elements: [{ type: 'button', action_id: CHECK_STATUS_ACTION_ID, text: { type: 'plain_text', text: 'Check Status' }, value: dedupKey }],
  } as const;
}

function incidentTitle(link: IncidentLink, fallbackTitle?: string, url?: string): string {
  const title = escapeMrkdwn(link.incidentTitle ?? fallbackTitle ?? link.summary);
  const href = url ?? link.incidentUrl;
  return href ? `<${href}|${title}>` : title;
}

/** The confirmation in the escalation's thread; later kept current with chat.update. */
export function confirmationMessage(link: IncidentLink): SlackMessage {
  const status = link.status ? STATUS_LABEL[link.status] : STATUS_LABEL.triggered;
  const number = link.incidentNumber ? ` #${link.incidentNumber}` : '';
  const text = `On-call has been paged${number} (${link.status ?? 'triggered'}): ${link.summary}`;
  const blocks: Blocks = [
    { type: 'section', text: { type: 'mrkdwn', text: `:rotating_light: *On-call has been paged*${number}\n>${escapeMrkdwn(link.summary).slice(0, 2800)}` } },
    { type: 'context', elements: [{ type: 'mrkdwn', text: `*Status:* ${status}  ·  raised by <@${link.requester}>` }] },
    checkStatusButton(link.dedupKey),
  ];
  return { text, blocks };
}

const WHAT_HAPPENED: Record<PagerDutyEventType, string> = {
  'incident.triggered': 'Incident triggered',
  'incident.acknowledged': 'Acknowledged',
  'incident.unacknowledged': 'Acknowledgement timed out; back to triggered',
  'incident.reassigned': 'Reassigned',
  'incident.escalated': 'Escalated',
  'incident.reopened': 'Reopened',
  'incident.resolved': 'Resolved',
  'incident.priority_updated': 'Priority changed',
};

export interface IncidentUpdate {
  eventType: PagerDutyEventType;
  occurredAt: string;
  agentName: string | null;
  incident: { number?: number; title?: string; urgency?: string; htmlUrl?: string; assignees: string[]; priority?: string };
}

/** A thread message for one PagerDuty event; its status is the newest known, never an older one. */
export function incidentUpdateMessage(link: IncidentLink, update: IncidentUpdate, shownStatus: IncidentStatus | undefined, showNames: boolean): SlackMessage {
  let what = WHAT_HAPPENED[update.eventType];
  if (showNames && update.agentName) what += ` by ${escapeMrkdwn(update.agentName)}`;
  if (update.eventType === 'incident.reassigned' && showNames && update.incident.assignees.length) {
    what += ` to ${update.incident.assignees.map(escapeMrkdwn).join(', ')}`;
  }
  if (update.eventType === 'incident.priority_updated' && update.incident.priority) what += ` to ${escapeMrkdwn(update.incident.priority)}`;
  const number = update.incident.number ?? link.incidentNumber;
  const fields = [
    number ? `*Incident:* #${number}` : undefined,
    update.incident.urgency ? `*Urgency:* ${escapeMrkdwn(update.incident.urgency)}` : undefined,
    shownStatus ? `*Status:* ${STATUS_LABEL[shownStatus]}` : undefined,
  ].filter((f): f is string => Boolean(f));
  const blocks: Blocks = [
    { type: 'section', text: { type: 'mrkdwn', text: `*${incidentTitle(link, update.incident.title, update.incident.htmlUrl)}*\n${what}` } },
    ...(fields.length ? [{ type: 'context' as const, elements: fields.map((f) => ({ type: 'mrkdwn' as const, text: f })) }] : []),
    checkStatusButton(link.dedupKey),
  ];
  return { text: `${what}${number ? ` (#${number})` : ''}`, blocks };
}

/** The live state, shown only to the person who clicked Check Status. */
export function statusMessage(link: IncidentLink, state: IncidentState, showNames: boolean): SlackMessage {
  const lines = [
    `*${incidentTitle(link, state.title, state.url)}*${state.number ? ` (#${state.number})` : ''}`,
    `*Status:* ${state.status ? STATUS_LABEL[state.status] : 'unknown'}`,
    state.urgency ? `*Urgency:* ${escapeMrkdwn(state.urgency)}` : undefined,
    showNames && state.assignees.length ? `*Assigned to:* ${state.assignees.map(escapeMrkdwn).join(', ')}` : undefined,
    state.lastStatusChangeAt ? `*Last change:* <!date^${Math.floor(new Date(state.lastStatusChangeAt).getTime() / 1000)}^{date_short_pretty} {time}|${state.lastStatusChangeAt}>` : undefined,
  ].filter((l): l is string => Boolean(l));
  return { text: `Status: ${state.status ?? 'unknown'}`, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: lines.join('\n') } }] };
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
    `• \`${slashCommand} escalate <what is wrong>\` does the same.`,
    '• *Check Status* on any incident message shows its live status.',
  ].join('\n');
  return { text };
}

export function escalationRejectedMessage(supportContact: string): SlackMessage {
  return { text: `:warning: I could not page on-call: PagerDuty refused the escalation. Please contact ${escapeMrkdwn(supportContact)} directly.` };
}

export function escalationFailedMessage(supportContact: string): SlackMessage {
  return { text: `:warning: I could not reach PagerDuty after several tries, so on-call has *not* been paged. Please contact ${escapeMrkdwn(supportContact)} directly.` };
}
