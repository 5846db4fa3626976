import { freePort } from './support/ports';
import { DeleteMessageCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { queueNames } from '../lib/layout/layout';
import { startLocalSqs, type LocalSqs } from '../local/aws';
import { readSandboxState } from '../local/sandbox-state';
import type { LocalStack } from '../local/stack';
import { describeBody, runDlq, sqsClientFor, type DlqIo, type DlqTarget } from '../scripts/dlq';
import { drainQueue } from './support/queue';
import { botMessages, confirmationOf, mention, startTestStack } from './support/stack';

/** Run the command as `npm run dlq -- …` would, its output collected. */
async function dlq(argv: string[], io: Partial<DlqIo> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runDlq(argv, {
    env: {},
    sqsClient: sqsClientFor,
    getJson: async (url) => (await fetch(url)).json(),
    readSandboxUrl: () => undefined,
    now: Date.now,
    stdout: (line) => out.push(line),
    stderr: (line) => err.push(line),
    ...io,
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const idsIn = (text: string) => [...text.matchAll(/^ {2}([0-9a-f-]{36}) {2}since/gm)].map((m) => m[1]!);

describe('npm run dlq, against the local stack', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(() => stack.stop());

  it('a poison message: listed with the reason the worker recorded, shown, redriven, and parked again exactly once', async () => {
    const viaRouter = { env: { PD_ROUTER_URL: stack.url } };
    await stack.sqs.client.send(
      new SendMessageCommand({ QueueUrl: stack.sqs.queues.slack.url, MessageBody: 'not json\nat all', MessageGroupId: 'CPOISON', MessageDeduplicationId: 'poison-1' }),
    );
    await stack.waitForIdle();

    const listed = await dlq(['list'], viaRouter);
    expect(listed).toMatchObject({ code: 0, err: '' });
    expect(listed.out).toContain(`slack DLQ (${queueNames('local', 'slack').dlq}): 1 parked`);
    expect(listed.out).toContain(`pagerduty DLQ (${queueNames('local', 'pagerduty').dlq}): empty`);
    expect(listed.out).toContain('group CPOISON');
    expect(listed.out).toContain('why: queue message is not JSON');
    expect(listed.out).toContain('unreadable body: "not json at all"'); // one line per field, whatever the body holds
    const [id] = idsIn(listed.out);
    expect(id).toBeDefined();

    // Listing takes nothing out and holds nothing: a second listing sees the same message.
    expect(idsIn((await dlq(['list'], viaRouter)).out)).toEqual([id]);

    const shown = await dlq(['show', id!.slice(0, 8)], viaRouter);
    expect(shown.code).toBe(0);
    expect(shown.out).toContain(`${id} in the slack DLQ`);
    expect(shown.out).toMatch(/parked since: +\d{4}-\d\d-\d\dT.*\(\d+s ago\)/);
    expect(shown.out).toContain(`redrive with:  npm run dlq -- redrive ${id}`);

    const redriven = await dlq(['redrive', id!], viaRouter);
    expect(redriven).toMatchObject({ code: 0, err: '' });
    await stack.waitForIdle();
    // The worker read it once more and parked it again, once: the DLQ holds one new message.
    const after = idsIn((await dlq(['list'], viaRouter)).out);
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(id);
    expect(await stack.dlq('slack')).toEqual([{ body: 'not json\nat all', reason: 'queue message is not JSON' }]);
  });

  it('an escalation that failed every attempt: listed with its channel and cut text, redriven once PagerDuty is back, paged once', async () => {
    const viaEndpoint = { env: { AWS_ENDPOINT_URL_SQS: stack.sqs.endpoint } };
    stack.pagerDuty!.faults.failNext('events', 50, { kind: 'status', status: 503 });
    await mention(stack, 'CREDRIVE', 'escalate the payment gateway times out for every customer in the EU region');
    await stack.waitForIdle();
    stack.pagerDuty!.faults.clear();
    const incidentsOf = () => [...stack.pagerDuty!.incidents.values()].filter((i) => (i.payload.custom_details as { channel_id?: string }).channel_id === 'CREDRIVE');
    expect(incidentsOf()).toHaveLength(0);

    const listed = await dlq(['list', '--queue', 'slack'], viaEndpoint);
    expect(listed.code).toBe(0);
    expect(listed.out).toContain('channel CREDRIVE');
    expect(listed.out).toMatch(/slack\.message {2}channel CREDRIVE {2}"<@[A-Z0-9]+> escalate the payment ga…"/);
    expect(listed.out).not.toContain('every customer in the EU region');
    expect(listed.out).toContain('why: failed 5 deliveries, so SQS moved it here');
    expect(listed.out).not.toContain('pagerduty DLQ');

    const redriven = await dlq(['redrive', '--all'], viaEndpoint);
    expect(redriven).toMatchObject({ code: 0, err: '' });
    expect(redriven.out).toContain('1 message(s) redriven');
    await stack.waitForIdle();
    expect(incidentsOf()).toHaveLength(1);
    expect(confirmationOf(stack, 'CREDRIVE')).toHaveLength(1);
    // The failure notice of the first attempts and the confirmation (which says the incident
    // opened): nothing twice.
    const effects = botMessages(stack, 'CREDRIVE').map((m) => String(m.metadata?.event_payload.key).split(':')[0]);
    expect(effects.sort()).toEqual(['confirm', 'failed']);

    expect((await dlq(['redrive', '--all'], viaEndpoint)).out).toBe('nothing parked: nothing to redrive');
    await stack.waitForIdle();
    expect(incidentsOf()).toHaveLength(1);
  });
});

describe('npm run dlq redrive --all: FIFO order, and once even when interrupted', () => {
  let sqs: LocalSqs;
  beforeAll(async () => {
    sqs = await startLocalSqs({ stage: 'dlqorder' });
  });
  afterAll(() => sqs.stop());

  it('sends every group back in its order, and a rerun after a failed delete delivers nothing twice', async () => {
    // 12 in one group (more than one receive returns) and 3 in another, interleaved.
    const sent: { group: string; body: string }[] = [];
    for (let n = 0; n < 15; n++) sent.push({ group: n % 5 === 1 ? 'G2' : 'G1', body: JSON.stringify({ seq: n }) });
    for (const [n, m] of sent.entries()) {
      await sqs.client.send(new SendMessageCommand({ QueueUrl: sqs.queues.pagerduty.dlqUrl, MessageBody: m.body, MessageGroupId: m.group, MessageDeduplicationId: `d${n}` }));
    }
    const target = (t: DlqTarget) => sqsClientFor({ ...t, endpoint: sqs.endpoint });
    // The first delete fails, as if the tool were stopped between the send and the delete.
    let deletes = 0;
    const flaky = (t: DlqTarget) => {
      const client = target(t);
      return {
        send: ((command: unknown) => {
          if (command instanceof DeleteMessageCommand && deletes++ === 3) return Promise.reject(Object.assign(new Error('connection reset'), { name: 'NetworkingError' }));
          return client.send(command as never);
        }) as SQSClient['send'],
      };
    };
    const args = ['redrive', '--all', '--stage', 'dlqorder', '--region', 'us-east-1', '--queue', 'pagerduty'];
    const first = await dlq(args, { sqsClient: flaky });
    expect(first.code).toBe(1);
    expect(first.err).toContain('its group stays parked, in order');
    const second = await dlq(args, { sqsClient: target });
    expect(second).toMatchObject({ code: 0, err: '' });

    const arrived = await drainQueue(sqs.client, sqs.queues.pagerduty.url);
    for (const group of ['G1', 'G2']) {
      const expected = sent.flatMap((m, n) => (m.group === group ? [n] : []));
      expect(arrived.filter((m) => m.groupId === group).map((m) => m.body.seq)).toEqual(expected);
    }
    expect(arrived).toHaveLength(sent.length);
    expect(await drainQueue(sqs.client, sqs.queues.pagerduty.dlqUrl)).toEqual([]);
  });
});

describe('npm run dlq: bad input gets one clear line and nothing is touched', () => {
  const untouchable = () => {
    throw new Error('no queue may be reached');
  };

  it.each([
    [[], /say what to do: list, show or redrive/],
    [['purge'], /unknown command purge/],
    [['show'], /show needs the id/],
    [['redrive'], /redrive needs either one id or --all/],
    [['redrive', 'abc123', '--all'], /redrive needs either one id or --all/],
    [['list', '--all'], /--all goes with redrive only/],
    [['list', '--queue', 'email'], /--queue must be slack or pagerduty/],
    [['list', '--region', 'eu-west-1'], /--region goes with --stage/],
    [['list', '--stage', 'prod'], /--stage needs --region/],
    [['list', '--stage', 'prod/../x', '--region', 'eu-west-1'], /--stage must be a stage name/],
    [['list', '--bogus'], /^unknown option --bogus$/],
  ])('%j exits 2 with the usage', async (argv, message) => {
    const result = await dlq(argv, { sqsClient: untouchable });
    expect(result.code).toBe(2);
    expect(result.err.split('\n')[0]).toMatch(message);
    expect(result.err).toContain('usage: npm run dlq');
    expect(result.out).toBe('');
  });

  it.each([
    [{ PORT: 'abc' }, 'environment variable PORT must be the port of a running `npm start` (1 to 65535), not "abc"'],
    [{ PD_ROUTER_URL: '127.0.0.1:3000' }, 'environment variable PD_ROUTER_URL must be an http(s) URL, not "127.0.0.1:3000"'],
  ])('a malformed %j: list exits 2 with one line naming it, and the usage', async (env, message) => {
    const result = await dlq(['list'], { env, sqsClient: untouchable });
    expect(result.code).toBe(2);
    expect(result.err.split('\n')[0]).toBe(message);
    expect(result.err).toContain('usage: npm run dlq');
    expect(result.out).toBe('');
  });

  it('--help prints the usage and does nothing, even after redrive --all', async () => {
    const result = await dlq(['redrive', '--all', '--help'], { sqsClient: untouchable });
    expect(result).toMatchObject({ code: 0, err: '' });
    expect(result.out).toContain('redrive --all');
  });

  it('without a running local stack: one line that says how to start one', async () => {
    const result = await dlq(['list'], { sqsClient: untouchable });
    expect(result).toEqual({ code: 1, out: '', err: 'no local stack found: start one with `npm start` (or set PD_ROUTER_URL or PORT), or give --stage and --region for a deployed stage' });
    const gone = await dlq(['list'], { env: { PD_ROUTER_URL: 'http://127.0.0.1:9' }, sqsClient: untouchable, getJson: () => Promise.reject(new Error('ECONNREFUSED')) });
    expect(gone).toEqual({ code: 1, out: '', err: 'the local stack at http://127.0.0.1:9 does not answer: is `npm start` still running?' });
  });
});

describe('what a parked message is about (npm run dlq -- list and show)', () => {
  it('one channel\'s part of a PagerDuty event names its escalation, incident and event type; a confirmation refresh its channel and escalation; a followers note its incident', () => {
    const part = { v: 1, kind: 'incident.link', id: 'E1:pdr-1', dedupKey: 'pdr-1', event: { kind: 'pagerduty.incident', id: 'E1', eventType: 'incident.resolved', incident: { id: 'Q1ABC' } } };
    expect(describeBody(JSON.stringify(part), 40)).toBe('incident.link  escalation pdr-1  incident Q1ABC  incident.resolved');
    const refresh = { v: 1, kind: 'confirmation.refresh', id: 'E1:pdr-2', dedupKey: 'pdr-2', channel: 'C0123ABCD', requestedAt: '2026-11-30T10:00:00.000Z' };
    expect(describeBody(JSON.stringify(refresh), 40)).toBe('confirmation.refresh  channel C0123ABCD  escalation pdr-2');
    const note = { v: 1, kind: 'incident.followers', id: 'Q1ABC:1764979200000', incidentId: 'Q1ABC', dueAt: '2026-11-30T10:00:11.000Z' };
    expect(describeBody(JSON.stringify(note), 40)).toBe('incident.followers  incident Q1ABC');
  });
});

describe('npm run dlq finds a stack started with PORT=… and real Slack and PagerDuty settings (no hand-off file)', () => {
  let stack: LocalStack;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    // As `PORT=… npm start` with the configuration in the environment: no sandbox, so no hand-off file.
    const configured = { SLACK_SIGNING_SECRET: 's', PAGER_DUTY_SIGNING_KEY: 'p', SLACK_BOT_TOKEN: 'xoxb-t', PAGER_DUTY_EVENTS_API_KEY: 'R0UTINGKEYOFTHESTAGE0001', PAGER_DUTY_REST_API_KEY: 'r' };
    stack = await startTestStack({ port, env: { ...configured, SLACK_API_URL: 'http://127.0.0.1:9/api/', PAGER_DUTY_EVENTS_URL: 'http://127.0.0.1:9', PAGER_DUTY_API_URL: 'http://127.0.0.1:9' } });
  });
  afterAll(() => stack?.stop());

  it('lists its DLQs, with PORT the only pointer to it', async () => {
    expect(stack.sandbox).toBe(false);
    await stack.sqs.client.send(new SendMessageCommand({ QueueUrl: stack.sqs.queues.pagerduty.dlqUrl, MessageBody: '{"kind":"incident.event"}', MessageGroupId: 'QPORT', MessageDeduplicationId: 'port-1' }));
    const env = { PORT: String(port) };
    const listed = await dlq(['list'], { env, readSandboxUrl: () => readSandboxState(env)?.url });
    expect(listed).toMatchObject({ code: 0, err: '' });
    expect(listed.out).toContain(`slack DLQ (${queueNames('local', 'slack').dlq}): empty`);
    expect(listed.out).toContain(`pagerduty DLQ (${queueNames('local', 'pagerduty').dlq}): 1 parked`);
    expect(listed.out).toContain('group QPORT');
  });

  it('a PORT nothing listens on: the stack there is not answering', async () => {
    const env = { PORT: String(await freePort()) };
    const gone = await dlq(['list'], { env, readSandboxUrl: () => readSandboxState(env)?.url, sqsClient: () => ({ send: () => Promise.reject(new Error('no SQS call expected')) }) });
    expect(gone).toMatchObject({ code: 1, out: '' });
    expect(gone.err).toBe(`the local stack at http://127.0.0.1:${env.PORT} does not answer: is \`npm start\` still running?`);
  });
});
