import { cpus, loadavg } from 'node:os';
import { dedupKeyFor } from '../lib/dedup-key';
import { startStack } from '../local/stack';
import { mentionEnvelope, signedSlackJson } from '../local/events/slack';
import type { RateLimitCounts } from '../local/stand-ins/rate-limits';
import type { RecordedCall } from '../local/stand-ins/slack';
import { round, summarize, type Summary } from './lib/stats';
import { stormBounds, type StormBounds } from './lib/storm-bounds';

/** The storms a bench run makes: customers on their own routing keys, all on one, and own keys with the resolve's webhooks lost. */
export const STORM_VARIANTS = ['own', 'shared', 'unheard'] as const;
export type StormVariant = (typeof STORM_VARIANTS)[number];
/** One storm result per variant run. */
export type StormRuns = Partial<Record<StormVariant, StormResult>>;

/** Which variant a run was, from its options. */
export function variantOf(options: StormOptions): StormVariant {
  return options.resolutionUnheard ? 'unheard' : options.routingKeys;
}

export interface StormOptions {
  channels: number;
  /** "own": every customer its own routing key; "shared": all on one. */
  routingKeys: 'own' | 'shared';
  /** The escalations are spread evenly over this window. */
  spreadMs: number;
  standInLatencyMs: number;
  /** Worker pollers per queue (Lambda runs a FIFO queue's consumers up to one per active group). */
  concurrency: number;
  timeoutMs: number;
  /**
   * Each worker in a process of its own, as Lambda gives each invocation its own CPU (results
   * written before it ran everything in one process: the harness's CPU then bounded paging).
   */
  workerProcesses?: boolean;
  /**
   * Wait for every queued message to be done before checking (chat.update's 50 a minute makes
   * that minutes for 300 channels); otherwise stop once every channel shows the resolution.
   */
  settle: boolean;
  /** The reconciler runs every this many seconds, as deployed (300); unset: it does not run. */
  reconcileEverySeconds?: number;
  /**
   * PagerDuty's webhooks are lost from the resolve on (a subscription PagerDuty disabled, an
   * ingress that failed them): only the reconciler tells each channel. Its first run starts at the
   * resolve and the next ones every `reconcileEverySeconds` (300 unset), as a schedule whose tick
   * falls at the resolve: the wait for the tick, up to the interval, is left out of the times.
   */
  resolutionUnheard?: boolean;
}

export interface StormResult {
  options: StormOptions;
  /** When it ran, and on which commit (a larger storm is kept across full runs). */
  ranAt?: string;
  commit?: string;
  escalations: number;
  /** Slack request sent → its PagerDuty trigger accepted. */
  paged: Summary;
  /** Slack request sent → its confirmation posted in the customer's channel. */
  confirmed: Summary;
  /** First Slack request → last confirmation. */
  allConfirmedMs: number;
  /** First Slack request → last trigger accepted: what PagerDuty's per-key limit bounds. */
  allPagedMs: number;
  /**
   * The least time Slack's and PagerDuty's limits allow for each step of this run's shape
   * (bench/lib/storm-bounds.ts): what each measured time is reported against, as a ratio.
   * Absent in results written before it.
   */
  bounds?: StormBounds;
  /** Results written before `bounds`: PagerDuty's sustained-rate bound for the shared key's triggers, in ms. */
  pagerDutyBoundMs?: number;
  /** On-call's resolve of the internal incident (once every channel was told of the merge) → its resolution posted in each channel. */
  resolutionShown: Summary;
  /** The same to each channel's confirmation re-rendered as resolved (chat.update, paced under Slack's 50 a minute). */
  resolutionUpdated: Summary;
  /** With `resolutionUnheard`: the reconciler's runs from the resolve until every channel was told, and what each examined. */
  reconcilerRuns?: { startedMs: number; tookMs: number; examined: number; caughtUp: number; stoppedEarly: boolean }[];
  /** Results written before `bounds`: Slack's chat.update limit at its sustained rate for every confirmation, in ms. */
  updateBoundMs?: number;
  /** chat.update calls Slack accepted in the whole run (one per confirmation whose status changed, when coalesced). */
  updatesMade: number;
  /** On-call's status update on the internal incident (once every channel was told of the merge) → posted in each channel. */
  statusUpdateShown: Summary;
  rateLimits: { slack: RateLimitCounts; pagerDuty: RateLimitCounts };
  /** Refused Slack calls, and how many were retried no earlier than their Retry-After. */
  slack429: {
    received: number;
    retried: number;
    honoured: number;
    earliestRetryOverAskedMs?: number;
    updatesRefused: number;
    /** The refused posts by what they were (their effect key's kind: confirm, joined, pd…), with when the first and last were refused (ms from the first request). */
    byKind?: Record<string, { refused: number; firstAtMs: number; lastAtMs: number }>;
  };
  /** Refused PagerDuty triggers (the Events API sends no Retry-After) and the shortest wait before a retry. */
  pagerDuty429: { received: number; shortestRetryGapMs?: number };
  checks: {
    duplicateIncidents: number;
    duplicateConfirmations: number;
    duplicateResolutions: number;
    duplicateStatusUpdates: number;
    missingTriggers: number;
    missingConfirmations: number;
    missingResolutions: number;
    missingStatusUpdates: number;
    rejectedRequests: number;
    failureNotices: number;
    deadLettered: number;
  };
  durationMs: number;
  /** False when the run stopped with messages still queued (confirmation re-renders waiting on chat.update's limit). */
  settled: boolean;
  cpuMsPerEscalation: number;
  peakRssMb: number;
  loadAverage: number[];
  cores: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function effectKeyOf(metadata: unknown): string | undefined {
  let value = metadata;
  if (typeof metadata === 'string') {
    try {
      value = JSON.parse(metadata);
    } catch {
      return undefined;
    }
  }
  const key = (value as { event_payload?: { key?: unknown } } | undefined)?.event_payload?.key;
  return typeof key === 'string' ? key : undefined;
}

/**
 * A shared outage: `channels` registered customers escalate within `spreadMs` with the stand-ins
 * enforcing Slack's and PagerDuty's documented rate limits; once every customer is confirmed,
 * on-call opens one internal incident, merges every customer's incident into it and resolves it,
 * and every channel must be told. Times come from the stand-ins' records (a Slack call's `at`,
 * the PagerDuty stand-in's change listener).
 */
export async function runStorm(options: StormOptions): Promise<StormResult> {
  const channels = Array.from({ length: options.channels }, (_, i) => `CSTORM${String(i).padStart(3, '0')}`);
  const keyOf = (i: number) => (options.routingKeys === 'shared' ? 'RSTORMSHAREDKEY000000000' : `RSTORMOWNKEY${String(i).padStart(12, '0')}`);
  const stack = await startStack({
    env: {},
    // Room to page every time: the page budget would otherwise fold the storm.
    customers: channels.map((channel, i) => ({ channel, name: `Customer ${i}`, routingKey: keyOf(i), pagesPerHour: 1000 })),
    logLevel: 'silent',
    visibilityTimeoutSeconds: 30,
    concurrency: options.concurrency,
    ...(options.workerProcesses ? { workerProcesses: true } : {}),
    standIns: { latencyMs: options.standInLatencyMs, rateLimits: true },
    // Unheard, the storm runs the reconciler itself from the resolve on (a timer's runs would fall anywhere).
    ...(options.reconcileEverySeconds && !options.resolutionUnheard ? { reconcileEverySeconds: options.reconcileEverySeconds } : {}),
  });
  // Named, as `npm run customers -- add` registers a channel deployed (it asks Slack once, at
  // registration): a first escalation then asks Slack nothing.
  await Promise.all(channels.map((channel) => stack.customers.recordChannelName(channel, channel.toLowerCase())));
  const slack = stack.slack!;
  const pagerDuty = stack.pagerDuty!;
  // The limits the stand-ins enforce (the documented ones) give the bounds.
  const bounds = stormBounds(slack.rateLimits!.rules, { channels: options.channels, routingKeys: options.routingKeys, spreadMs: options.spreadMs, callMs: options.standInLatencyMs });
  channels.forEach((_, i) => pagerDuty.routingKeys.add(keyOf(i)));
  const secret = stack.secrets.SLACK_SIGNING_SECRET;
  // The stand-in records Events API calls without a time; note each one's as it is recorded.
  const eventsCallAt: number[] = [];
  const record = pagerDuty.eventsCalls.push.bind(pagerDuty.eventsCalls);
  pagerDuty.eventsCalls.push = (...items) => {
    for (const _ of items) eventsCallAt.push(Date.now());
    return record(...items);
  };
  const cpuStart = process.cpuUsage();
  const workersCpuStart = (await stack.workerUsage()).cpuMs;

  const sentAt = new Map<string, number>();
  const dedupOf = new Map<string, string>();
  const triggeredAt = new Map<string, number>();
  const statuses: number[] = [];
  const unsubscribe = pagerDuty.onChange(() => {
    const now = Date.now();
    for (const incident of pagerDuty.incidents.values()) if (!triggeredAt.has(incident.incidentKey)) triggeredAt.set(incident.incidentKey, now);
  });

  const started = Date.now();
  await Promise.all(
    channels.map(async (channel, i) => {
      await sleep((i * options.spreadMs) / options.channels);
      const envelope = mentionEnvelope({ channel, text: `escalate storm: our API answers 503 (${channel})` });
      const dedupKey = dedupKeyFor({ team: envelope.team_id, channel, ts: envelope.event.ts, id: envelope.event_id, via: 'mention' });
      dedupOf.set(channel, dedupKey);
      const request = signedSlackJson(secret, envelope);
      sentAt.set(dedupKey, Date.now());
      const response = await fetch(`${stack.url}/slack/events`, { method: 'POST', headers: request.headers, body: request.body });
      await response.arrayBuffer();
      statuses.push(response.status);
    }),
  );

  const okPosts = (from = 0) => slack.calls.slice(from).filter((c) => c.method === 'chat.postMessage' && c.retryAfterSeconds === undefined);
  const confirmedAt = () => {
    const at = new Map<string, number>();
    for (const call of okPosts()) {
      const key = effectKeyOf(call.args.metadata);
      if (key?.startsWith('confirm:') && !at.has(key.slice(8))) at.set(key.slice(8), call.at);
    }
    return at;
  };
  const deadline = started + options.timeoutMs;
  while (confirmedAt().size < channels.length && Date.now() < deadline) await sleep(200);
  const confirmations = confirmedAt();

  // On-call: one internal incident, every customer's incident merged into it, then resolved.
  const internal = pagerDuty.openInternal('INTERNAL: shared database cluster down');
  for (const dedupKey of dedupOf.values()) {
    const incident = pagerDuty.byKey(dedupKey);
    if (incident && incident.id !== internal.id && incident.status !== 'resolved') pagerDuty.merge(incident.id, internal.id, 'Storm On-Call');
  }
  await pagerDuty.deliveriesSettled();
  // On-call publishes a status update once every channel has been told its incident is handled
  // with the others, and resolves once every channel shows the update.
  const joined = () => new Set(okPosts().filter((c) => effectKeyOf(c.args.metadata)?.startsWith('joined:')).map((c) => c.channel)).size;
  while (joined() < confirmations.size && Date.now() < deadline + options.timeoutMs) await sleep(200);
  const callsBeforeUpdate = slack.calls.length;
  const deliveriesBeforeUpdate = pagerDuty.deliveries.length;
  const publishedAt = Date.now();
  pagerDuty.publishStatusUpdate(internal.id, 'We are restoring the shared database cluster; next update in 30 minutes.', 'Storm On-Call');
  await pagerDuty.deliveriesSettled();
  const updateEvent = pagerDuty.deliveries.slice(deliveriesBeforeUpdate).find((d) => d.incidentId === internal.id && d.eventType === 'incident.status_update_published');
  /** The times of each channel's accepted posts since `from` whose effect key passes `wanted`. */
  const postsWhere = (from: number, wanted: (key: string) => boolean) => {
    const at = new Map<string, number[]>();
    for (const call of okPosts(from)) {
      const key = effectKeyOf(call.args.metadata);
      if (key !== undefined && wanted(key)) at.set(call.channel!, [...(at.get(call.channel!) ?? []), call.at]);
    }
    return at;
  };
  /** Each channel's posts of one webhook's event. */
  const postsOf = (eventId: string | undefined, from: number) => (eventId ? postsWhere(from, (key) => key.startsWith(`pd:${eventId}:`)) : new Map<string, number[]>());
  while (postsOf(updateEvent?.eventId, callsBeforeUpdate).size < confirmations.size && Date.now() < deadline + options.timeoutMs) await sleep(200);
  const statusUpdates = postsOf(updateEvent?.eventId, callsBeforeUpdate);
  const callsBeforeResolve = slack.calls.length;
  const deliveriesBeforeResolve = pagerDuty.deliveries.length;
  if (options.resolutionUnheard) pagerDuty.setWebhooks(false);
  const resolvedAt = Date.now();
  pagerDuty.resolve(internal.id, 'Storm On-Call');
  await pagerDuty.deliveriesSettled();
  const resolveEvent = pagerDuty.deliveries.slice(deliveriesBeforeResolve).find((d) => d.incidentId === internal.id && d.eventType === 'incident.resolved');

  /** Each channel's posts of the resolution: the webhook's, or unheard the reconciler's catch-up (`caught:<dedup key>:resolved:<at>`). */
  const resolutionPosts = () =>
    options.resolutionUnheard ? postsWhere(callsBeforeResolve, (key) => key.startsWith('caught:') && key.includes(':resolved:')) : postsOf(resolveEvent?.eventId, callsBeforeResolve);
  const reconcilerRuns: NonNullable<StormResult['reconcilerRuns']> = [];
  if (options.resolutionUnheard) {
    const everyMs = (options.reconcileEverySeconds ?? 300) * 1000;
    for (let tick = resolvedAt; resolutionPosts().size < channels.length && Date.now() < deadline + options.timeoutMs; tick += everyMs) {
      await sleep(tick - Date.now());
      const runStarted = Date.now();
      const summary = (await stack.reconcile()) ?? { examined: 0, caughtUp: 0, stoppedEarly: true };
      reconcilerRuns.push({ startedMs: runStarted - resolvedAt, tookMs: Date.now() - runStarted, ...summary });
    }
  }
  while (resolutionPosts().size < channels.length && Date.now() < deadline + options.timeoutMs) await sleep(200);
  // Settling waits at least long enough for Slack's chat.update limit to let every confirmation be
  // re-rendered once after the resolve (with a quarter to spare: pd-router paces a little under it).
  const rerenderBoundMs = bounds.rerenderMs * 1.25;
  const settled = options.settle
    ? await stack.waitForIdle(Math.max(30_000, deadline + options.timeoutMs - Date.now(), resolvedAt + rerenderBoundMs - Date.now())).then(
        () => true,
        () => false,
      )
    : await stack.waitForIdle(1000).then(
        () => true,
        () => false,
      );
  unsubscribe();
  const cpu = process.cpuUsage(cpuStart);
  const workers = await stack.workerUsage();
  const cpuMs = (cpu.user + cpu.system) / 1000 + workers.cpuMs - workersCpuStart;
  const finished = Date.now();

  // The last successful chat.update of each channel after the resolve: its confirmation shown resolved.
  const updatedAt = new Map<string, number>();
  for (const call of slack.calls.slice(callsBeforeResolve)) {
    if (call.method === 'chat.update' && call.retryAfterSeconds === undefined && call.channel) updatedAt.set(call.channel, call.at);
  }

  const paged: number[] = [];
  const confirmed: number[] = [];
  let missingTriggers = 0;
  let missingConfirmations = 0;
  let lastTrigger = started;
  let lastConfirmation = started;
  for (const dedupKey of dedupOf.values()) {
    const sent = sentAt.get(dedupKey)!;
    const trigger = triggeredAt.get(dedupKey);
    if (trigger === undefined) missingTriggers++;
    else {
      paged.push(trigger - sent);
      lastTrigger = Math.max(lastTrigger, trigger);
    }
    const confirmation = confirmations.get(dedupKey);
    if (confirmation === undefined) missingConfirmations++;
    else {
      confirmed.push(confirmation - sent);
      lastConfirmation = Math.max(lastConfirmation, confirmation);
    }
  }

  const countsOf = (prefix: string) => {
    const counts = new Map<string, number>();
    for (const call of okPosts()) {
      const key = effectKeyOf(call.args.metadata);
      if (key?.startsWith(prefix)) counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts;
  };
  const excess = (counts: Map<string, number>) => [...counts.values()].reduce((sum, n) => sum + Math.max(0, n - 1), 0);
  const resolutions = resolutionPosts();
  const incidentsPerKey = new Map<string, number>();
  for (const incident of pagerDuty.incidents.values()) incidentsPerKey.set(incident.incidentKey, (incidentsPerKey.get(incident.incidentKey) ?? 0) + 1);

  // A post is recognisable by its effect key; a chat.update is not (every event of an incident
  // re-renders the same message), so Retry-After is checked on posts and updates are counted.
  const slackRefused = slack.calls.filter((c) => c.retryAfterSeconds !== undefined && c.method === 'chat.postMessage');
  let retried = 0;
  let honoured = 0;
  let earliest: number | undefined;
  for (const call of slackRefused) {
    const key = effectKeyOf(call.args.metadata);
    const same = (c: RecordedCall) => c.at > call.at && c.method === call.method && c.channel === call.channel && effectKeyOf(c.args.metadata) === key;
    const retry = slack.calls.find(same);
    if (!retry) continue;
    retried++;
    const over = retry.at - call.at - call.retryAfterSeconds! * 1000;
    if (over >= 0) honoured++;
    earliest = earliest === undefined ? over : Math.min(earliest, over);
  }
  const byKind: NonNullable<StormResult['slack429']['byKind']> = {};
  for (const call of slackRefused) {
    const kind = effectKeyOf(call.args.metadata)?.split(':')[0] ?? 'other';
    const at = call.at - started;
    const seen = byKind[kind];
    byKind[kind] = seen ? { refused: seen.refused + 1, firstAtMs: Math.min(seen.firstAtMs, at), lastAtMs: Math.max(seen.lastAtMs, at) } : { refused: 1, firstAtMs: at, lastAtMs: at };
  }
  const eventsRefused = pagerDuty.eventsCalls.map((c, index) => ({ ...c, index })).filter((c) => c.status === 429);
  const deadLettered = (await stack.dlq('slack')).length + (await stack.dlq('pagerduty')).length;
  const result: StormResult = {
    options,
    escalations: channels.length,
    paged: summarize(paged),
    confirmed: summarize(confirmed),
    allConfirmedMs: lastConfirmation - started,
    allPagedMs: lastTrigger - started,
    bounds,
    resolutionShown: summarize([...resolutions.values()].map((at) => at[0]! - resolvedAt)),
    resolutionUpdated: summarize([...updatedAt.values()].map((at) => at - resolvedAt)),
    ...(options.resolutionUnheard ? { reconcilerRuns } : {}),
    updatesMade: slack.calls.filter((c) => c.method === 'chat.update' && c.retryAfterSeconds === undefined).length,
    statusUpdateShown: summarize([...statusUpdates.values()].map((at) => at[0]! - publishedAt)),
    rateLimits: { slack: slack.rateLimits!.totals, pagerDuty: pagerDuty.rateLimits!.totals },
    slack429: { received: slackRefused.length, retried, honoured, updatesRefused: slack.calls.filter((c) => c.retryAfterSeconds !== undefined && c.method === 'chat.update').length, ...(earliest !== undefined ? { earliestRetryOverAskedMs: earliest } : {}), byKind },
    pagerDuty429: { received: eventsRefused.length, ...shortestGap(pagerDuty.eventsCalls, eventsCallAt) },
    checks: {
      duplicateIncidents: [...dedupOf.values()].reduce((sum, key) => sum + Math.max(0, (incidentsPerKey.get(key) ?? 0) - 1), 0),
      duplicateConfirmations: excess(countsOf('confirm:')),
      duplicateResolutions: [...resolutions.values()].reduce((sum, at) => sum + at.length - 1, 0),
      duplicateStatusUpdates: [...statusUpdates.values()].reduce((sum, at) => sum + at.length - 1, 0),
      missingTriggers,
      missingConfirmations,
      missingResolutions: channels.length - resolutions.size,
      missingStatusUpdates: channels.length - statusUpdates.size,
      rejectedRequests: statuses.filter((s) => s !== 200).length,
      failureNotices: [...countsOf('failed:').values(), ...countsOf('rejected:').values()].length,
      deadLettered,
    },
    durationMs: finished - started,
    settled,
    cpuMsPerEscalation: round(cpuMs / channels.length, 1),
    // With worker processes, the sum of each process's peak: at most what they held at once.
    peakRssMb: round((process.resourceUsage().maxRSS * 1024) / 2 ** 20 + workers.peakRssMb, 1),
    loadAverage: loadavg().map((v) => round(v, 2)),
    cores: cpus().length,
  };
  await stack.stop();
  return result;
}

/** The shortest time between a refused trigger and the next call with the same dedup key. */
function shortestGap(calls: readonly { status: number; body: unknown }[], at: readonly number[]): { shortestRetryGapMs?: number } {
  const keyOf = (body: unknown) => {
    const value = typeof body === 'string' ? (JSON.parse(body) as unknown) : body;
    return (value as { dedup_key?: string } | undefined)?.dedup_key;
  };
  let shortest: number | undefined;
  calls.forEach((call, i) => {
    if (call.status !== 429) return;
    const key = keyOf(call.body);
    const next = calls.findIndex((c, j) => j > i && keyOf(c.body) === key);
    if (next < 0) return;
    const gap = at[next]! - at[i]!;
    shortest = shortest === undefined ? gap : Math.min(shortest, gap);
  });
  return shortest === undefined ? {} : { shortestRetryGapMs: shortest };
}
