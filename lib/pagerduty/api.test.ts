import { PagerDutyStandIn } from '../../local/stand-ins/pagerduty';
import { PagerDutyNotFoundError, PermanentError, TransientError } from '../errors';
import { makePagerDutyApi, retryAfterSeconds } from './api';

describe('the PagerDuty adapter under rate limits', () => {
  let pagerDuty: PagerDutyStandIn;
  beforeAll(async () => {
    pagerDuty = await new PagerDutyStandIn({
      routingKey: 'R'.repeat(32),
      restToken: 'rest-token',
      // One REST call a minute: the second is refused with the window's reset.
      rateLimits: { 'pagerduty.rest.token': { kind: 'window', limit: 1, windowSeconds: 60 } },
    }).start();
  });
  afterAll(() => pagerDuty.stop());

  it('hands a REST 429 back with PagerDuty’s ratelimit-reset, without pdjs retrying it on its own', async () => {
    const api = makePagerDutyApi({ eventsUrl: pagerDuty.url, apiUrl: pagerDuty.url, routingKey: 'R'.repeat(32), restToken: 'rest-token', timeoutMs: 5000 });
    await expect(api.findIncidentsByKey('pdr-none')).resolves.toEqual([]);
    const refused = await api.findIncidentsByKey('pdr-none').then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(TransientError);
    expect((refused as TransientError).retryAfterSeconds).toBe(60);
    // pdjs alone would have tried three more times, a fixed pause apart.
    expect(pagerDuty.restCalls.map((c) => c.status)).toEqual([200, 429]);
  });

  it('reads the wait from Retry-After, else from ratelimit-reset, and ignores what is not a positive number of seconds', () => {
    const headers = (values: Record<string, string>) => new Headers(values);
    expect(retryAfterSeconds(headers({ 'retry-after': '3' }))).toBe(3);
    expect(retryAfterSeconds(headers({ 'ratelimit-reset': '42' }))).toBe(42);
    expect(retryAfterSeconds(headers({ 'retry-after': '2', 'ratelimit-reset': '42' }))).toBe(2);
    expect(retryAfterSeconds(headers({ 'retry-after': 'soon' }))).toBeUndefined();
    expect(retryAfterSeconds(headers({ 'retry-after': '0' }))).toBeUndefined();
    expect(retryAfterSeconds(headers({}))).toBeUndefined();
  });
});

describe('the PagerDuty adapter when an incident is not there', () => {
  let pagerDuty: PagerDutyStandIn;
  beforeAll(async () => {
    pagerDuty = await new PagerDutyStandIn({ routingKey: 'R'.repeat(32), restToken: 'rest-token' }).start();
  });
  afterAll(() => pagerDuty.stop());
  const api = () => makePagerDutyApi({ eventsUrl: pagerDuty.url, apiUrl: pagerDuty.url, routingKey: 'R'.repeat(32), restToken: 'rest-token', timeoutMs: 5000 });

  it('reads a 404 as no incident and no alerts', async () => {
    await expect(api().getIncident('PMISSING')).resolves.toBeUndefined();
    await expect(api().alertKeys('PMISSING')).resolves.toEqual([]);
    expect(pagerDuty.restCalls.map((c) => c.status)).toEqual([404, 404]);
  });

  it('refuses a note on a missing incident for good, as a PagerDutyNotFoundError that keeps its code for the logs', async () => {
    const refused = await api()
      .addNote('PMISSING', 'a note', 'oncall@example.com')
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(refused).toBeInstanceOf(PagerDutyNotFoundError);
    expect(refused).toBeInstanceOf(PermanentError);
    expect(refused).toMatchObject({ name: 'PagerDutyNotFoundError', code: 'pagerduty_404', retryable: false });
  });
});

describe('reads of one incident at once', () => {
  let pagerDuty: PagerDutyStandIn;
  beforeAll(async () => {
    pagerDuty = await new PagerDutyStandIn({ routingKey: 'R'.repeat(32), restToken: 'rest-token' }).start();
  });
  afterAll(() => pagerDuty.stop());

  it('share one REST call while it is on its way (a batch of merges into one incident); a read after it has come calls again', async () => {
    const api = makePagerDutyApi({ eventsUrl: pagerDuty.url, apiUrl: pagerDuty.url, routingKey: 'R'.repeat(32), restToken: 'rest-token', timeoutMs: 5000 });
    await api.trigger({ dedupKey: 'pdr-shared-read', summary: 'checkout is down', source: 'test', severity: 'critical', customDetails: {} });
    const { id } = pagerDuty.byKey('pdr-shared-read')!;
    const path = `/incidents/${id}`;

    const together = await Promise.all(Array.from({ length: 10 }, () => api.getIncident(id)));
    expect(new Set(together.map((incident) => incident?.id))).toEqual(new Set([id]));
    expect(pagerDuty.restCalls.filter((call) => call.path === path)).toHaveLength(1);

    pagerDuty.acknowledge(id, 'Dana Scully');
    expect((await api.getIncident(id))?.status).toBe('acknowledged');
    expect(pagerDuty.restCalls.filter((call) => call.path === path)).toHaveLength(2);
  });
});
