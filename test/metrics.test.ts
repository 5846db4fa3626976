import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { LocalStack } from '../local/stack';
import definitions from '../lib/layout/metrics.json';
import { METRIC_NAMES } from '../lib/runtime/metrics';
import { PAGERDUTY_HANDLED_EVENT_TYPES } from '../lib/events';
import { captureOutput } from '../local/world/capture-output';
import { mention, sendWebhook, startTestStack } from './support/stack';

interface EmfLine {
  _aws: { Timestamp: number; CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
  [key: string]: unknown;
}

/**
 * The CloudWatch EMF lines the workers write for known scenarios: which counts, under which
 * namespace and dimensions, with the channel and incident as properties and never as dimensions.
 */
describe('metrics: the EMF lines the workers write', () => {
  let stack: LocalStack;
  let output: ReturnType<typeof captureOutput>;

  beforeAll(async () => {
    output = captureOutput();
    // `warn` keeps the JSON logs short; metrics are written at every level but `silent`.
    stack = await startTestStack({ logLevel: 'warn' });
    stack.pagerDuty!.webhook = undefined; // the webhooks below are sent by hand
  });
  afterAll(async () => {
    await stack.stop();
    output.restore();
  });

  /** The EMF lines written since `from`, one per count. */
  const emf = (from: number): EmfLine[] => output.records().slice(from).filter((r): r is EmfLine => typeof r._aws === 'object');
  const named = (lines: EmfLine[], name: string) => lines.filter((l) => l._aws.CloudWatchMetrics[0]!.Metrics.some((m) => m.Name === name));

  it('an escalation PagerDuty first rate-limits: received once, one PagerDuty 429, paged once; then an acknowledgement posted', async () => {
    const from = output.records().length;
    stack.pagerDuty!.faults.failNext('events', 1, { kind: 'status', status: 429 });
    await mention(stack, 'CMETRIC1', 'escalate checkout is down');
    await stack.waitForIdle();
    const incident = [...stack.pagerDuty!.incidents.values()].find((i) => (i.payload.custom_details as { channel_id?: string }).channel_id === 'CMETRIC1')!;
    incident.status = 'acknowledged';
    await sendWebhook(stack, incident, 'incident.acknowledged', new Date().toISOString(), 'E-metric-ack');
    await sendWebhook(stack, incident, 'incident.acknowledged', new Date().toISOString(), 'E-metric-ack'); // a redelivery counts nothing
    await stack.waitForIdle();

    const lines = emf(from);
    const counts = Object.fromEntries(
      [...new Set(lines.flatMap((l) => l._aws.CloudWatchMetrics[0]!.Metrics.map((m) => m.Name)))].map((name) => [name, named(lines, name).reduce((n, l) => n + (l[name] as number), 0)]),
    );
    expect(counts).toEqual({
      [METRIC_NAMES.escalationsReceived]: 1,
      [METRIC_NAMES.pagerDutyRateLimited]: 1,
      [METRIC_NAMES.escalationsPaged]: 1,
      [METRIC_NAMES.updatesPosted['incident.acknowledged']]: 1,
    });
    for (const line of lines) {
      const [directive] = line._aws.CloudWatchMetrics;
      expect(directive!.Namespace).toBe('pd-router');
      // No finer than function and stage: a dimension per channel would be a series per customer.
      expect(directive!.Dimensions).toEqual([['service', 'stage', 'function']]);
      expect(line).toMatchObject({ service: 'pd-router', stage: 'local' });
      expect(directive!.Metrics).toEqual([{ Name: expect.any(String), Unit: 'Count' }]);
      expect(line._aws.Timestamp).toBeGreaterThan(Date.now() - 60_000);
    }
    const paged = named(lines, METRIC_NAMES.escalationsPaged)[0]!;
    expect(paged).toMatchObject({ function: 'slack-worker', channel: 'CMETRIC1', dedupKey: expect.any(String) });
    const posted = named(lines, METRIC_NAMES.updatesPosted['incident.acknowledged'])[0]!;
    expect(posted).toMatchObject({ function: 'pagerduty-worker', channel: 'CMETRIC1', incidentId: incident.id, eventType: 'incident.acknowledged' });
    // No secret rides along in a metric line.
    for (const secret of Object.values(stack.secrets)) expect(JSON.stringify(lines)).not.toContain(secret);
  });

  it('a Slack 429, a refused escalation, an escalation that fails for good and a poison message each write their count', async () => {
    const from = output.records().length;
    stack.slack!.faults.failNext('chat.postMessage', 1, { kind: 'status', status: 429, retryAfterSeconds: 1 });
    await mention(stack, 'CMETRIC2', 'escalate search is slow');
    await stack.waitForIdle();
    stack.pagerDuty!.faults.failNext('events', 1, { kind: 'status', status: 400 });
    await mention(stack, 'CMETRIC3', 'escalate bad routing key');
    await stack.waitForIdle();
    stack.pagerDuty!.faults.failNext('events', 50, { kind: 'status', status: 503 });
    await mention(stack, 'CMETRIC4', 'escalate everything is down');
    await stack.waitForIdle();
    stack.pagerDuty!.faults.clear();
    await stack.sqs.client.send(new SendMessageCommand({ QueueUrl: stack.sqs.queues.slack.url, MessageBody: 'not json', MessageGroupId: 'CMETRIC5', MessageDeduplicationId: 'poison-metric' }));
    await stack.waitForIdle();
    await stack.dlq('slack');

    const lines = emf(from);
    expect(named(lines, METRIC_NAMES.slackRateLimited).map((l) => l.function)).toEqual(['slack-worker']);
    expect(named(lines, METRIC_NAMES.escalationsRejected).map((l) => l.channel)).toEqual(['CMETRIC3']);
    expect(named(lines, METRIC_NAMES.escalationsFailed).map((l) => l.channel)).toEqual(['CMETRIC4']);
    expect(named(lines, METRIC_NAMES.messagesExhausted).map((l) => l.channel)).toEqual(['CMETRIC4']);
    expect(named(lines, METRIC_NAMES.messagesParked)).toHaveLength(1);
    expect(named(lines, METRIC_NAMES.escalationsReceived).map((l) => l.channel).sort()).toEqual(['CMETRIC2', 'CMETRIC3', 'CMETRIC4']);
    expect(named(lines, METRIC_NAMES.escalationsPaged).map((l) => l.channel)).toEqual(['CMETRIC2']);
  });

  it('defines one updates-posted metric per handled PagerDuty event type, and every name once', () => {
    expect(Object.keys(definitions.updatesPosted).sort()).toEqual([...PAGERDUTY_HANDLED_EVENT_TYPES].sort());
    const all = [...Object.values(definitions.names), ...Object.values(definitions.updatesPosted)];
    expect(new Set(all).size).toBe(all.length);
    for (const names of Object.values(definitions.emittedBy)) for (const name of names) expect(all).toContain(name);
  });

  it('counts only under defined names: every metric name the code writes is in lib/layout/metrics.json', () => {
    const root = join(__dirname, '..');
    const all = [...Object.values(definitions.names), ...Object.values(definitions.updatesPosted)];
    const used = ['lib', 'functions'].flatMap((dir) =>
      readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
        .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts'))
        .flatMap((file) => {
          const source = readFileSync(join(root, dir, file), 'utf8');
          // Literal names, and names taken from METRIC_NAMES (which must exist in metrics.json's `names`).
          const literal = [...source.matchAll(/\.metric\(\s*['"`]([^'"`]+)['"`]/g)].map((m) => m[1]!);
          const named = [...source.matchAll(/\.metric\(\s*METRIC_NAMES\.(\w+)\s*[,)]/g)].map((m) => (definitions.names as Record<string, string>)[m[1]!] ?? `METRIC_NAMES.${m[1]}`);
          return [...literal, ...named].map((name) => `${name} (${dir}/${file})`);
        }),
    );
    // A name the dashboard and alarms do not know is a count nobody sees: add it to metrics.json.
    expect(used.filter((entry) => !all.includes(entry.split(' ')[0]!))).toEqual([]);
    expect(used.length).toBeGreaterThan(0); // the scan is not blind
  });
});
