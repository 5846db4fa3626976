import { createLogger } from '../../lib/runtime/log';
import { makeEventQueue } from '../../lib/queue/queue';
import { signSlackRequest } from '../../lib/slack/signature';
import { startLocalSqs, type LocalSqs } from '../../local/aws';
import { drainQueue } from '../../test/support/queue';
import { checkStatusPayload, eventCallback, mentionEnvelope } from '../../local/events/slack';
import { makeSlackIngress } from './slack-ingress';

const SECRET = 'ingress-test-signing-secret';
const NOW = new Date('2026-11-26T12:00:00.000Z');
const nowSeconds = Math.floor(NOW.getTime() / 1000);

describe('slack-ingress', () => {
  let sqs: LocalSqs;
  let handle: ReturnType<typeof makeSlackIngress>;
  let failSends = false;

  beforeAll(async () => {
    sqs = await startLocalSqs({ stage: 'ingress-test' });
    const queue = makeEventQueue(sqs.client, sqs.queues.slack.url);
    handle = makeSlackIngress({
      queue: { send: (event, routing) => (failSends ? Promise.reject(new Error('SQS is down')) : queue.send(event, routing)) },
      slashCommand: '/piiano-pd-trigger',
      pingPhrase: 'piiano-ping-bot',
      logger: createLogger({ level: 'silent' }),
      now: () => NOW,
    });
  });
  afterAll(() => sqs.stop());
  afterEach(async () => {
    failSends = false;
    await drainQueue(sqs.client, sqs.queues.slack.url);
  });

  const request = (body: string, contentType: string, headers: Record<string, string> = {}, signedAt = nowSeconds) => ({
    rawBody: Buffer.from(body, 'utf8'),
    headers: { 'content-type': contentType, ...signSlackRequest(SECRET, body, signedAt), ...headers },
  });
  const json = (value: unknown, headers?: Record<string, string>) => request(JSON.stringify(value), 'application/json', headers);
  const form = (fields: Record<string, string>) => request(new URLSearchParams(fields).toString(), 'application/x-www-form-urlencoded');
  const queued = () => drainQueue(sqs.client, sqs.queues.slack.url);

  it('enqueues a signed app_mention, grouped by channel, and answers 200', async () => {
    const envelope = mentionEnvelope({ channel: 'CACME', text: 'escalate API is returning 500 errors' });
    const response = await handle(json(envelope), SECRET);
    expect(response.statusCode).toBe(200);
    const messages = await queued();
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ groupId: 'CACME', body: { kind: 'slack.message', via: 'mention', channel: 'CACME', id: envelope.event_id } });
  });

  it('answers url_verification with the challenge and enqueues nothing', async () => {
    const response = await handle(json({ type: 'url_verification', challenge: 'c-123' }), SECRET);
    expect(response).toMatchObject({ statusCode: 200 });
    expect(JSON.parse(response.body!)).toEqual({ challenge: 'c-123' });
    expect(await queued()).toHaveLength(0);
  });

  it('answers ssl_check with 200', async () => {
    expect((await handle(form({ ssl_check: '1', token: 'x' }), SECRET)).statusCode).toBe(200);
    expect(await queued()).toHaveLength(0);
  });

  it('rejects a bad signature with 401 and enqueues nothing', async () => {
    const envelope = mentionEnvelope({ channel: 'CACME', text: 'escalate x' });
    const response = await handle(json(envelope), 'a-different-secret');
    expect(response.statusCode).toBe(401);
    expect(JSON.parse(response.body!)).toEqual({ error: 'X-Slack-Signature does not match' });
    expect(await queued()).toHaveLength(0);
  });

  it('rejects stale and future timestamps and missing headers with 401', async () => {
    const body = JSON.stringify(mentionEnvelope({ channel: 'C', text: 'escalate x' }));
    expect((await handle(request(body, 'application/json', {}, nowSeconds - 600), SECRET)).statusCode).toBe(401);
    expect((await handle(request(body, 'application/json', {}, nowSeconds + 600), SECRET)).statusCode).toBe(401);
    expect((await handle({ rawBody: Buffer.from(body), headers: { 'content-type': 'application/json' } }, SECRET)).statusCode).toBe(401);
    expect(await queued()).toHaveLength(0);
  });

  it('rejects a signed body that is not JSON with 400 and a reason', async () => {
    const response = await handle(request('{"type":', 'application/json'), SECRET);
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body!).error).toBe('body is not valid JSON');
  });

  it('rejects a body over the limit with 413 before checking anything else', async () => {
    const response = await handle({ rawBody: Buffer.alloc(200 * 1024, 'a'), headers: {} }, SECRET);
    expect(response.statusCode).toBe(413);
  });

  it('answers a signed event type we do not handle with 200 and enqueues nothing', async () => {
    const response = await handle(json(eventCallback({ type: 'reaction_added', channel: 'C' }, { team: 'T', eventId: 'Ev9' })), SECRET);
    expect(response.statusCode).toBe(200);
    expect(await queued()).toHaveLength(0);
  });

  it('gives the slash command an immediate ephemeral "Escalating…" and enqueues it', async () => {
    const response = await handle(
      form({ team_id: 'T', channel_id: 'CGLOBEX', channel_name: 'customer-globex', user_id: 'U1', command: '/piiano-pd-trigger', text: 'escalate db down', trigger_id: 'tr-1', response_url: 'https://hooks.slack.test/c' }),
      SECRET,
    );
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body!)).toEqual({ response_type: 'ephemeral', text: 'Escalating…' });
    expect(await queued()).toEqual([expect.objectContaining({ groupId: 'CGLOBEX', body: expect.objectContaining({ via: 'command', id: 'tr-1' }) })]);
  });

  it('enqueues a Check Status click', async () => {
    const payload = checkStatusPayload({ channel: 'CINITECH', value: 'pdr-0123456789abcdef0123456789abcdef' });
    const response = await handle(form({ payload: JSON.stringify(payload) }), SECRET);
    expect(response.statusCode).toBe(200);
    expect(await queued()).toEqual([expect.objectContaining({ groupId: 'CINITECH', body: expect.objectContaining({ kind: 'slack.action', value: payload.actions[0]!.value }) })]);
  });

  it('enqueues Slack retries again instead of dropping them (downstream de-duplicates)', async () => {
    const envelope = mentionEnvelope({ channel: 'CACME', text: 'escalate x' });
    failSends = true;
    expect((await handle(json(envelope), SECRET)).statusCode).toBe(503);
    failSends = false;
    const retry = await handle(json(envelope, { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_error' }), SECRET);
    expect(retry.statusCode).toBe(200);
    expect(await queued()).toHaveLength(1);
  });

  it('logs only a short prefix of unsigned header values (8 KB of them, signed body or not)', async () => {
    const lines: string[] = [];
    const logging = makeSlackIngress({ queue: { send: async () => undefined }, slashCommand: '/piiano-pd-trigger', pingPhrase: 'piiano-ping-bot', logger: createLogger({ level: 'debug', sink: (line) => lines.push(line) }), now: () => NOW });
    const huge = { 'x-slack-retry-num': `1${'9'.repeat(8 * 1024)}`, 'x-slack-retry-reason': `http_timeout${'R'.repeat(8 * 1024)}` };
    const envelope = mentionEnvelope({ channel: 'CACME', text: 'escalate x' });
    expect((await logging({ ...json(envelope, huge), headers: { ...json(envelope, huge).headers, 'x-slack-signature': 'v0=00' } }, SECRET)).statusCode).toBe(401);
    expect((await logging(json(envelope, huge), SECRET)).statusCode).toBe(200);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) {
      expect(line).not.toMatch(/9{41}|R{41}/);
      expect(line.length).toBeLessThan(1000);
    }
    expect(lines.join('\n')).toContain('(8204 characters)');
  });

  it('rejects content types Slack never sends with 415', async () => {
    expect((await handle(request('<xml/>', 'application/xml'), SECRET)).statusCode).toBe(415);
  });
});
