import { ChannelGoneError, PdRouterError, PermanentError, RateLimitedError } from '../../lib/errors';
import type { Logger } from '../../lib/runtime/log';
import { METRIC_NAMES } from '../../lib/runtime/metrics';
import { makeReconcilerTools, type ReconcilerDeps } from './tools';
import { reconcileLink } from './catch-up';

export type { ReconcilerDeps } from './tools';

export interface RunContext {
  logger: Logger;
  /** Milliseconds left before the Lambda is stopped. */
  remainingMs: () => number;
  /** Stop starting new work when less than this is left (one link's calls with their retries). */
  reserveMs: number;
}

export interface RunSummary {
  examined: number;
  caughtUp: number;
  /** True when the run stopped before the end of the open links (time, or PagerDuty's rate limit). */
  stoppedEarly: boolean;
}

/** Links read from the open-link index per page. */
const PAGE_SIZE = 50;
/** Waits for PagerDuty's rate limit, per run; past this the rest waits for the next run. */
const MAX_RATE_LIMIT_WAITS = 3;

/**
 * The reconciler's logic: for every link whose incident is not resolved (the sparse open-link
 * index, a page at a time, never a scan), read the incident's live state through ownership.locate
 * and post what the channel missed: a merge or grouping ("handled together"), a status change, a
 * resolution; and, when no incident ever held an accepted escalation, tell the channel so.
 *
 * One source among two of the same effects. A merge or grouping has one effect key on both paths
 * (`joined:<dedup key>:<incident tag>`). A status change cannot: the webhook knows its event id,
 * the reconciler only the incident's last_status_change_at. So the link's stored status decides
 * who tells it, by conditional writes: the reconciler records a status only when it differs from
 * the stored one (then it owns the post `caught:<dedup key>:<status>:<time>`), and a webhook of a
 * change the reconciler recorded, or older than it, posts nothing (toldByReconciler in
 * lib/store/incident-links.ts). Whichever writes first tells the channel; the other finds it told.
 */
export function makeReconciler(deps: ReconcilerDeps) {
  const tools = makeReconcilerTools(deps);

  /**
   * One run over every open link. Stops early, to go on at the next run, when the Lambda's time
   * runs short or PagerDuty keeps answering 429.
   */
  return async function reconcile(context: RunContext): Promise<RunSummary> {
    const { logger } = context;
    const summary: RunSummary = { examined: 0, caughtUp: 0, stoppedEarly: false };
    let rateLimitWaits = 0;
    let cursor: Record<string, unknown> | undefined;
    do {
      const page = await tools.deps.links.listOpen({ limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) });
      cursor = page.cursor;
      for (const link of page.links) {
        if (context.remainingMs() < context.reserveMs) {
          logger.warn('reconciler stopped before the function times out; the rest waits for the next run', { examined: summary.examined });
          return { ...summary, stoppedEarly: true };
        }
        const linkLogger = logger.child({ channel: link.channel, dedupKey: link.dedupKey });
        for (;;) {
          try {
            summary.caughtUp += await reconcileLink(tools, link, linkLogger);
            break;
          } catch (error) {
            if (error instanceof RateLimitedError && error.service === 'pagerduty') {
              logger.metric(METRIC_NAMES.pagerDutyRateLimited);
              const waitMs = (error.retryAfterSeconds ?? 1) * 1000;
              if (++rateLimitWaits > MAX_RATE_LIMIT_WAITS || context.remainingMs() - waitMs < context.reserveMs) {
                logger.warn('PagerDuty keeps rate limiting the reconciler; the rest waits for the next run', { examined: summary.examined });
                return { ...summary, stoppedEarly: true };
              }
              logger.info('PagerDuty rate limit: waiting as it asked', { waitMs });
              await tools.sleep(waitMs);
              continue;
            }
            if (error instanceof PermanentError) {
              logger.warn('Slack or PagerDuty refused for good; this link is skipped', { reason: error.code });
              if (error instanceof ChannelGoneError) logger.metric(METRIC_NAMES.slackChannelUnavailable);
              break;
            }
            // A transient failure of one link leaves it for the next run; anything else is a bug or a crash.
            if (error instanceof PdRouterError && error.retryable) {
              logger.warn('one link could not be reconciled now; next run', { error: error.message });
              break;
            }
            throw error;
          }
        }
        summary.examined++;
      }
    } while (cursor);
    if (summary.examined || summary.caughtUp) logger.info('reconciler run finished', { ...summary });
    return summary;
  };
}
