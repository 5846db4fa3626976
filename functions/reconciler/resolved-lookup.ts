import type { IncidentState } from '../../lib/pagerduty/api';
import type { ResolvedPage } from '../../lib/pagerduty/open-incidents';
import { PdRouterError, RateLimitedError } from '../../lib/errors';
import type { Logger } from '../../lib/runtime/log';

/** PagerDuty's clock and ours may differ: a link's time is taken this much earlier before it is compared with a resolved_at. */
const CLOCK_SKEW_MS = 5 * 60_000;

/**
 * The incidents a run finds resolved, from PagerDuty's listing of resolved incidents (most recently
 * resolved first), a page at a time as the run's links need them. One page tells a hundred
 * incidents for one REST call: an outage of separate incidents resolved while its webhooks were
 * lost is told at Slack's pace, not at one read per incident.
 */
export interface ResolvedLookup {
  /**
   * Incident `id` as the listing tells it, when it is resolved and merged into no other. Reads
   * further pages only while they could still hold it: one resolved after `since` (when the link
   * last saw it open) is on a page whose oldest resolution is not older than that. Undefined when
   * it is not there (open, merged into another, gone) or the listing failed: the link's incident
   * is then read by itself, as before.
   */
  find(id: string, since: string): Promise<IncidentState | undefined>;
}

export interface ResolvedLookupDeps {
  page: (n: number) => Promise<ResolvedPage>;
  /** The run's pace of its reads of PagerDuty: a page is one read. */
  readTurn: () => Promise<void>;
  /** The run's known incidents: what the listing tells is added here, for the links examined after. */
  known: Map<string, IncidentState>;
  logger: Logger;
}

export function makeResolvedLookup(deps: ResolvedLookupDeps): ResolvedLookup {
  /** Every id listed, merged ones too: a link bound to one of those is read by itself at once, not by paging on. */
  const listed = new Set<string>();
  let nextPage = 0;
  let oldestResolvedMs = Number.POSITIVE_INFINITY;
  let ended = false;
  let fetching: Promise<void> | undefined;

  const fetchPage = async () => {
    try {
      await deps.readTurn();
      const page = await deps.page(nextPage);
      nextPage++;
      for (const incident of page.incidents) {
        listed.add(incident.id);
        if (!incident.mergedInto) deps.known.set(incident.id, incident);
        const resolvedMs = Date.parse(incident.resolvedAt ?? '');
        if (Number.isFinite(resolvedMs)) oldestResolvedMs = Math.min(oldestResolvedMs, resolvedMs);
      }
      if (!page.more) ended = true;
    } catch (error) {
      // A 429 is waited out by the link's caller, which asks again; anything else ends the listing for the run.
      if (error instanceof RateLimitedError || !(error instanceof PdRouterError)) throw error;
      deps.logger.warn('could not list the resolved incidents; each link\'s incident is read by itself this run', { error: error.message });
      ended = true;
    }
  };
  // Links side by side wait for the one page under way, not each for its own.
  const nextOne = () => (fetching ??= fetchPage().finally(() => (fetching = undefined)));

  return {
    async find(id, since) {
      const fromMs = Date.parse(since) - CLOCK_SKEW_MS;
      for (;;) {
        if (listed.has(id)) return deps.known.get(id);
        if (ended || !(oldestResolvedMs >= fromMs)) return undefined;
        await nextOne();
      }
    },
  };
}
