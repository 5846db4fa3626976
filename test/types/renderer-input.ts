/**
 * The customer-safe wall, held by the compiler: `npm run typecheck` compiles this file (it is never
 * run). lib/slack/messages.ts takes customer data only as lib/tenancy/customer-view.ts makes it
 * (CustomerView, ShownPerson, ShownUpdate). Each `@ts-expect-error` below is an input that must not
 * compile: should one start to (a brand taken off, a builder widened to a plain object or string),
 * its directive goes unused and the typecheck fails.
 */
import type { PagerDutyIncidentEvent } from '../../lib/events';
import type { IncidentState } from '../../lib/pagerduty/api';
import { combinedStatusUpdateMessage, confirmationMessage, confirmPromptMessage, escalationNotOpenedMessage, foldedMessage, handledTogetherMessage, incidentUpdateMessage, promptDecidedMessage, statusMessage, statusUpdateMessage } from '../../lib/slack/messages';
import type { Customer, CustomerRecord, MaskedCustomer } from '../../lib/store/customers';
import type { IncidentLink } from '../../lib/store/incident-links';
import { customerView, shownPerson, shownStatusUpdate } from '../../lib/tenancy/customer-view';

/** The way in: a channel's own link, and names and on-call's text through the rules that allow them. */
export function whatTheWorkersDo(link: IncidentLink, event: PagerDutyIncidentEvent, incident: IncidentState, showNames: boolean): void {
  const view = customerView(link);
  const by = shownPerson(event.agentName, showNames);
  confirmationMessage(view);
  confirmPromptMessage(view);
  promptDecidedMessage(view, 'confirmed', link.decidedBy);
  handledTogetherMessage(view);
  foldedMessage(view);
  escalationNotOpenedMessage(view, 'support@provider.test');
  incidentUpdateMessage(view, { kind: 'resolved', by });
  incidentUpdateMessage(view, { kind: 'reassigned', to: incident.assignees.map((name) => shownPerson(name, showNames)) });
  statusMessage(view, { handledBy: incident.assignees.map((name) => shownPerson(name, showNames)) });
  const text = shownStatusUpdate(event.statusUpdate ?? '', link, 1);
  if (text !== undefined) statusUpdateMessage(view, text, by);
  combinedStatusUpdateMessage(view);
}

/** A PagerDuty incident, as the webhook carries it or the REST API returns it, is no input. */
export function aPagerDutyIncident(event: PagerDutyIncidentEvent, incident: IncidentState, link: IncidentLink): void {
  const view = customerView(link);
  // @ts-expect-error: the webhook's incident is not a customer view
  confirmationMessage(event.incident);
  // @ts-expect-error: the REST API's incident is not a customer view
  handledTogetherMessage(incident);
  // @ts-expect-error: the webhook's event is not a customer view
  incidentUpdateMessage(event, { kind: 'opened' });
  // @ts-expect-error: the incident's live state is not what may be shown of it
  statusMessage(view, incident);
  // @ts-expect-error: the agent's name is shown only under the names rule (shownPerson)
  incidentUpdateMessage(view, { kind: 'acknowledged', by: event.agentName ?? undefined });
  // @ts-expect-error: the assignees are shown only under the names rule (shownPerson)
  statusMessage(view, { handledBy: incident.assignees });
  // @ts-expect-error: on-call's text is shown only where the audience rule allows (shownStatusUpdate)
  statusUpdateMessage(view, event.statusUpdate ?? '', undefined);
}

/** A raw string is no input: not as a view, a person, or on-call's text. */
export function aRawString(link: IncidentLink, words: string): void {
  const view = customerView(link);
  // @ts-expect-error: a string is not a customer view
  confirmationMessage(words);
  // @ts-expect-error: a string is not a shown person
  incidentUpdateMessage(view, { kind: 'resolved', by: 'Dana Scully' });
  // @ts-expect-error: a string is not among who handles it
  statusMessage(view, { handledBy: ['Dana Scully'] });
  // @ts-expect-error: a string is not a shown status update
  statusUpdateMessage(view, words, undefined);
  // @ts-expect-error: an object shaped like a view, made by hand, is not one
  confirmationMessage({ dedupKey: link.dedupKey, words, status: 'triggered' });
}

/** A record of the customer registry is no input: not as a view, nor its name as a person or a text. */
export function aRegistryRecord(customer: Customer, record: CustomerRecord, masked: MaskedCustomer, link: IncidentLink): void {
  const view = customerView(link);
  // @ts-expect-error: the registry's customer is not a customer view
  confirmationMessage(customer);
  // @ts-expect-error: the registry's record is not a customer view
  foldedMessage(record);
  // @ts-expect-error: the registry's masked customer is not a customer view
  confirmPromptMessage(masked);
  // @ts-expect-error: the registry's name of a customer is not a shown person
  incidentUpdateMessage(view, { kind: 'reopened', by: customer.name });
  // @ts-expect-error: the registry's name of a customer is not a shown status update
  statusUpdateMessage(view, masked.name, undefined);
}
