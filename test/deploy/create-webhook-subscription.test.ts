import { PAGERDUTY_HANDLED_EVENT_TYPES } from '../../lib/events';
import { PagerDutyStandIn } from '../../local/stand-ins/pagerduty';
import { createWebhookSubscription, runCreateWebhookSubscription, SubscriptionError } from '../../scripts/create-webhook-subscription';

const REST_TOKEN = 'stand-in-rest-token';
const WEBHOOK_URL = 'https://abc123.execute-api.eu-west-1.amazonaws.com/pagerduty/webhooks';

describe('pd:subscribe against the PagerDuty stand-in', () => {
  let pagerDuty: PagerDutyStandIn;

  beforeEach(async () => {
    pagerDuty = await new PagerDutyStandIn({ routingKey: 'unused', restToken: REST_TOKEN }).start();
  });
  afterEach(() => pagerDuty.stop());

  function cli(args: string[], env: Record<string, string | undefined> = { PAGER_DUTY_REST_API_KEY: REST_TOKEN, PAGER_DUTY_API_URL: pagerDuty.url }) {
    const out = { stdout: [] as string[], stderr: [] as string[] };
    const run = runCreateWebhookSubscription(args, { env, stdout: (l) => out.stdout.push(l), stderr: (l) => out.stderr.push(l) });
    return run.then((code) => ({ code, ...out }));
  }

  it('subscribes one service to exactly the incident events the worker handles, and returns the signing secret', async () => {
    const created = await createWebhookSubscription({ url: WEBHOOK_URL, filter: { type: 'service_reference', id: 'PSVC001' }, apiUrl: pagerDuty.url, token: REST_TOKEN });

    expect(pagerDuty.subscriptions).toHaveLength(1);
    const stored = pagerDuty.subscriptions[0] as { id: string; events: string[]; delivery_method: { secret: string } };
    expect(stored).toMatchObject({
      type: 'webhook_subscription',
      active: true,
      delivery_method: { type: 'http_delivery_method', url: WEBHOOK_URL },
      filter: { type: 'service_reference', id: 'PSVC001' },
    });
    expect(stored.events).toEqual([...PAGERDUTY_HANDLED_EVENT_TYPES]);
    expect(created).toEqual({ id: stored.id, secret: stored.delivery_method.secret, events: PAGERDUTY_HANDLED_EVENT_TYPES, filter: { type: 'service_reference', id: 'PSVC001' } });
  });

  it('prints the secret alone on stdout and everything else on stderr, for a team', async () => {
    const result = await cli(['--url', WEBHOOK_URL, '--team', 'PTEAM01']);

    expect(result.code).toBe(0);
    const stored = pagerDuty.subscriptions[0] as { filter: unknown; delivery_method: { secret: string } };
    expect(stored.filter).toEqual({ type: 'team_reference', id: 'PTEAM01' });
    expect(result.stdout).toEqual([stored.delivery_method.secret]);
    expect(result.stderr.join('\n')).toContain('PAGER_DUTY_SIGNING_KEY');
    expect(result.stderr.join('\n')).not.toContain(stored.delivery_method.secret);
  });

  it('refuses a second subscription to the same URL and filter, whose deliveries would double every event', async () => {
    expect((await cli(['--url', WEBHOOK_URL, '--service', 'PSVC001'])).code).toBe(0);

    const again = await cli(['--url', `${WEBHOOK_URL}/`, '--service', 'PSVC001']);

    expect(again.code).toBe(1);
    expect(again.stderr.join('\n')).toContain('already exists (PSUB1)');
    expect(again.stdout).toEqual([]);
    expect(pagerDuty.subscriptions).toHaveLength(1);
  });

  it('subscribes several services, one subscription and one secret each (PAGER_DUTY_SIGNING_KEY lists them all)', async () => {
    const result = await cli(['--url', WEBHOOK_URL, '--service', 'PSVC001', '--service', 'PSVC002']);

    expect(result.code).toBe(0);
    const stored = pagerDuty.subscriptions as { filter: { id: string }; delivery_method: { secret: string } }[];
    expect(stored.map((s) => s.filter.id)).toEqual(['PSVC001', 'PSVC002']);
    expect(result.stdout).toEqual(stored.map((s) => s.delivery_method.secret));
    expect(result.stderr.join('\n')).toContain('add each to PAGER_DUTY_SIGNING_KEY, comma-separated');
  });

  it('accepts a local stack\'s plain-http URL on this machine, and nothing else without TLS', async () => {
    expect((await cli(['--url', 'http://127.0.0.1:3000/pagerduty/webhooks', '--service', 'PSVC001'])).code).toBe(0);
    expect((await cli(['--url', 'http://example.com/pagerduty/webhooks', '--service', 'PSVC002'])).stderr.join('\n')).toContain('must be https');
  });

  it.each([
    ['http://abc123.execute-api.eu-west-1.amazonaws.com/pagerduty/webhooks', 'must be https'],
    ['https://abc123.execute-api.eu-west-1.amazonaws.com/slack/events', 'must end in /pagerduty/webhooks'],
  ])('refuses %s before asking PagerDuty', async (url, reason) => {
    const attempt = createWebhookSubscription({ url, filter: { type: 'service_reference', id: 'PSVC001' }, apiUrl: pagerDuty.url, token: REST_TOKEN });
    await expect(attempt).rejects.toBeInstanceOf(SubscriptionError);
    await expect(attempt).rejects.toThrow(reason);
    expect(pagerDuty.restCalls).toEqual([]);
  });

  it('reads the REST API key from the environment only, and never repeats it', async () => {
    const missing = await cli(['--url', WEBHOOK_URL, '--service', 'PSVC001'], { PAGER_DUTY_API_URL: pagerDuty.url });
    expect(missing.code).toBe(2);
    expect(missing.stderr.join('\n')).toContain('PAGER_DUTY_REST_API_KEY is not set');

    const refused = await cli(['--url', WEBHOOK_URL, '--service', 'PSVC001'], { PAGER_DUTY_REST_API_KEY: 'wrong-key-value', PAGER_DUTY_API_URL: pagerDuty.url });
    expect(refused.code).toBe(1);
    expect(refused.stderr.join('\n')).toContain('PagerDuty refused the REST API key (HTTP 401)');
    expect(refused.stderr.join('\n')).not.toContain('wrong-key-value');
    expect(pagerDuty.subscriptions).toEqual([]);
  });
});
