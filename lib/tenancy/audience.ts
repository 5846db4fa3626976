import { createHash } from 'node:crypto';
import type { PagerDutyApi } from '../pagerduty/api';
import { PermanentError } from '../errors';
import type { Logger } from '../runtime/log';
import type { CustomerRecords } from '../store/customer-records';
import type { Effects } from '../store/effects';
import type { IncidentLink } from '../store/incident-links';
import { incidentTag } from './ownership';

/**
 * Who reads what on-call writes. A status update's text reaches a channel only when the incident
 * is that escalation's own and holds no other escalation; everyone else following a combined
 * incident (grouped, merged, joined) is told only that an update was posted, and the status.
 *
 * `followers`: how many escalations the incident held when the event was handled (undefined: more
 * than one, as for every fanned-out event).
 */
export function statusUpdateTextShown(link: Pick<IncidentLink, 'heldBy'>, followers: number | undefined): boolean {
  return followers === 1 && link.heldBy === 'own';
}

/** What on-call reads on the incident: the customers following it and what they are shown. */
export function followersNote(names: readonly string[], marker: string): string {
  const shown =
    names.length > 1
      ? 'Each sees status changes; the text of status updates is not shown to them while more than one customer follows, only that an update was posted.'
      : 'They see status changes; the text of status updates is not shown to them (the incident is not theirs alone: their escalation was grouped or merged into it, or more than one of their escalations follows it), only that an update was posted.';
  return `pd-router: this incident is followed in Slack by ${names.join(', ')}. ${shown} Notes are never shown to customers. ${marker}`;
}

export interface AudienceDeps {
  effects: Effects;
  customers: Pick<CustomerRecords, 'get'>;
  pagerDuty: Pick<PagerDutyApi, 'addNote' | 'findNote'>;
  /** The PagerDuty user notes are added as (PAGER_DUTY_FROM_EMAIL); unset: on-call is not told. */
  fromEmail?: string;
}

/** Remembered per container so that an unchanged set costs nothing on each event; bounded. */
const MEMORY = 5000;

/**
 * On-call learns who follows: when the set of escalations an incident holds changes (a grouping
 * found, a merge, another customer's escalation joining), one note on the incident names the
 * customers (registry names) and says what they are shown. Once per (incident, set) through
 * lib/store/effects.ts, so retries and redeliveries add it once. An incident that is one
 * escalation's own and holds nothing else gets none: its trigger already names the customer, and
 * that customer alone reads the status updates' text.
 */
export function makeAudience(deps: AudienceDeps) {
  const announced = new Set<string>();
  const warned = new Set<string>();
  const remember = (set: Set<string>, key: string) => {
    if (set.size >= MEMORY) set.clear();
    set.add(key);
  };

  return {
    async announce(incidentId: string, links: readonly IncidentLink[], logger: Logger): Promise<void> {
      const held = [...links].filter((link) => link.incidentId === incidentId).sort((a, b) => a.dedupKey.localeCompare(b.dedupKey));
      if (!held.length || (held.length === 1 && statusUpdateTextShown(held[0]!, 1))) return;
      if (!deps.fromEmail) {
        if (warned.has(incidentId)) return;
        remember(warned, incidentId);
        return logger.warn('on-call is not told which customers follow this incident: PAGER_DUTY_FROM_EMAIL is not set, so pd-router adds no notes', { followers: held.length });
      }
      const digest = createHash('sha256').update(`${incidentId}\n${held.map((link) => link.dedupKey).join('\n')}`).digest('hex').slice(0, 12);
      const effectKey = `followers:${incidentTag(incidentId)}:${digest}`;
      if (announced.has(effectKey)) return;
      const channels = [...new Set(held.map((link) => link.channel))];
      const marker = `[pd-router followers ${digest}]`;
      // The names are read only for a note to write: a set told already (by another container) costs one read.
      const content = async () => {
        const names = await Promise.all(channels.map(async (channel) => (await deps.customers.get(channel))?.name ?? `channel ${channel} (no longer a registered customer)`));
        return followersNote(names.sort((a, b) => a.localeCompare(b)), marker);
      };
      try {
        const { performed } = await deps.effects.once(
          effectKey,
          async () => deps.pagerDuty.addNote(incidentId, await content(), deps.fromEmail!),
          () => deps.pagerDuty.findNote(incidentId, marker),
        );
        remember(announced, effectKey);
        if (performed) logger.info('on-call told which customers follow the incident', { followers: held.length, customers: channels.length });
      } catch (error) {
        if (!(error instanceof PermanentError)) throw error;
        remember(announced, effectKey); // not asked again on every event of this incident
        // A From that is no PagerDuty user, a read-only key, an incident gone: retrying cannot help.
        logger.error('PagerDuty refused the note telling on-call who follows the incident', { reason: error.message });
      }
    },
  };
}
