import { startStack } from '../stack';
import { audit } from './audit';
import { captureOutput } from './capture-output';
import { pool } from './pool';
import { FIRST_INCIDENT_NUMBER, World, type SentEscalation } from './world';

/**
 * The soak run, shared by `npm run soak` (scripts/soak.ts) and its short version in npm test:
 * many channels escalate at once through the local stack, PagerDuty acknowledges and resolves
 * every incident (each webhook delivered twice), some customers click Check Status (some from a
 * channel the incident does not belong to), and the Slack and PagerDuty stand-ins fail a small
 * fraction of all calls. At the end, everything is audited.
 */

export interface SoakOptions {
  channels: number;
  escalations: number;
  /** Fraction of Slack and PagerDuty calls that fail (Slack 429 with Retry-After, PagerDuty 500). */
  faultRate: number;
  seed: number;
  /** Escalations sent per wave; acknowledgements and resolutions follow one and two waves later. */
  wave?: number;
  /** PagerDuty delivers every webhook twice (default: yes). */
  duplicateWebhooks?: boolean;
  /** Progress lines (the CLI prints them). */
  progress?: (line: string) => void;
}

export interface SoakReport {
  options: SoakOptions;
  durationMs: number;
  eventsIn: { slackRequests: number; escalations: number; slashCommands: number; slackRetries: number; clicks: number; wrongChannelClicks: number; webhookDeliveries: number; distinctPagerDutyEvents: number };
  /** How the router answered PagerDuty's deliveries (0: no answer within PagerDuty's 5 s, so it delivered again). */
  webhookAnswers: Record<string, number>;
  incidentsTriggered: number;
  messagesPerChannel: { channels: number; total: number; min: number; median: number; max: number };
  faultsInjected: { slack: number; pagerDuty: number };
  retriesLogged: number;
  duplicates: string[];
  misroutes: string[];
  lost: string[];
  refusalLeaks: string[];
  failedAndTold: number;
  dlq: { slack: { size: number; reasons: Record<string, number> }; pagerduty: { size: number; reasons: Record<string, number> } };
  peakRssMb: number;
  ok: boolean;
}

/** A small seeded PRNG (mulberry32): the same seed, the same run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function reasonsOf(entries: { body: string; reason?: string }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of entries) {
    const reason = e.reason ?? 'retries exhausted (reason in the log)';
    out[reason] = (out[reason] ?? 0) + 1;
  }
  return out;
}

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const random = seededRandom(options.seed);
  const wave = options.wave ?? 50;
  const progress = options.progress ?? (() => undefined);
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 200);
  const output = captureOutput();
  const started = Date.now();
  const stack = await startStack({
    env: {},
    visibilityTimeoutSeconds: 30,
    retryBaseSeconds: 1,
    logLevel: 'warn',
    concurrency: 4,
    standIns: { firstIncidentNumber: FIRST_INCIDENT_NUMBER, duplicateWebhooks: options.duplicateWebhooks ?? true },
  });
  try {
    let slackFaults = 0;
    let pagerDutyFaults = 0;
    const faultRandom = seededRandom(options.seed ^ 0x5eed);
    stack.slack!.faults.failRandomly(options.faultRate, { kind: 'status', status: 429, retryAfterSeconds: 1 }, () => {
      const r = faultRandom();
      if (r < options.faultRate) slackFaults++;
      return r;
    });
    stack.pagerDuty!.faults.failRandomly(options.faultRate, { kind: 'status', status: 500 }, () => {
      const r = faultRandom();
      if (r < options.faultRate) pagerDutyFaults++;
      return r;
    });

    const world = new World(stack);
    const channels = Array.from({ length: options.channels }, (_, n) => `CSOAK${String(n).padStart(4, '0')}`);
    const plan = Array.from({ length: options.escalations }, (_, n) => ({
      // Every channel gets escalations; the rest land at random.
      channel: n < channels.length ? channels[n]! : channels[Math.floor(random() * channels.length)]!,
      via: random() < 0.15 ? ('command' as const) : ('mention' as const),
      deliveries: random() < 0.2 ? 1 + Math.ceil(random() * 2) : 1,
      click: random(),
    }));
    const waves: { escalation: SentEscalation; click: number }[][] = [];
    let clicks = 0;
    let wrongChannelClicks = 0;
    let slackRetries = 0;

    const acknowledge = async (sent: { escalation: SentEscalation }[]) => {
      await world.waitForIncidents(sent.map((s) => s.escalation.dedupKey), 600_000);
      for (const { escalation } of sent) stack.pagerDuty!.acknowledge(world.incidentOf(escalation)!.id, 'Fox Mulder');
    };
    const resolveAndClick = async (sent: { escalation: SentEscalation; click: number }[]) => {
      for (const { escalation } of sent) stack.pagerDuty!.resolve(world.incidentOf(escalation)!.id, 'Dana Scully');
      await pool(sent, 8, async ({ escalation: e, click: p }, n) => {
        if (p < 0.06) {
          clicks++;
          await world.click(e.channel, e.dedupKey);
        } else if (p < 0.08) {
          clicks++;
          wrongChannelClicks++;
          await world.click(channels[(channels.indexOf(e.channel) + 1 + n) % channels.length]!, e.dedupKey);
        }
      });
    };

    for (let start = 0; start < plan.length; start += wave) {
      const batch = plan.slice(start, start + wave);
      const sent = await pool(batch, 16, async (p) => ({ escalation: await world.escalate(p.channel, { via: p.via, deliveries: p.deliveries }), click: p.click }));
      slackRetries += batch.reduce((sum, p) => sum + p.deliveries - 1, 0);
      waves.push(sent);
      const w = waves.length - 1;
      if (w >= 1) await acknowledge(waves[w - 1]!);
      if (w >= 2) await resolveAndClick(waves[w - 2]!);
      // Keep the number of webhooks in flight bounded, as a real subscription would.
      await stack.pagerDuty!.deliveriesSettled();
      progress(`wave ${w + 1}/${Math.ceil(plan.length / wave)}: ${world.escalations.size} escalations sent, ${stack.pagerDuty!.incidents.size} incidents, ${stack.slack!.messages.length} Slack messages, rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MB`);
    }
    const last = waves.length - 1;
    if (last >= 0) await acknowledge(waves[last]!);
    await sleep(5);
    for (const w of [last - 1, last]) if (w >= 0) await resolveAndClick(waves[w]!);
    progress('all sent; waiting for the queues to drain');
    await stack.waitForIdle(30 * 60_000);

    const report = await audit(world);
    const perChannel = channels.map((c) => report.messagesPerChannel.get(c) ?? 0).sort((a, b) => a - b);
    const deliveries = stack.pagerDuty!.deliveries;
    const retriesLogged = output.records().filter((l) => String(l.message).startsWith('message failed')).length;
    const result: SoakReport = {
      options,
      durationMs: Date.now() - started,
      eventsIn: {
        slackRequests: world.slackRequests,
        escalations: world.escalations.size,
        slashCommands: [...world.escalations.values()].filter((e) => e.via === 'command').length,
        slackRetries,
        clicks,
        wrongChannelClicks,
        webhookDeliveries: deliveries.length,
        distinctPagerDutyEvents: new Set(deliveries.map((d) => d.eventId)).size,
      },
      webhookAnswers: deliveries.reduce<Record<string, number>>((out, d) => ((out[String(d.status)] = (out[String(d.status)] ?? 0) + 1), out), {}),
      incidentsTriggered: report.incidentsTriggered,
      messagesPerChannel: {
        channels: perChannel.length,
        total: perChannel.reduce((a, b) => a + b, 0),
        min: perChannel[0] ?? 0,
        median: perChannel[Math.floor(perChannel.length / 2)] ?? 0,
        max: perChannel[perChannel.length - 1] ?? 0,
      },
      faultsInjected: { slack: slackFaults, pagerDuty: pagerDutyFaults },
      retriesLogged,
      duplicates: report.duplicates,
      misroutes: report.misroutes,
      lost: report.lost,
      refusalLeaks: report.refusalLeaks,
      failedAndTold: report.failedAndTold.length,
      dlq: {
        slack: { size: report.dlq.slack.length, reasons: reasonsOf(report.dlq.slack) },
        pagerduty: { size: report.dlq.pagerduty.length, reasons: reasonsOf(report.dlq.pagerduty) },
      },
      peakRssMb: Math.round(Math.max(peakRss, process.memoryUsage().rss) / 2 ** 20),
      ok: false,
    };
    const everyEscalationAccountedFor = report.incidentsTriggered + report.failedAndTold.length === world.escalations.size;
    result.ok = result.duplicates.length === 0 && result.misroutes.length === 0 && result.lost.length === 0 && result.refusalLeaks.length === 0 && everyEscalationAccountedFor;
    if (!everyEscalationAccountedFor) result.lost.push(`${world.escalations.size} escalations, ${report.incidentsTriggered} incidents, ${report.failedAndTold.length} failed and told`);
    return result;
  } finally {
    await stack.stop();
    output.restore();
    clearInterval(sampler);
  }
}

/** The summary the CLI prints. */
export function formatSoakReport(report: SoakReport): string {
  const lines = [
    `soak: ${report.options.channels} channels, ${report.options.escalations} escalations, fault rate ${report.options.faultRate}, seed ${report.options.seed}`,
    `duration:              ${(report.durationMs / 1000).toFixed(1)} s`,
    `events in:             ${report.eventsIn.slackRequests} Slack requests (${report.eventsIn.escalations} escalations, ${report.eventsIn.slashCommands} by slash command, ${report.eventsIn.slackRetries} Slack retries, ${report.eventsIn.clicks} Check Status clicks of which ${report.eventsIn.wrongChannelClicks} from a foreign channel)`,
    `                       ${report.eventsIn.webhookDeliveries} PagerDuty webhook deliveries (${report.eventsIn.distinctPagerDutyEvents} distinct events${report.options.duplicateWebhooks === false ? '' : ', each sent twice'}; answers: ${Object.entries(report.webhookAnswers).map(([status, n]) => `${status === '0' ? 'none in 5 s' : status} × ${n}`).join(', ')})`,
    `incidents triggered:   ${report.incidentsTriggered}`,
    `messages per channel:  ${report.messagesPerChannel.total} in ${report.messagesPerChannel.channels} channels (min ${report.messagesPerChannel.min}, median ${report.messagesPerChannel.median}, max ${report.messagesPerChannel.max})`,
    `faults injected:       Slack ${report.faultsInjected.slack} (429), PagerDuty ${report.faultsInjected.pagerDuty} (500); ${report.retriesLogged} retries logged`,
    `duplicates:            ${report.duplicates.length}`,
    `misrouted messages:    ${report.misroutes.length}`,
    `refusals with data:    ${report.refusalLeaks.length}`,
    `lost:                  ${report.lost.length}`,
    `failed and told:       ${report.failedAndTold}`,
    `DLQ slack-events:      ${report.dlq.slack.size}${Object.entries(report.dlq.slack.reasons).map(([r, n]) => `\n                         ${n} × ${r}`).join('')}`,
    `DLQ pagerduty-events:  ${report.dlq.pagerduty.size}${Object.entries(report.dlq.pagerduty.reasons).map(([r, n]) => `\n                         ${n} × ${r}`).join('')}`,
    `peak memory (RSS):     ${report.peakRssMb} MB (the whole stack runs in this one process)`,
    `result:                ${report.ok ? 'OK' : 'FAILED'}`,
  ];
  for (const [name, list] of [['duplicates', report.duplicates], ['misroutes', report.misroutes], ['lost', report.lost], ['refusal leaks', report.refusalLeaks]] as const) {
    for (const item of list.slice(0, 20)) lines.push(`  ${name}: ${item}`);
  }
  return lines.join('\n');
}
