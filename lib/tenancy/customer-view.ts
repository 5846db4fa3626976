import type { IncidentStatus } from '../events';
import type { IncidentLink } from '../store/incident-links';
import { statusUpdateTextShown } from './audience';

/**
 * The mark only this module's constructors put on what a customer may be shown. It is declared
 * and not exported, so no other module can make a CustomerView, a ShownPerson or a ShownUpdate by
 * hand: an object of the right shape, a PagerDuty incident, a registry record or any string does
 * not compile where lib/slack/messages.ts wants one (test/types/renderer-input.ts shows it). It
 * exists in the types only; at run time the values are plain objects and strings.
 */
declare const shown: unique symbol;
type Shown<T, What extends string> = T & { readonly [shown]: What };

interface ViewFields {
  /** Opaque: carried by the Check Status button and checked against the clicking channel. */
  readonly dedupKey: string;
  /** The channel's own number for this escalation (absent until it was paged). */
  readonly ref?: number;
  /** The customer's own words, as stored (already stripped of invisible characters). */
  readonly words: string;
  /** The Slack user who raised it, when it looks like a user id (it is rendered as a mention). */
  readonly requester?: string;
  /** PagerDuty's status word for the incident that holds the escalation. */
  readonly status: IncidentStatus;
}

/**
 * What a customer may be shown about their escalation, and nothing else: their own words, who
 * raised it, the channel's own reference, and a status word. Every message builder in
 * lib/slack/messages.ts takes this view (plus pd-router's own vocabulary), never PagerDuty's
 * incident, so no later change can render a title, URL, number, service or note by accident.
 * Made only by {@link customerView}, from the channel's own link.
 */
export type CustomerView = Shown<ViewFields, 'customer view'>;

/**
 * Someone, as a customer may read it: a person's name under the names rule, or no one in
 * particular. Made only by {@link shownPerson}.
 */
export type ShownPerson = Shown<string, 'person'> | undefined;

/** On-call's text of a status update, for a channel that may read it. Made only by {@link shownStatusUpdate}. */
export type ShownUpdate = Shown<string, 'status update'>;

/** What happened to the incident, in pd-router's words. PagerDuty's event types map onto these. */
export type Happening =
  | { kind: 'opened' }
  | { kind: 'acknowledged'; by: ShownPerson }
  | { kind: 'unacknowledged' }
  | { kind: 'reassigned'; to: ShownPerson[] }
  | { kind: 'escalated' }
  | { kind: 'delegated' }
  | { kind: 'reopened'; by: ShownPerson }
  | { kind: 'resolved'; by: ShownPerson };

/** The live state a Check Status click shows the clicker: status, urgency, who is handling it. */
export interface LiveStatus {
  readonly status?: IncidentStatus;
  readonly urgency?: 'high' | 'low';
  readonly handledBy: ShownPerson[];
}

/** A Slack user id: the only thing of a person's that pd-router renders as Slack markup (a mention). */
export function isSlackUserId(value: string | undefined): value is string {
  return value !== undefined && /^[UW][A-Z0-9]{2,}$/.test(value);
}

/** The view of one link: built from that link alone. */
export function customerView(link: IncidentLink): CustomerView {
  const fields: ViewFields = {
    dedupKey: link.dedupKey,
    ...(link.ref !== undefined ? { ref: link.ref } : {}),
    words: link.summary,
    ...(isSlackUserId(link.requester) ? { requester: link.requester } : {}),
    status: link.status ?? 'triggered',
  };
  return fields as CustomerView;
}

/**
 * The names rule: a responder is named only when the provider allows names and PagerDuty says the
 * agent is a person (normalization keeps user references only). Services, integrations and
 * automations act as agents too; to a customer they are "the on-call team".
 */
export function shownPerson(name: string | null | undefined, showNames: boolean): ShownPerson {
  return showNames && name ? (name as ShownPerson) : undefined;
}

/**
 * On-call's text of a status update, for the one channel whose escalation the incident is and
 * which it alone holds (the audience rule, lib/tenancy/audience.ts); undefined for every other
 * channel, which is told only that an update was posted.
 */
export function shownStatusUpdate(text: string, link: Pick<IncidentLink, 'heldBy'>, followers: number | undefined): ShownUpdate | undefined {
  return statusUpdateTextShown(link, followers) ? (text as ShownUpdate) : undefined;
}

/** PagerDuty's urgency, when it is one of the two PagerDuty defines (anything else is not shown). */
export function shownUrgency(urgency: string | undefined): LiveStatus['urgency'] {
  return urgency === 'high' || urgency === 'low' ? urgency : undefined;
}
