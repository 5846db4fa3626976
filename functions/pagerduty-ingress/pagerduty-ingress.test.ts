import { createLogger } from '../../lib/runtime/log';
import { LOGGED_HEADER_MAX_LENGTH } from '../../lib/runtime/http';
import { makeEventQueue } from '../../lib/queue/queue';
import { signPagerDutyWebhook } from '../../lib/pagerduty/signature';
import { startLocalSqs, type LocalSqs } from '../../local/aws';
import { drainQueue } from '../../test/support/queue';
import { incidentWebhookBody, webhookIncident } from '../../local/events/pagerduty';
import { makePagerDutyIngress } from './pagerduty-ingress';

const KEY = 'pagerduty-ingress-test-key';

const INCIDENT = webhookIncident({ id: 'PINC9', number: 9, status: 'acknowledged', incidentKey: 'pdr-0123456789abcdef0123456789abcdef', title: 't' });
const incidentWebhook = (eventType: string, id = 'E1') => incidentWebhookBody(INCIDENT, eventType, { by: null, eventId: id, occurredAt: '2026-11-26T10:00:00Z' });

describe('pagerduty-ingress', () => {
  let sqs: LocalSqs;
  let handle: ReturnType<typeof makePagerDutyIngress>;
  beforeAll(async () => {
    sqs = await startLocalSqs({ stage: 'pd-ingress-test' });
    handle = makePagerDutyIngress({ queue: makeEventQueue(sqs.client, sqs.queues.pagerduty.url), logger: createLogger({ level: 'silent' }) });
  });
  afterAll(() => sqs.stop());
  afterEach(() => drainQueue(sqs.client, sqs.queues.pagerduty.url));

  const signed = (body: unknown, headers: Record<string, string> = {}) => {
    const raw = typeof body === 'string' ? body : JSON.stringify(body);
    return { rawBody: Buffer.from(raw), headers: { 'content-type': 'application/json', ...signPagerDutyWebhook(raw, KEY), ...headers } };
  };
  const queued = () => drainQueue(sqs.client, sqs.queues.pagerduty.url);

  it('enqueues a signed incident event, grouped by incident, and answers 202', async () => {
    const response = await handle(signed(incidentWebhook('incident.acknowledged'), { 'x-webhook-id': 'WH-1' }), KEY);
    expect(response.statusCode).toBe(202);
    expect(await queued()).toEqual([expect.objectContaining({ groupId: 'PINC9', body: expect.objectContaining({ eventType: 'incident.acknowledged', webhookId: 'WH-1' }) })]);
  });

  it('de-duplicates a redelivery with the same X-Webhook-Id', async () => {
    await handle(signed(incidentWebhook('incident.resolved', 'E2'), { 'x-webhook-id': 'WH-2' }), KEY);
    await handle(signed(incidentWebhook('incident.resolved', 'E2'), { 'x-webhook-id': 'WH-2' }), KEY);
    expect(await queued()).toHaveLength(1);
  });

  it('answers pagey.ping with 2xx and enqueues nothing', async () => {
    const response = await handle(signed({ event: { id: 'P1', event_type: 'pagey.ping', resource_type: 'pagey', occurred_at: '2026-11-26T10:00:00Z', data: {} } }), KEY);
    expect(response.statusCode).toBeGreaterThanOrEqual(200);
    expect(response.statusCode).toBeLessThan(300);
    expect(await queued()).toHaveLength(0);
  });

  it('answers genuine events we do not use with 2xx, never 4xx', async () => {
    for (const body of [incidentWebhook('incident.annotated'), incidentWebhook('incident.responder.added'), { event: { id: 'S1', event_type: 'service.updated', resource_type: 'service', data: {} } }]) {
      expect((await handle(signed(body), KEY)).statusCode).toBe(202);
    }
    expect(await queued()).toHaveLength(0);
  });

  it('rejects a bad or missing signature with 401 and enqueues nothing', async () => {
    const raw = JSON.stringify(incidentWebhook('incident.resolved'));
    expect((await handle({ rawBody: Buffer.from(raw), headers: signPagerDutyWebhook(raw, 'wrong-key') }, KEY)).statusCode).toBe(401);
    expect((await handle({ rawBody: Buffer.from(raw), headers: {} }, KEY)).statusCode).toBe(401);
    expect(await queued()).toHaveLength(0);
  });

  it('logs only a short prefix of an unsigned X-Webhook-Id (8 KB of it, signed body or not)', async () => {
    const lines: string[] = [];
    const logging = makePagerDutyIngress({ queue: { send: async () => undefined }, logger: createLogger({ level: 'debug', sink: (line) => lines.push(line) }), now: () => new Date('2026-11-26T10:00:05Z') });
    const webhookId = `WH-${'W'.repeat(8 * 1024)}`;
    const raw = JSON.stringify(incidentWebhook('incident.acknowledged'));
    expect((await logging({ rawBody: Buffer.from(raw), headers: { ...signPagerDutyWebhook(raw, 'wrong-key'), 'x-webhook-id': webhookId } }, KEY)).statusCode).toBe(401);
    expect((await logging(signed(incidentWebhook('incident.acknowledged'), { 'x-webhook-id': webhookId }), KEY)).statusCode).toBe(202);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) {
      expect(line).not.toContain('W'.repeat(LOGGED_HEADER_MAX_LENGTH + 1));
      expect(line.length).toBeLessThan(1000);
    }
  });

  it('rejects signed malformed JSON with 400 and a reason', async () => {
    const response = await handle(signed('{"event":'), KEY);
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body!).error).toBe('body is not valid UTF-8 JSON');
  });
});
