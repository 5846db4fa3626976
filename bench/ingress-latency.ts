import { createHash } from 'node:crypto';
import { GetQueueAttributesCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { createPagerDutyIngressHandler } from '../functions/pagerduty-ingress/wiring';
import { createSlackIngressHandler } from '../functions/slack-ingress/wiring';
import { EVENT_CONTRACT_VERSION } from '../lib/events';
import { normalizePagerDutyWebhook } from '../lib/pagerduty/normalize';
import { normalizeEventCallback } from '../lib/slack/normalize';
import { createBaselineHandler } from './baseline/handler';
import { startBenchEnvironment, type BenchEnvironment } from './lib/environment';
import { incidentWebhookBody, signedWebhook, webhookIncident } from '../local/events/pagerduty';
import { apiGatewayEvent, benchContext, slackEscalation } from './lib/requests';
import { elapsedMs, round, summarize, type Summary } from './lib/stats';

export interface IngressSeries {
  /** "slack-ingress", "pagerduty-ingress", "floor: SendMessage (slack body)", "baseline: Slack escalation", … */
  name: string;
  latencyMs: number;
  /** Requests measured one after another (1), or this many at a time (the baseline at 100 ms, to keep the run short). */
  concurrency: number;
  summary: Summary;
  errors: number;
}

export interface IngressReport {
  requestsPerIngress: number;
  series: IngressSeries[];
  /** Ours over the floor, p50 and p99, per ingress and stand-in latency. */
  overhead: { ingress: string; latencyMs: number; p50Ratio: number; p99Ratio: number }[];
  /** Calls the stand-ins received while only the ingress functions ran: must be 0. */
  standInCallsDuringIngress: number;
  /** Messages counted in the queues afterwards against sends made: they must match. */
  enqueued: { expected: number; found: number };
  /** Log bytes the ingress functions wrote while measured (kept out of the terminal, not out of the timing). */
  logBytes: number;
}

const CHANNELS = Array.from({ length: 50 }, (_, i) => `CBENCH${String(i).padStart(2, '0')}`);
const fifoId = (value: string) => createHash('sha256').update(value).digest('hex');

/** stdout swallowed (but still produced) while `run` is timed: the functions log one JSON line per request. */
async function withLogsCounted<T>(run: () => Promise<T>): Promise<{ result: T; bytes: number }> {
  const write = process.stdout.write.bind(process.stdout);
  let bytes = 0;
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    callback?.();
    return true;
  }) as typeof process.stdout.write;
  try {
    return { result: await run(), bytes };
  } finally {
    process.stdout.write = write;
  }
}

interface Prepared {
  ours: APIGatewayProxyEventV2;
  /** What the floor sends: the same message body, group and de-duplication id the ingress would send. */
  floor: { body: string; groupId: string; deduplicationId: string };
}

function prepareSlack(environment: BenchEnvironment, count: number): Prepared[] {
  return Array.from({ length: count }, (_, i) => {
    const { envelope, request } = slackEscalation(environment.secrets.SLACK_SIGNING_SECRET, CHANNELS[i % CHANNELS.length]!, `ingress bench ${i}`);
    const event = normalizeEventCallback(envelope as unknown as Record<string, unknown>, new Date())!;
    return { ours: apiGatewayEvent('/slack/events', request), floor: { body: JSON.stringify(event), groupId: event.channel, deduplicationId: fifoId(`floor:${event.id}`) } };
  });
}

function preparePagerDuty(environment: BenchEnvironment, count: number): Prepared[] {
  return Array.from({ length: count }, (_, i) => {
    const incident = webhookIncident({ id: `QBENCH${i}`, number: i + 1, status: i % 2 ? 'acknowledged' : 'triggered', title: `ingress bench ${i}`, assignees: ['Bench On-Call'] });
    const body = incidentWebhookBody(incident, i % 2 ? 'incident.acknowledged' : 'incident.triggered', { by: 'Bench On-Call' });
    const request = signedWebhook(environment.secrets.PAGER_DUTY_SIGNING_KEY, body);
    const event = normalizePagerDutyWebhook(body as unknown as Record<string, unknown>, request.headers['x-webhook-id'], new Date());
    if (typeof event === 'string') throw new Error(`ingress bench: webhook ignored (${event})`);
    return { ours: apiGatewayEvent('/pagerduty/webhooks', request), floor: { body: JSON.stringify(event), groupId: event.incident.id, deduplicationId: fifoId(`floor:${event.id}`) } };
  });
}

async function queueDepth(environment: BenchEnvironment): Promise<number> {
  let total = 0;
  for (const queue of Object.values(environment.sqs.queues)) {
    const attributes = (await environment.sqs.client.send(new GetQueueAttributesCommand({ QueueUrl: queue.url, AttributeNames: ['ApproximateNumberOfMessages'] }))).Attributes;
    total += Number(attributes?.ApproximateNumberOfMessages ?? 0);
  }
  return total;
}

async function concurrently<T>(items: readonly T[], concurrency: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) await run(items[next++]!);
  }));
}

/**
 * Ingress answer time: the real handlers in-process (as Lambda calls them, API Gateway event in,
 * result out), the real SQS client sending to fauxqs, one request after another, each followed
 * by the floor: a bare SDK SendMessage of the same body to the same queue. Then the baseline
 * against the same stand-ins.
 */
export async function measureIngress(options: { requests: number; warmup: number; latencies: number[]; baselineRequests: Record<number, { count: number; concurrency: number }> }): Promise<IngressReport> {
  const series: IngressSeries[] = [];
  const overhead: IngressReport['overhead'] = [];
  let standInCalls = 0;
  let expected = 0;
  let found = 0;
  let logBytes = 0;
  for (const latencyMs of options.latencies) {
    const environment = await startBenchEnvironment({ latencyMs });
    try {
      const env = environment.env;
      const handlers = { 'slack-ingress': createSlackIngressHandler(env), 'pagerduty-ingress': createPagerDutyIngressHandler(env) };
      const queues = { 'slack-ingress': environment.sqs.queues.slack.url, 'pagerduty-ingress': environment.sqs.queues.pagerduty.url };
      // The floor's client is configured like the functions' (explicit endpoint, queue URL not used as endpoint), nothing more.
      const floorClient = new SQSClient({ endpoint: env.AWS_ENDPOINT_URL_SQS!, useQueueUrlAsEndpoint: false });
      const context = benchContext('ingress');
      for (const name of ['slack-ingress', 'pagerduty-ingress'] as const) {
        const prepared = (name === 'slack-ingress' ? prepareSlack : preparePagerDuty)(environment, options.warmup + options.requests);
        const ours: number[] = [];
        const floor: number[] = [];
        let errors = 0;
        const { bytes } = await withLogsCounted(async () => {
          for (let i = 0; i < prepared.length; i++) {
            const item = prepared[i]!;
            let start = process.hrtime.bigint();
            const result = await handlers[name](item.ours, context);
            const oursMs = elapsedMs(start);
            if (result.statusCode >= 300) errors++;
            start = process.hrtime.bigint();
            await floorClient.send(
              new SendMessageCommand({
                QueueUrl: queues[name],
                MessageBody: item.floor.body,
                MessageGroupId: item.floor.groupId,
                MessageDeduplicationId: item.floor.deduplicationId,
                MessageAttributes: { contractVersion: { DataType: 'Number', StringValue: String(EVENT_CONTRACT_VERSION) } },
              }),
            );
            const floorMs = elapsedMs(start);
            if (i >= options.warmup) {
              ours.push(oursMs);
              floor.push(floorMs);
            }
          }
        });
        logBytes += bytes;
        expected += 2 * prepared.length - errors;
        const oursSummary = summarize(ours);
        const floorSummary = summarize(floor);
        series.push({ name, latencyMs, concurrency: 1, summary: oursSummary, errors });
        series.push({ name: `floor: bare SendMessage (${name} body)`, latencyMs, concurrency: 1, summary: floorSummary, errors: 0 });
        overhead.push({ ingress: name, latencyMs, p50Ratio: round(oursSummary.p50 / floorSummary.p50), p99Ratio: round(oursSummary.p99 / floorSummary.p99) });
      }
      floorClient.destroy();
      standInCalls += environment.slack.calls.length + environment.pagerDuty.eventsCalls.length + environment.pagerDuty.restCalls.length;
      found += await queueDepth(environment);

      // The comparison point: the old single-function design, against the same stand-ins.
      const plan = options.baselineRequests[latencyMs];
      if (plan) {
        const baseline = createBaselineHandler(env);
        const escalations = Array.from({ length: plan.count }, (_, i) =>
          apiGatewayEvent('/slack/events', slackEscalation(environment.secrets.SLACK_SIGNING_SECRET, CHANNELS[i % CHANNELS.length]!, `baseline bench ${i}`).request),
        );
        const timings = { escalation: [] as number[], webhook: [] as number[] };
        const errors = { escalation: 0, webhook: 0 };
        await concurrently(escalations, plan.concurrency, async (event) => {
          const start = process.hrtime.bigint();
          const result = await baseline(event);
          timings.escalation.push(elapsedMs(start));
          if ((result.statusCode ?? 500) >= 300) errors.escalation++;
        });
        const incidents = [...environment.pagerDuty.incidents.values()].filter((i) => i.incidentKey.startsWith('baseline|'));
        const webhooks = incidents.map((incident) =>
          apiGatewayEvent('/pagerduty/webhooks', signedWebhook(environment.secrets.PAGER_DUTY_SIGNING_KEY, environment.pagerDuty.webhookBody(incident, 'incident.acknowledged', 'Bench On-Call'))),
        );
        await concurrently(webhooks, plan.concurrency, async (event) => {
          const start = process.hrtime.bigint();
          const result = await baseline(event);
          timings.webhook.push(elapsedMs(start));
          if ((result.statusCode ?? 500) >= 300) errors.webhook++;
        });
        series.push({ name: 'baseline: Slack escalation', latencyMs, concurrency: plan.concurrency, summary: summarize(timings.escalation), errors: errors.escalation });
        series.push({ name: 'baseline: PagerDuty webhook', latencyMs, concurrency: plan.concurrency, summary: summarize(timings.webhook), errors: errors.webhook });
      }
    } finally {
      await environment.stop();
    }
  }
  return { requestsPerIngress: options.requests, series, overhead, standInCallsDuringIngress: standInCalls, enqueued: { expected, found }, logBytes };
}
