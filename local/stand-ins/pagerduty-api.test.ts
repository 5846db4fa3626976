import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PAGERDUTY_HANDLED_EVENT_TYPES } from '../../lib/events';
import { makePagerDutyApi } from '../../lib/pagerduty/api';
import { normalizePagerDutyWebhook } from '../../lib/pagerduty/normalize';
import { createWebhookSubscription } from '../../scripts/create-webhook-subscription';
import { pagerDutyProbe } from '../../scripts/doctor';
import { listen, type RunningServer } from './http-util';
import { SANDBOX_ONCALL_EMAIL, PagerDutyStandIn } from './pagerduty';
import { PAGERDUTY_WEBHOOK_EVENT_TYPES } from './pagerduty-api';

/**
 * The PagerDuty stand-in answers as PagerDuty's published API does (its OpenAPI descriptions in
 * ./specs, and the limits PagerDuty documents beside them): what the real API refuses gets
 * PagerDuty's 400 here too, and a subscription gets only the event types it asks for.
 */

const ROUTING_KEY = 'R0UTINGKEY';
const REST_TOKEN = 'stand-in-rest-token';
const ACCEPT = 'application/vnd.pagerduty+json;version=2';

describe('the PagerDuty stand-in refuses what PagerDuty’s published API refuses', () => {
  let pagerDuty: PagerDutyStandIn;
  beforeAll(async () => {
    pagerDuty = await new PagerDutyStandIn({ routingKey: ROUTING_KEY, restToken: REST_TOKEN }).start();
  });
  afterAll(() => pagerDuty.stop());

  const rest = async (method: string, path: string, options: { headers?: Record<string, string>; body?: unknown } = {}) => {
    const response = await fetch(`${pagerDuty.url}${path}`, {
      method,
      headers: { authorization: `Token token=${REST_TOKEN}`, accept: ACCEPT, ...(options.body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };
  const enqueue = async (event: Record<string, unknown>) => {
    const response = await fetch(`${pagerDuty.url}/v2/enqueue`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };
  const trigger = (overrides: { dedup_key?: string; payload?: Record<string, unknown> } = {}) =>
    enqueue({ routing_key: ROUTING_KEY, event_action: 'trigger', dedup_key: overrides.dedup_key ?? `key-${Math.random()}`, payload: { summary: 'API is down', source: '#customer-acme', severity: 'critical', ...overrides.payload } });
  const invalidRest = (fragment: string) => ({ error: { message: 'Invalid Input Provided', code: 2001, errors: expect.arrayContaining([expect.stringContaining(fragment)]) } });
  const invalidEvent = (fragment: string) => ({ status: 'invalid event', message: 'Event object is invalid', errors: expect.arrayContaining([expect.stringContaining(fragment)]) });

  it('refuses a query parameter the operation does not have', async () => {
    expect(await rest('GET', '/incidents?incident_key=abc')).toMatchObject({ status: 200 });
    expect(await rest('GET', '/incidents?incident_key=abc&colour=red')).toEqual({ status: 400, body: invalidRest("unknown query parameter 'colour'") });
    // …and one of the wrong type: `limit` is an integer.
    expect(await rest('GET', '/incidents?limit=ten')).toEqual({ status: 400, body: invalidRest("'query.limit' must be integer") });
  });

  it('lists incidents a page at a time by status, the last month unless date_range=all, and no further than 10,000 records', async () => {
    const opened = [pagerDuty.openInternal('one'), pagerDuty.openInternal('two'), pagerDuty.openInternal('three')];
    pagerDuty.resolve(opened[1]!.id);
    opened[2]!.createdAt = new Date(Date.now() - 45 * 86_400_000).toISOString();
    const ids = (body: Record<string, any>) => (body.incidents as { id: string }[]).map((i) => i.id);
    const open = await rest('GET', '/incidents?statuses[]=triggered&statuses[]=acknowledged&limit=100');
    expect(ids(open.body)).toContain(opened[0]!.id);
    expect(ids(open.body)).not.toContain(opened[1]!.id);
    expect(ids(open.body)).not.toContain(opened[2]!.id);
    expect(ids((await rest('GET', '/incidents?statuses[]=triggered&date_range=all&limit=100')).body)).toContain(opened[2]!.id);
    const first = await rest('GET', '/incidents?date_range=all&limit=1');
    expect(first.body).toMatchObject({ limit: 1, offset: 0, more: true });
    expect(ids((await rest('GET', '/incidents?date_range=all&limit=1&offset=1')).body)).not.toEqual(ids(first.body));
    expect(await rest('GET', '/incidents?limit=100&offset=9901')).toEqual({ status: 400, body: invalidRest('10000') });
    expect(await rest('GET', '/incidents?statuses[]=closed')).toMatchObject({ status: 400 });
  });

  it('sorts a listing as sort_by asks (resolved_at: most recently resolved first with :desc), and refuses a field it does not sort by', async () => {
    const [a, b, c] = [pagerDuty.openInternal('sort a'), pagerDuty.openInternal('sort b'), pagerDuty.openInternal('sort c')];
    for (const incident of [b, c, a]) {
      pagerDuty.resolve(incident!.id);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const listed = await rest('GET', '/incidents?statuses[]=resolved&date_range=all&sort_by=resolved_at:desc&limit=100');
    const mine = (listed.body.incidents as { id: string; resolved_at: string | null }[]).filter((i) => [a, b, c].some((x) => x!.id === i.id));
    expect(mine.map((i) => i.id)).toEqual([a!.id, c!.id, b!.id]);
    expect(mine.every((i) => typeof i.resolved_at === 'string')).toBe(true);
    const ascending = await rest('GET', '/incidents?statuses[]=resolved&date_range=all&sort_by=resolved_at&limit=100');
    expect((ascending.body.incidents as { id: string }[]).filter((i) => [a, b, c].some((x) => x!.id === i.id)).map((i) => i.id)).toEqual([b!.id, c!.id, a!.id]);
    expect(await rest('GET', '/incidents?sort_by=title:desc')).toEqual({ status: 400, body: invalidRest('sort_by') });
  });

  it('refuses a note without the From header (the user PagerDuty records as its author)', async () => {
    await trigger({ dedup_key: 'note-key' });
    const incident = pagerDuty.byKey('note-key')!;
    const note = { note: { content: 'The customer says it is back' } };
    expect(await rest('POST', `/incidents/${incident.id}/notes`, { body: note })).toEqual({ status: 400, body: invalidRest('the From header is required') });
    expect(await rest('POST', `/incidents/${incident.id}/notes`, { body: note, headers: { from: SANDBOX_ONCALL_EMAIL } })).toMatchObject({ status: 201 });
    // The note's body has a shape too.
    expect(await rest('POST', `/incidents/${incident.id}/notes`, { body: { content: 'no note object' }, headers: { from: SANDBOX_ONCALL_EMAIL } })).toEqual({ status: 400, body: invalidRest("'body.note' is required") });
  });

  it('refuses a summary over 1,024 characters, as PagerDuty documents', async () => {
    expect(await trigger({ payload: { summary: 'x'.repeat(1024) } })).toMatchObject({ status: 202 });
    expect(await trigger({ payload: { summary: 'x'.repeat(1025) } })).toEqual({ status: 400, body: invalidEvent("'body.payload.summary' is too long (maximum is 1024 characters)") });
  });

  it('refuses a dedup_key over 255 characters, as PagerDuty documents', async () => {
    expect(await trigger({ dedup_key: 'k'.repeat(255) })).toMatchObject({ status: 202 });
    expect(await trigger({ dedup_key: 'k'.repeat(256) })).toEqual({ status: 400, body: invalidEvent("'body.dedup_key' is too long (maximum is 255 characters)") });
  });

  it('refuses an event whose body does not match the Events API description', async () => {
    expect(await trigger({ payload: { severity: 'fatal' } })).toEqual({ status: 400, body: invalidEvent("'body.payload.severity' must be one of critical, warning, error, info") });
    expect(await trigger({ payload: { custom_details: 'a bare string' } })).toEqual({ status: 400, body: invalidEvent("'body.payload.custom_details' must be object") });
    expect(await enqueue({ routing_key: ROUTING_KEY, event_action: 'trigger' })).toEqual({ status: 400, body: invalidEvent("'body.payload' is required") });
    expect(await enqueue({ routing_key: ROUTING_KEY, event_action: 'resolve' })).toEqual({ status: 400, body: invalidEvent("'body.dedup_key' is required") });
  });

  it('refuses a path or a method PagerDuty’s REST API does not have', async () => {
    await trigger({ dedup_key: 'path-key' });
    const incident = pagerDuty.byKey('path-key')!;
    expect(await rest('GET', `/incident/${incident.id}`)).toEqual({ status: 400, body: invalidRest(`GET /incident/${incident.id} is not a path of PagerDuty's REST API`) });
    expect(await rest('DELETE', `/incidents/${incident.id}`)).toEqual({ status: 400, body: invalidRest(`DELETE is not a method of /incidents/${incident.id}`) });
    expect(await rest('GET', `/incidents/${incident.id}`)).toMatchObject({ status: 200, body: { incident: { id: incident.id } } });
  });

  it('refuses a webhook subscription PagerDuty would refuse: an unknown event type, a filter of the wrong kind', async () => {
    const subscription = (events: string[], filter: Record<string, string>) => ({ webhook_subscription: { type: 'webhook_subscription', delivery_method: { type: 'http_delivery_method', url: 'https://example.test/pagerduty/webhooks' }, events, filter } });
    expect(await rest('POST', '/webhook_subscriptions', { body: subscription(['incident.acknowleged'], { type: 'service_reference', id: 'PSVC' }) })).toMatchObject({ status: 400 });
    expect(await rest('POST', '/webhook_subscriptions', { body: subscription(['incident.acknowledged'], { type: 'service', id: 'PSVC' }) })).toEqual({ status: 400, body: invalidRest("'body.webhook_subscription.filter.type' must be one of") });
    expect(await rest('GET', '/webhook_subscriptions?filter_type=service_reference&filter_id=PSVC')).toEqual({ status: 400, body: invalidRest("'query.filter_type' must be one of account, service, team") });
  });

  it('lets every request pd-router and its commands make through: the worker’s calls, pd:subscribe and the doctor', async () => {
    const [restBefore, eventsBefore] = [pagerDuty.restCalls.length, pagerDuty.eventsCalls.length];
    const api = makePagerDutyApi({ eventsUrl: `${pagerDuty.url}/`, apiUrl: `${pagerDuty.url}/`, routingKey: ROUTING_KEY, restToken: REST_TOKEN, timeoutMs: 5000 });
    await api.trigger({ dedupKey: 'pdr-own-calls', summary: 'x'.repeat(1024), source: '#customer-acme', severity: 'critical', customDetails: { channel_id: 'CACME' }, links: [{ href: 'https://acme.slack.test/archives/CACME/p1', text: 'Slack message' }] });
    const [incident] = await api.findIncidentsByKey('pdr-own-calls');
    expect(await api.getIncident(incident!.id)).toMatchObject({ id: incident!.id, status: 'triggered' });
    expect(await api.alertKeys(incident!.id)).toEqual(['pdr-own-calls']);
    expect(await api.addNote(incident!.id, 'From #customer-acme: it is back', SANDBOX_ONCALL_EMAIL)).toMatch(/^PNOTE/);
    expect(await api.findNote(incident!.id, 'it is back')).toMatch(/^PNOTE/);
    await createWebhookSubscription({ url: 'https://abc.example.test/pagerduty/webhooks', filter: { type: 'service_reference', id: 'PSVC001' }, apiUrl: pagerDuty.url, token: REST_TOKEN });
    const probe = pagerDutyProbe(REST_TOKEN, pagerDuty.url, 5000);
    await probe.probe();
    expect((await probe.subscriptions()).length).toBeGreaterThan(0);
    const calls = [...pagerDuty.restCalls.slice(restBefore), ...pagerDuty.eventsCalls.slice(eventsBefore)];
    expect(calls.length).toBeGreaterThanOrEqual(10);
    expect(calls.filter((c) => c.status === 400)).toEqual([]);
  });
});

describe('the PagerDuty stand-in sends only the event types the subscription asks for', () => {
  let receiver: RunningServer;
  const received: string[] = [];
  beforeAll(async () => {
    receiver = await listen(async (request, response) => {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      received.push((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { event: { event_type: string } }).event.event_type);
      response.writeHead(202).end();
    });
  });
  afterAll(() => receiver.close());

  async function standIn(events?: readonly string[]) {
    received.length = 0;
    const pagerDuty = await new PagerDutyStandIn({ routingKey: ROUTING_KEY, restToken: REST_TOKEN }).start();
    const url = `${receiver.url}/pagerduty/webhooks`;
    pagerDuty.webhook = { url, signingKey: 'stand-in-signing-key' };
    if (events) pagerDuty.subscribe(url, events);
    const api = makePagerDutyApi({ eventsUrl: `${pagerDuty.url}/`, apiUrl: `${pagerDuty.url}/`, routingKey: ROUTING_KEY, restToken: REST_TOKEN, timeoutMs: 5000 });
    await api.trigger({ dedupKey: 'sub-key', summary: 'API is down', source: '#customer-acme', severity: 'critical', customDetails: {} });
    const incident = pagerDuty.byKey('sub-key')!;
    // A customer's reply becomes a note: PagerDuty's incident.annotated.
    await api.addNote(incident.id, 'it is back', SANDBOX_ONCALL_EMAIL);
    pagerDuty.acknowledge(incident.id);
    await pagerDuty.deliveriesSettled();
    await pagerDuty.stop();
    return pagerDuty;
  }

  it('serves a stack nobody subscribed by hand as npm run pd:subscribe would have subscribed it: no incident.annotated', async () => {
    const pagerDuty = await standIn();
    expect(received).toEqual(['incident.triggered', 'incident.acknowledged']);
    expect(pagerDuty.unsubscribed).toEqual([{ eventType: 'incident.annotated', incidentId: pagerDuty.byKey('sub-key')!.id }]);
  });

  it('follows the subscription’s own list: a type it leaves out is not sent, one it adds is', async () => {
    await standIn(['incident.triggered', 'incident.annotated']);
    expect(received).toEqual(['incident.triggered', 'incident.annotated']);
  });
});

describe('the subscription npm run pd:subscribe creates covers what pd-router handles', () => {
  /** Every webhook event type pd-router could meet: PagerDuty's documented ones, and any the code names. */
  function candidateTypes(): string[] {
    const root = path.join(__dirname, '..', '..');
    const named = ['lib', 'functions']
      .flatMap((folder) => readdirSync(path.join(root, folder), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).map((f) => path.join(root, folder, f)))
      .flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/'((?:incident|service|pagey)\.[a-z_.]+)'/g)].map((m) => m[1]!));
    return [...new Set([...PAGERDUTY_WEBHOOK_EVENT_TYPES, ...PAGERDUTY_HANDLED_EVENT_TYPES, ...named])].sort();
  }

  /** A webhook of this type that any of PagerDuty's data shapes would satisfy (incident, note, status update). */
  const webhookOf = (eventType: string) => ({
    event: {
      id: `E-${eventType}`,
      event_type: eventType,
      resource_type: eventType.split('.')[0],
      occurred_at: '2026-12-01T10:00:00Z',
      agent: null,
      client: null,
      data: { id: 'Q1', type: 'incident', status: 'triggered', incident: { id: 'Q1', type: 'incident_reference' }, message: 'a status update', content: 'a note' },
    },
  });

  it('asks for every event type the normalizer turns into an event, and for nothing it ignores', async () => {
    const pagerDuty = await new PagerDutyStandIn({ routingKey: ROUTING_KEY, restToken: REST_TOKEN }).start();
    try {
      await createWebhookSubscription({ url: 'https://abc.example.test/pagerduty/webhooks', filter: { type: 'team_reference', id: 'PTEAM01' }, apiUrl: pagerDuty.url, token: REST_TOKEN });
      const asked = (pagerDuty.subscriptions[0] as { events: string[] }).events;
      const handled = candidateTypes().filter((type) => typeof normalizePagerDutyWebhook(webhookOf(type), 'wh', new Date()) === 'object');
      expect(handled.length).toBeGreaterThan(5);
      expect(handled.filter((type) => !asked.includes(type))).toEqual([]);
      expect(asked.filter((type) => !handled.includes(type))).toEqual([]);
    } finally {
      await pagerDuty.stop();
    }
  });
});
