import { ChannelGoneError, PdRouterError, PermanentError, RateLimitedError, WaitForTurnError } from '../../lib/errors';
import type { Logger } from '../../lib/runtime/log';
import type { IncidentLink, IncidentLinks } from '../../lib/store/incident-links';
import type { OpenIncidents } from '../../lib/pagerduty/open-incidents';
import { METRIC_NAMES } from '../../lib/runtime/metrics';
import { makeReconcilerTools, type ReconcilerDeps, type ReconcilerTools } from './tools';
import { reconcileLink, type RunState } from './catch-up';
import { makeResolvedLookup } from './resolved-lookup';

export type { ReconcilerDeps } from './tools';

export interface RunContext {
  logger: Logger;
  /** Milliseconds left before the Lambda is stopped. */
  remainingMs: () => number;
  /** Stop starting new work when less than this is left (one link's calls with their retries). */
  reserveMs: number;
  /**
   * Milliseconds until the next scheduled run: none is started past it. Two runs at once would
   * examine the same links (told once all the same, but read twice); the links under way when it
   * comes are finished, a moment's overlap at most.
   */
  nextRunInMs?: () => number;
}

export interface RunSummary {
  examined: number;
  caughtUp: number;
  /** True when the run stopped before the end of the open links (time, or PagerDuty's rate limit). */
  stoppedEarly: boolean;
}

/** Links read from the open-link index per page. */
const PAGE_SIZE = 50;
/**
 * Links examined side by side. A link's time is round trips (DynamoDB, a post, perhaps a read),
 * so one at a time a run told about 7 channels a second here, 3 to 4 deployed: a catch-up of
 * 1,000 channels took several runs, 300 s apart, where Slack's limit allows it in 100 s. Their
 * posts still take turns on the paced lane, and their reads of PagerDuty READS_PER_SECOND.
 */
const LINKS_AT_ONCE = 10;
/**
 * The run's own reads of incidents (those its listing does not hold) at most this often: with
 * links side by side they would come as fast as PagerDuty answers, and the REST key's 960 a minute
 * is the webhooks' too (their grouping listings). A third of it.
 */
const READS_PER_SECOND = 5;
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
   * One round of the open links, from past the one the last run stopped at. Stops early, to go on
   * from there at the next run, when the Lambda's time runs short or PagerDuty keeps answering 429.
   */
  return async function reconcile(context: RunContext): Promise<RunSummary> {
    const { logger } = context;
    const { position } = tools.deps;
    const summary: RunSummary = { examined: 0, caughtUp: 0, stoppedEarly: false };
    const rateLimited = rateLimitWaits(tools, context);
    const began = await position.read();
    let kept = began;
    let last = began;
    const keep = async (after: string | undefined) => {
      if (after !== kept) await position.keep(after);
      kept = after;
    };
    const stopEarly = async (why: string) => {
      logger.warn(why, { examined: summary.examined });
      await keep(last);
      return { ...summary, stoppedEarly: true };
    };
    const KEEPS_REFUSING = 'PagerDuty keeps rate limiting the reconciler; the rest waits for the next run';
    /** Made when the first link is examined (its listing of open incidents: a run with nothing open calls nothing). */
    let run: RunState | undefined;
    let examinedWhenKept = 0;
    for await (const page of roundFrom(tools.deps.links, began)) {
      const atOnce = tools.deps.linksAtOnce ?? LINKS_AT_ONCE;
      for (let from = 0; from < page.length; from += atOnce) {
        if (context.remainingMs() < context.reserveMs) return stopEarly('reconciler stopped before the function times out; the rest waits for the next run');
        if ((context.nextRunInMs?.() ?? Number.POSITIVE_INFINITY) <= 0) return stopEarly('reconciler stopped as the next run is due; it goes on from here');
        if (!run) {
          const listed = await rateLimited(logger, () => listOpenIncidents(tools, logger));
          if (listed === 'stop') return stopEarly(KEEPS_REFUSING);
          run = runState(tools, listed, logger);
        }
        const links = page.slice(from, from + atOnce);
        const state = run;
        // Settled all, so that a link that throws (a bug, a crash test) leaves none running behind the run.
        const outcomes = await Promise.allSettled(links.map((link) => examine(tools, link, logger.child({ channel: link.channel, dedupKey: link.dedupKey }), rateLimited, state)));
        let stop: string | undefined;
        for (const [i, outcome] of outcomes.entries()) {
          if (outcome.status === 'rejected') throw outcome.reason;
          const caughtUp = outcome.value;
          if (typeof caughtUp === 'number') {
            summary.caughtUp += caughtUp;
            // The place moves only past links examined in order: one a stop left for the next run is examined again then.
            if (stop === undefined) {
              summary.examined++;
              last = links[i]!.dedupKey;
            }
          } else stop ??= caughtUp;
        }
        if (stop === 'stop') return stopEarly(KEEPS_REFUSING);
        // Slack's limit on posts is the workspace's: the next link's post would be refused too,
        // and asking before its Retry-After is what Slack tells apps not to do.
        if (stop === 'slack-limited') return stopEarly('Slack rate limits the reconciler\'s posts; the rest waits for the next run');
        if (stop === 'turn-far') return stopEarly('the workspace\'s posts are paced minutes ahead (a fan-out); the rest waits for the next run');
        // A crash, or the timeout Lambda enforces, loses at most a page of the way; a run that goes
        // round in fewer links than that (the usual one) writes no place at all.
        if (summary.examined - examinedWhenKept >= PAGE_SIZE) {
          await keep(last);
          examinedWhenKept = summary.examined;
        }
      }
    }
    await keep(undefined);
    if (summary.examined || summary.caughtUp) logger.info('reconciler run finished', { ...summary });
    return summary;
  };
}

/** What a run starts from: the open incidents listed, and the resolved ones to list when a link needs them. */
function runState(tools: ReconcilerTools, open: OpenIncidents, logger: Logger): RunState {
  const readTurn = readPace(tools);
  const { resolvedIncidents } = tools.deps;
  return {
    incidents: open.incidents,
    reading: new Map(),
    readTurn,
    ...(open.complete && resolvedIncidents ? { resolved: makeResolvedLookup({ page: resolvedIncidents, readTurn, known: open.incidents, logger }) } : {}),
  };
}

type RateLimited = <T>(logger: Logger, call: () => Promise<T>) => Promise<T | 'stop'>;

/** Resolves when the run may make its next read of an incident: READS_PER_SECOND, however many links ask at once. */
function readPace(tools: ReconcilerTools): () => Promise<void> {
  const gapMs = 1000 / READS_PER_SECOND;
  let next = 0;
  return async () => {
    const now = tools.now().getTime();
    const at = Math.max(now, next);
    next = at + gapMs;
    if (at > now) await tools.sleep(at - now);
  };
}

/**
 * A call made again after each PagerDuty 429, once the wait it asked for has passed: 'stop' past
 * MAX_RATE_LIMIT_WAITS in the run, or when the wait would leave too little of the Lambda's time.
 */
function rateLimitWaits(tools: ReconcilerTools, context: RunContext): RateLimited {
  let waits = 0;
  return async (logger, call) => {
    for (;;) {
      try {
        return await call();
      } catch (error) {
        if (!(error instanceof RateLimitedError && error.service === 'pagerduty')) throw error;
        logger.metric(METRIC_NAMES.pagerDutyRateLimited);
        const waitMs = (error.retryAfterSeconds ?? 1) * 1000;
        if (++waits > MAX_RATE_LIMIT_WAITS || context.remainingMs() - waitMs < context.reserveMs) return 'stop';
        logger.info('PagerDuty rate limit: waiting as it asked', { waitMs });
        await tools.sleep(waitMs);
      }
    }
  };
}

/**
 * The incidents not resolved, listed once for the run; none (each link's incident is then read by
 * itself) when there is no listing or PagerDuty failed it. A 429 is waited out by the caller.
 */
async function listOpenIncidents(tools: ReconcilerTools, logger: Logger): Promise<OpenIncidents> {
  if (!tools.deps.openIncidents) return { incidents: new Map(), complete: false };
  try {
    const listed = await tools.deps.openIncidents();
    if (!listed.complete) logger.warn('more incidents are open than PagerDuty lists; the links of the rest are read one by one', { listed: listed.incidents.size });
    return listed;
  } catch (error) {
    if (error instanceof RateLimitedError || !(error instanceof PdRouterError)) throw error;
    logger.warn('could not list the open incidents; each link\'s incident is read by itself this run', { error: error.message });
    return { incidents: new Map(), complete: false };
  }
}

/**
 * The open links a page at a time, round once: from past `began` (the link the last run stopped
 * at) to the index's end, then from its start to `began`. All of them when there is no `began`.
 */
async function* roundFrom(links: IncidentLinks, began: string | undefined): AsyncGenerator<IncidentLink[]> {
  for (const lap of began === undefined ? (['whole'] as const) : (['after', 'before'] as const)) {
    let cursor: Record<string, unknown> | undefined;
    do {
      const page = await links.listOpen({ limit: PAGE_SIZE, ...(cursor ? { cursor } : lap === 'after' ? { after: began } : {}) });
      cursor = page.cursor;
      const due = lap === 'before' ? page.links.filter((link) => link.dedupKey <= began!) : page.links;
      if (due.length < page.links.length) cursor = undefined;
      if (due.length) yield due;
    } while (cursor);
  }
}

/**
 * One link: how many changes were told; 'stop' when PagerDuty keeps refusing, 'slack-limited' when
 * Slack refused a post with a 429, 'turn-far' when its post's turn is too far to wait for.
 */
async function examine(tools: ReconcilerTools, link: IncidentLink, logger: Logger, rateLimited: RateLimited, run: RunState): Promise<number | 'stop' | 'slack-limited' | 'turn-far'> {
  try {
    return await rateLimited(logger, () => reconcileLink(tools, link, logger, run));
  } catch (error) {
    if (error instanceof WaitForTurnError) return 'turn-far';
    if (error instanceof RateLimitedError && error.service === 'slack') {
      // Counted once: the run's later posts are held back by this flag, not refused by Slack.
      if (!run.slackLimited) logger.metric(METRIC_NAMES.slackRateLimited);
      run.slackLimited = true;
      return 'slack-limited';
    }
    if (error instanceof PermanentError) {
      logger.warn('Slack or PagerDuty refused for good; this link is skipped', { reason: error.code });
      if (error instanceof ChannelGoneError) logger.metric(METRIC_NAMES.slackChannelUnavailable);
      return 0;
    }
    // A transient failure of one link leaves it for the next run; anything else is a bug or a crash.
    if (error instanceof PdRouterError && error.retryable) {
      logger.warn('one link could not be reconciled now; next run', { error: error.message });
      return 0;
    }
    throw error;
  }
}
