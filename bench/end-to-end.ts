import { cpus, loadavg } from 'node:os';
import { dedupKeyFor } from '../lib/dedup-key';
import { startStack } from '../local/stack';
import type { StandInIncident } from '../local/stand-ins/pagerduty';
import { mentionEnvelope, signedSlackJson } from '../local/events/slack';
import { DOCUMENTED_LIMITS } from '../local/stand-ins/rate-limits';
import { countAwsRequests, difference, type Counts } from './lib/count-requests';
import { round, summarize, type Summary } from './lib/stats';

export interface EndToEndOptions {
  channels: number;
  escalationsPerChannel: number;
  /** "burst": every channel sends its escalations back to back; "paced": spread evenly at `ratePerSecond`. */
  mode: 'burst' | 'paced';
  ratePerSecond?: number;
  standInLatencyMs: number;
  /** Worker pollers per queue: Lambda runs a FIFO queue's consumers up to one per active message group. */
  concurrency: number;
  /** Of the incidents, every `acknowledgeEvery`-th is acknowledged and every `resolveEvery`-th then resolved. */
  acknowledgeEvery: number;
  resolveEvery: number;
  /** Send one unmeasured escalation per channel first, so the worker's caches (channel name, workspace address) are warm. */
  warmUp?: boolean;
  /**
   * Each worker in a process of its own, as Lambda gives each invocation its own CPU (the light
   * run: what a customer waits for, not the one process's queue for the CPU).
   */
  workerProcesses?: boolean;
  timeoutMs: number;
}

export interface EndToEndResult {
  options: EndToEndOptions;
  escalations: number;
  webhooks: number;
  /** Escalations whose PagerDuty trigger arrived, per second from the first Slack request to the last trigger. */
  triggersPerSecond: number;
  /** The same to the last confirmation posted in Slack: the escalation as the customer sees it done. */
  escalationsPerSecond: number;
  durationMs: number;
  /** Slack request sent → its PagerDuty trigger accepted by the stand-in (after the stand-in's latency). */
  slackToTrigger: Summary;
  /** Webhook sent by the PagerDuty stand-in → its update posted in Slack (after the stand-in's latency). */
  webhookToPost: Summary;
  /** The ingress's HTTP answer to each Slack request, through the local router, under this load. */
  slackAnswer: Summary;
  peakRssMb: number;
  /** With worker processes: the part of peakRssMb that is theirs (the sum of each one's peak). */
  workerProcessesPeakRssMb?: number;
  /** Memory when the load started, and at the sample with the highest RSS (MB). */
  memory: { rssAtStartMb: number; atPeak: { rssMb: number; heapUsedMb: number; heapTotalMb: number; externalMb: number } };
  /** CPU time of this process over the run, as a share of one core. */
  cpuCoreShare: number;
  /** CPU time of this process per escalation (router, workers, emulators and stand-ins together). */
  cpuMsPerEscalation: number;
  /** AWS calls the emulators received during the run, per escalation (pollers' empty receives included). */
  awsCallsPerEscalation: Counts;
  checks: {
    duplicateIncidents: number;
    duplicateConfirmations: number;
    duplicateUpdates: number;
    misroutes: number;
    missingTriggers: number;
    missingConfirmations: number;
    missingUpdates: number;
    rejectedRequests: number;
    /** "escalation failed/rejected" messages posted to customers: 0 when every trigger got through. */
    failureNotices: number;
    deadLettered: number;
  };
  loadAverage: number[];
  cores: number;
}

interface Escalation {
  channel: string;
  ts: string;
  dedupKey: string;
  sentAt: number;
  answerMs?: number;
  status?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function effectKeyOf(metadata: unknown): string | undefined {
  const value = typeof metadata === 'string' ? safeJson(metadata) : metadata;
  const key = (value as { event_payload?: { key?: unknown } } | undefined)?.event_payload?.key;
  // An update names its channel's escalation too (`pd:<event>:<dedup key>`, one event may reach
  // several channels); the checks below go by the event.
  if (typeof key === 'string' && key.startsWith('pd:')) return key.split(':').slice(0, 2).join(':');
  return typeof key === 'string' ? key : undefined;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The whole router in this process (startStack in sandbox mode), driven like production:
 * signed Slack requests over HTTP, the PagerDuty stand-in sending a webhook for every incident
 * change, some incidents acknowledged and resolved. Timestamps come from the load generator
 * (requests sent), the PagerDuty stand-in's change listener (trigger accepted, webhook sent;
 * both fire synchronously where the stand-in records the change) and the Slack stand-in's call
 * log (`at`, taken after its simulated latency). The stand-ins are not modified.
 */
/** The channel whose one escalation warms the worker processes before a run (not measured). */
const PROCESS_WARM_UP_CHANNEL = 'CE2EWARMUP';

export async function runEndToEnd(options: EndToEndOptions): Promise<EndToEndResult> {
  const channels = Array.from({ length: options.channels }, (_, i) => `CE2E${String(i).padStart(3, '0')}`);
  const stack = await startStack({
    env: {},
    // Registered customers with room to page every time: the budget is not what this measures.
    customers: [...channels, ...(options.workerProcesses ? [PROCESS_WARM_UP_CHANNEL] : [])].map((channel) => ({ channel, name: channel, pagesPerHour: 1000 })),
    logLevel: 'warn',
    visibilityTimeoutSeconds: 30,
    retryBaseSeconds: 1,
    concurrency: options.concurrency,
    ...(options.workerProcesses ? { workerProcesses: true } : {}),
    standIns: { latencyMs: options.standInLatencyMs },
  });
  // Named, as `npm run customers -- add` registers a channel deployed (it asks Slack once, at
  // registration): a first escalation then asks Slack nothing.
  await Promise.all(channels.map((channel) => stack.customers.recordChannelName(channel, channel.toLowerCase())));
  const slack = stack.slack!;
  const pagerDuty = stack.pagerDuty!;
  const secret = stack.secrets.SLACK_SIGNING_SECRET;
  if (options.workerProcesses) {
    // The worker processes start cold, where in-process workers share modules the stack has run:
    // one escalation from a channel outside the run warms the processes, not the measured
    // channels' caches (each one's first escalation is still counted).
    const request = signedSlackJson(secret, mentionEnvelope({ channel: PROCESS_WARM_UP_CHANNEL, text: 'escalate warm-up of the worker processes' }));
    await (await fetch(`${stack.url}/slack/events`, { method: 'POST', headers: request.headers, body: request.body })).arrayBuffer();
    await stack.waitForIdle(options.timeoutMs);
  }
  if (options.warmUp) {
    await Promise.all(
      channels.map(async (channel) => {
        const request = signedSlackJson(secret, mentionEnvelope({ channel, text: `escalate warm-up ${channel}` }));
        await (await fetch(`${stack.url}/slack/events`, { method: 'POST', headers: request.headers, body: request.body })).arrayBuffer();
      }),
    );
    await stack.waitForIdle(options.timeoutMs);
  }
  // Only what happens from here on is measured and checked.
  const messagesBefore = slack.messages.length;
  const ephemeralsBefore = slack.ephemerals.length;
  const callsBefore = slack.calls.length;
  const deliveriesBefore = pagerDuty.deliveries.length;
  const incidentsBefore = new Set(pagerDuty.incidents.keys());
  const counter = countAwsRequests();
  const mb = (bytes: number) => round(bytes / 2 ** 20, 1);
  const rssAtStart = process.memoryUsage().rss;
  let peakSample = process.memoryUsage();
  const sampler = setInterval(() => {
    const sample = process.memoryUsage();
    if (sample.rss > peakSample.rss) peakSample = sample;
  }, 100);
  const cpuStart = process.cpuUsage();
  const workersCpuStart = (await stack.workerUsage()).cpuMs;
  const escalations: Escalation[] = [];
  const byKey = new Map<string, Escalation>();
  const triggeredAt = new Map<string, number>();
  const webhookSentAt = new Map<string, number>();
  const timers = new Set<Promise<void>>();
  let knownIncidents = pagerDuty.incidents.size;

  const change = (incident: StandInIncident, eventType: string, apply: () => void) => {
    webhookSentAt.set(`${incident.id}|${eventType}`, Date.now());
    apply();
  };
  const later = (ms: number, run: () => void) => {
    const timer: Promise<void> = sleep(ms)
      .then(run)
      .finally(() => timers.delete(timer));
    timers.add(timer);
  };
  const unsubscribe = pagerDuty.onChange(() => {
    if (pagerDuty.incidents.size === knownIncidents) return;
    const now = Date.now();
    let index = 0;
    for (const incident of pagerDuty.incidents.values()) {
      if (index++ < knownIncidents) continue;
      triggeredAt.set(incident.incidentKey, now);
      webhookSentAt.set(`${incident.id}|incident.triggered`, now);
      const n = index;
      if (n % options.acknowledgeEvery === 0) later(300, () => change(incident, 'incident.acknowledged', () => pagerDuty.acknowledge(incident.id, 'Bench On-Call')));
      if (n % options.resolveEvery === 0) later(600, () => change(incident, 'incident.resolved', () => pagerDuty.resolve(incident.id, 'Bench On-Call')));
    }
    knownIncidents = pagerDuty.incidents.size;
  });

  const send = async (channel: string, k: number) => {
    const envelope = mentionEnvelope({ channel, text: `escalate e2e ${channel} ${k}` });
    const escalation: Escalation = { channel, ts: envelope.event.ts, dedupKey: dedupKeyFor({ team: envelope.team_id, channel, ts: envelope.event.ts, id: envelope.event_id, via: 'mention' }), sentAt: 0 };
    escalations.push(escalation);
    byKey.set(escalation.dedupKey, escalation);
    const request = signedSlackJson(secret, envelope);
    escalation.sentAt = Date.now();
    const start = process.hrtime.bigint();
    const response = await fetch(`${stack.url}/slack/events`, { method: 'POST', headers: request.headers, body: request.body });
    await response.arrayBuffer();
    escalation.answerMs = Number(process.hrtime.bigint() - start) / 1e6;
    escalation.status = response.status;
  };

  const started = Date.now();
  if (options.mode === 'burst') {
    await Promise.all(channels.map(async (channel) => {
      for (let k = 0; k < options.escalationsPerChannel; k++) await send(channel, k);
    }));
  } else {
    const rate = options.ratePerSecond ?? 100;
    const period = (options.channels / rate) * 1000;
    await Promise.all(channels.map(async (channel, c) => {
      const inFlight: Promise<void>[] = [];
      for (let k = 0; k < options.escalationsPerChannel; k++) {
        const due = started + (c * period) / options.channels + k * period;
        await sleep(Math.max(0, due - Date.now()));
        inFlight.push(send(channel, k));
      }
      await Promise.all(inFlight);
    }));
  }

  const deadline = Date.now() + options.timeoutMs;
  // Acknowledgements and resolutions are scheduled when incidents appear: wait for all of them.
  while ((triggeredAt.size < escalations.length || timers.size) && Date.now() < deadline) await sleep(20);
  await stack.waitForIdle(Math.max(1000, deadline - Date.now()));
  unsubscribe();
  const parentCpu = process.cpuUsage(cpuStart);
  const workers = await stack.workerUsage();
  const cpuMs = (parentCpu.user + parentCpu.system) / 1000 + workers.cpuMs - workersCpuStart;
  clearInterval(sampler);
  const awsCalls = counter.snapshot();
  counter.stop();

  // What happened, read from the stand-ins' records.
  const messages = slack.messages.slice(messagesBefore);
  const deliveries = pagerDuty.deliveries.slice(deliveriesBefore);
  const posts = slack.calls.slice(callsBefore).filter((call) => call.method === 'chat.postMessage');
  const postedAt = new Map<string, number[]>();
  for (const call of posts) {
    const key = effectKeyOf(call.args.metadata);
    if (key) postedAt.set(key, [...(postedAt.get(key) ?? []), call.at]);
  }
  const incidentsByKey = new Map<string, StandInIncident[]>();
  for (const incident of pagerDuty.incidents.values()) if (!incidentsBefore.has(incident.id)) incidentsByKey.set(incident.incidentKey, [...(incidentsByKey.get(incident.incidentKey) ?? []), incident]);
  const escalationOfIncident = new Map<string, Escalation>();
  for (const [key, incidents] of incidentsByKey) for (const incident of incidents) if (byKey.has(key)) escalationOfIncident.set(incident.id, byKey.get(key)!);

  const deliveredEvents = new Map<string, { incidentId: string; eventType: string }>();
  for (const delivery of deliveries) if (delivery.status >= 200 && delivery.status < 300) deliveredEvents.set(delivery.eventId, delivery);

  // Every message of ours names its effect: `pd:<event>` for an update (as read above), `<step>:<dedup_key>` otherwise.
  // Each must sit in the thread of the escalation it is about, in that escalation's channel.
  let misroutes = 0;
  let failureNotices = 0;
  for (const message of messages) {
    const key = effectKeyOf(message.metadata);
    if (!key) continue;
    const [step, ...rest] = key.split(':');
    const ref = rest.join(':');
    if (step === 'failed' || step === 'rejected') failureNotices++;
    const delivery = step === 'pd' ? deliveredEvents.get(ref) : undefined;
    const owner = step === 'pd' ? (delivery ? escalationOfIncident.get(delivery.incidentId) : undefined) : byKey.get(ref);
    if (!owner || message.channel !== owner.channel || message.threadTs !== owner.ts) misroutes++;
  }
  for (const ephemeral of slack.ephemerals.slice(ephemeralsBefore)) if (!channels.includes(ephemeral.channel)) misroutes++;
  const webhookToPost: number[] = [];
  let missingUpdates = 0;
  let duplicateUpdates = 0;
  for (const [eventId, delivery] of deliveredEvents) {
    const at = postedAt.get(`pd:${eventId}`);
    // An escalation's own incident opening is told by its confirmation ("paged", Triggered), not by a post.
    if (delivery.eventType === 'incident.triggered') {
      duplicateUpdates += at?.length ?? 0;
      continue;
    }
    const sent = webhookSentAt.get(`${delivery.incidentId}|${delivery.eventType}`);
    if (!at?.length) {
      missingUpdates++;
      continue;
    }
    if (at.length > 1) duplicateUpdates += at.length - 1;
    if (sent !== undefined) webhookToPost.push(at[0]! - sent);
  }

  const slackToTrigger: number[] = [];
  let lastTrigger = started;
  let lastConfirmation = started;
  let missingTriggers = 0;
  let missingConfirmations = 0;
  let duplicateIncidents = 0;
  let duplicateConfirmations = 0;
  for (const escalation of escalations) {
    const at = triggeredAt.get(escalation.dedupKey);
    if (at === undefined) missingTriggers++;
    else {
      slackToTrigger.push(at - escalation.sentAt);
      lastTrigger = Math.max(lastTrigger, at);
    }
    duplicateIncidents += Math.max(0, (incidentsByKey.get(escalation.dedupKey)?.length ?? 0) - 1);
    const confirmations = postedAt.get(`confirm:${escalation.dedupKey}`) ?? [];
    if (!confirmations.length) missingConfirmations++;
    duplicateConfirmations += Math.max(0, confirmations.length - 1);
    for (const at of confirmations) lastConfirmation = Math.max(lastConfirmation, at);
  }
  const deadLettered = (await stack.dlq('slack')).length + (await stack.dlq('pagerduty')).length;
  const result: EndToEndResult = {
    options,
    escalations: escalations.length,
    webhooks: deliveredEvents.size,
    triggersPerSecond: round((escalations.length - missingTriggers) / ((lastTrigger - started) / 1000), 1),
    escalationsPerSecond: round((escalations.length - missingConfirmations) / ((lastConfirmation - started) / 1000), 1),
    durationMs: lastConfirmation - started,
    slackToTrigger: summarize(slackToTrigger),
    webhookToPost: summarize(webhookToPost),
    slackAnswer: summarize(escalations.map((e) => e.answerMs ?? NaN).filter((v) => !Number.isNaN(v))),
    // With worker processes, the sum of each process's peak: at most what they held at once.
    peakRssMb: round((process.resourceUsage().maxRSS * 1024) / 2 ** 20 + workers.peakRssMb, 1),
    ...(options.workerProcesses ? { workerProcessesPeakRssMb: round(workers.peakRssMb, 1) } : {}),
    memory: {
      rssAtStartMb: mb(rssAtStart),
      atPeak: { rssMb: mb(peakSample.rss), heapUsedMb: mb(peakSample.heapUsed), heapTotalMb: mb(peakSample.heapTotal), externalMb: mb(peakSample.external) },
    },
    cpuCoreShare: round(cpuMs / (lastConfirmation - started), 2),
    cpuMsPerEscalation: round(cpuMs / escalations.length, 1),
    awsCallsPerEscalation: Object.fromEntries(Object.entries(awsCalls).map(([name, n]) => [name, round(n / escalations.length, 1)])),
    checks: {
      duplicateIncidents,
      duplicateConfirmations,
      duplicateUpdates,
      misroutes,
      missingTriggers,
      missingConfirmations,
      missingUpdates,
      rejectedRequests: escalations.filter((e) => e.status !== 200).length,
      failureNotices,
      deadLettered,
    },
    loadAverage: loadavg().map((v) => round(v, 2)),
    cores: cpus().length,
  };
  await stack.stop();
  return result;
}

export interface OperationCounts {
  /** AWS calls (as the emulators saw them) and Slack/PagerDuty calls, for one step of an escalation's life. */
  steps: { step: string; aws: Counts; slack: Counts; pagerDuty: Counts; webhooks: number }[];
  /** Calls the local event-source pollers and waitForIdle made meanwhile (Lambda's pollers do the same in AWS, unbilled per message). */
  excluded: string[];
}

const BACKGROUND = ['SQS.ReceiveMessage', 'SQS.GetQueueAttributes'];

/**
 * How long one channel's post limit takes to refill whole: a step starts only then. An
 * escalation's webhooks come minutes apart; steps run back to back would find the channel's
 * posts refused (1 a second, a burst of 3) and count the retry as the step's cost.
 */
function channelPostsRefillMs(): number {
  const rule = DOCUMENTED_LIMITS['slack.chat.postMessage.channel'];
  return rule.kind === 'bucket' ? (rule.burst / rule.perSecond) * 1000 : rule.windowSeconds * 1000;
}

/**
 * The calls behind one escalation, step by step, at steady state (the channel's name and the
 * workspace address already cached): what the cost estimate multiplies by list prices.
 */
export async function measureOperations(): Promise<OperationCounts> {
  const counter = countAwsRequests();
  // With the deployed defaults of pacing (the stand-ins' limits on): the cost counts every turn a
  // post or a trigger takes, as deployed.
  const stack = await startStack({ env: {}, logLevel: 'warn', visibilityTimeoutSeconds: 30, retryBaseSeconds: 1, standIns: { latencyMs: 0, rateLimits: true }, customers: [{ channel: 'C0PSTEPS1', name: 'Calls per step', pagesPerHour: 1000 }] });
  try {
    const slack = stack.slack!;
    const pagerDuty = stack.pagerDuty!;
    const steps: OperationCounts['steps'] = [];
    const measure = async (step: string, act: () => Promise<void> | void) => {
      await stack.waitForIdle();
      await new Promise((resolve) => setTimeout(resolve, channelPostsRefillMs()));
      const aws = counter.snapshot();
      const slackCalls = slack.calls.length;
      const eventsCalls = pagerDuty.eventsCalls.length;
      const restCalls = pagerDuty.restCalls.length;
      const deliveries = pagerDuty.deliveries.length;
      await act();
      await stack.waitForIdle();
      const refused = slack.calls.slice(slackCalls).filter((call) => call.retryAfterSeconds !== undefined).length;
      if (refused) throw new Error(`calls per step: Slack refused ${refused} call(s) of "${step}", whose retries are not a step's steady-state cost`);
      const byMethod = (calls: { method: string }[]) => calls.reduce<Counts>((all, call) => ({ ...all, [call.method]: (all[call.method] ?? 0) + 1 }), {});
      steps.push({
        step,
        aws: Object.fromEntries(Object.entries(difference(counter.snapshot(), aws)).filter(([name]) => !BACKGROUND.includes(name))),
        slack: byMethod(slack.calls.slice(slackCalls)),
        pagerDuty: { 'events v2 enqueue': pagerDuty.eventsCalls.length - eventsCalls, 'REST': pagerDuty.restCalls.length - restCalls },
        webhooks: pagerDuty.deliveries.length - deliveries,
      });
    };
    const escalate = async (text: string) => {
      const request = signedSlackJson(stack.secrets.SLACK_SIGNING_SECRET, mentionEnvelope({ channel: 'C0PSTEPS1', text }));
      const response = await fetch(`${stack.url}/slack/events`, { method: 'POST', headers: request.headers, body: request.body });
      if (response.status !== 200) throw new Error(`operations: escalation answered ${response.status}`);
    };
    await escalate('escalate warm-up: fills the channel-name and workspace caches');
    await measure('Slack escalation, with its incident.triggered webhook', () => escalate('escalate counted'));
    const incident = [...pagerDuty.incidents.values()].at(-1)!;
    await measure('incident.acknowledged webhook', () => void pagerDuty.acknowledge(incident.id, 'Bench On-Call'));
    await measure('incident.resolved webhook', () => void pagerDuty.resolve(incident.id, 'Bench On-Call'));
    return { steps, excluded: BACKGROUND };
  } finally {
    await stack.stop();
    counter.stop();
  }
}
