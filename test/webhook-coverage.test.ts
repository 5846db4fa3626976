import { SUBSCRIBED_EVENT_TYPES } from '../lib/pagerduty/subscription';
import type { LocalStack } from '../local/stack';
import { DEFAULT_SERVICE_ID, type StandInIncident } from '../local/stand-ins/pagerduty';
import { runCreateWebhookSubscription } from '../scripts/create-webhook-subscription';
import { httpCustomerAdmin, keyCoverageLine, runCustomers } from '../scripts/customers';
import { runDoctor, stageView } from '../scripts/doctor';
import { botMessages, mention, startTestStack } from './support/stack';

/**
 * A customer paging with its own routing key pages its own PagerDuty service. Its incidents reach
 * pd-router only if a webhook subscription takes that service in: `npm run customers -- add` says
 * whether one does, `npm run doctor` fails naming the customer while none does, and
 * `npm run pd:subscribe` creates it, whose secret the ingress then accepts beside the others.
 */
describe('every customer service gets its webhooks', () => {
  const KEY = 'R0WNSERVICEKEYOFGLOBEX01';
  const CHANNEL = 'CGLOBEXOWN';
  let stack: LocalStack;
  let env: Record<string, string | undefined>;

  beforeAll(async () => {
    stack = await startTestStack();
    // docs/deploy.md step 5 for the default service only: one subscription, filtered on it, whose secret the stack holds.
    stack.pagerDuty!.subscribe(`${stack.url}/pagerduty/webhooks`, SUBSCRIBED_EVENT_TYPES, {
      filter: { type: 'service_reference', id: DEFAULT_SERVICE_ID },
      secret: stack.secrets.PAGER_DUTY_SIGNING_KEY,
    });
    // The shell of a provider whose local stack runs with these keys (no sandbox hand-off file).
    env = { PD_ROUTER_URL: stack.url, PD_ROUTER_ADMIN_TOKEN: stack.adminToken, ...stack.secrets, PAGER_DUTY_API_URL: stack.pagerDuty!.url, SLACK_API_URL: stack.slack!.apiUrl };
  });
  afterAll(() => stack.stop());

  const lines = () => ({ out: [] as string[], err: [] as string[] });
  async function customers(argv: string[]) {
    const seen = lines();
    const code = await runCustomers(argv, {
      env,
      readStdin: async () => '',
      readFile: async () => '',
      readHandOff: () => undefined,
      admin: (target) => (target.kind === 'http' ? httpCustomerAdmin(target.url, target.token) : (undefined as never)),
      coverage: (target, key) => keyCoverageLine(target, key, env),
      stdout: (l) => seen.out.push(l),
      stderr: (l) => seen.err.push(l),
    });
    return { code, ...seen };
  }
  async function doctor() {
    const seen = lines();
    const code = await runDoctor([], { env, readSandboxState: () => undefined, getJson: async (url) => (await fetch(url)).json(), now: Date.now, stdout: (l) => seen.out.push(l), stderr: (l) => seen.err.push(l) });
    return { code, ...seen };
  }
  async function subscribe() {
    const seen = lines();
    const code = await runCreateWebhookSubscription([], { env, stage: (target) => stageView(target, env), stdout: (l) => seen.out.push(l), stderr: (l) => seen.err.push(l) });
    return { code, ...seen };
  }
  const coverageLine = (out: string[]) => out.find((l) => /^. customer services covered/.test(l)) ?? '';

  async function escalate(text: string): Promise<StandInIncident> {
    const before = new Set(stack.pagerDuty!.incidents.keys());
    await mention(stack, CHANNEL, `escalate ${text}`);
    await stack.waitForIdle();
    const incident = [...stack.pagerDuty!.incidents.values()].find((i) => !before.has(i.id));
    if (!incident) throw new Error('no incident opened');
    return incident;
  }
  /** What the PagerDuty worker posted in the channel (keys `pd:<event id>:…`), as text. */
  const told = () => botMessages(stack, CHANNEL).filter((m) => String(m.metadata?.event_payload.key ?? '').startsWith('pd:')).map((m) => m.text ?? '');

  it('a customer on its own service: told at registration and by the doctor while no subscription takes it in, and hears acknowledgements and status updates by webhook once pd:subscribe made one', async () => {
    // Registered with its own key: the sandbox PagerDuty has a service for it, as a real account would.
    const added = await customers(['add', CHANNEL, '--name', 'Globex', '--routing-key', KEY]);
    expect(added.code).toBe(0);
    const serviceId = stack.pagerDuty!.serviceIdOf(KEY)!;
    expect(serviceId).toMatch(/^PS/);
    expect(added.out.at(-1)).toMatch(new RegExp(`^! Its PagerDuty service Globex \\(${serviceId}\\) sends pd-router no webhooks .*npm run pd:subscribe`));
    expect(added.out.join('\n')).not.toContain(KEY);

    const sick = await doctor();
    expect(sick.code).toBe(1);
    expect(coverageLine(sick.out)).toMatch(new RegExp(`^✗ customer services covered: ${CHANNEL}: service Globex \\(${serviceId}\\) gets no webhooks`));

    // Paged on its own service, which sends nothing: the acknowledgement never arrives by webhook.
    const unheard = await escalate('orders are stuck');
    expect(unheard.serviceId).toBe(serviceId);
    stack.pagerDuty!.acknowledge(unheard.id, 'Dana Scully');
    await stack.waitForIdle();
    expect(stack.pagerDuty!.uncovered).toContainEqual({ eventType: 'incident.acknowledged', incidentId: unheard.id, serviceId });
    expect(told()).toEqual([]);

    // pd:subscribe traces the key to its service and subscribes it; the default service is left as it is.
    const made = await subscribe();
    expect(made.code).toBe(0);
    expect(made.out).toHaveLength(1);
    expect(made.err.join('\n')).toMatch(new RegExp(`\\+ ${CHANNEL} \\(Globex\\): service Globex \\(${serviceId}\\): created PSUB2`));
    expect(made.err.join('\n')).toMatch(/✓ the default key \(PAGER_DUTY_EVENTS_API_KEY\): service Customer Escalations \(PSERVICE\) is covered by PSUB1/);
    expect((await subscribe()).err.join('\n')).toMatch(/nothing to create/);
    // Stored with the others (npm run secrets:put), the new secret is accepted beside them.
    stack.acceptPagerDutySigningKey(made.out[0]!);
    expect(coverageLine((await doctor()).out)).toMatch(/^✓ customer services covered/);
    expect((await customers(['update', CHANNEL, '--routing-key', KEY])).out.at(-1)).toMatch(/sends pd-router its incidents \(webhook subscription PSUB2\)/);

    const heard = await escalate('search is slow');
    stack.pagerDuty!.acknowledge(heard.id, 'Dana Scully');
    await stack.waitForIdle();
    stack.pagerDuty!.publishStatusUpdate(heard.id, 'Fix rolling out, next update in 30 min', 'Dana Scully');
    await stack.waitForIdle();
    const delivered = stack.pagerDuty!.deliveries.filter((d) => d.incidentId === heard.id);
    expect(delivered.map((d) => [d.eventType, d.status, d.subscriptionId])).toEqual([
      ['incident.triggered', 202, 'PSUB2'],
      ['incident.acknowledged', 202, 'PSUB2'],
      ['incident.status_update_published', 202, 'PSUB2'],
    ]);
    expect(told().some((t) => /acknowledged/i.test(t))).toBe(true);
    expect(told().some((t) => t.includes('Fix rolling out, next update in 30 min'))).toBe(true);
    expect(await stack.dlq('pagerduty')).toEqual([]);
  }, 60_000);

  it('a routing key on no service of the account: the doctor says so, apart from a malformed one', async () => {
    await stack.customers.add({ channel: 'CUNKNOWNKEY', name: 'Nobody', routingKey: 'R0UTINGKEYNOSERVICEHAS1' });
    try {
      const result = await doctor();
      expect(result.code).toBe(1);
      expect(coverageLine(result.out)).toMatch(/CUNKNOWNKEY: its routing key is the integration key of no service this REST key can see/);
      expect(result.out.find((l) => l.startsWith('✓ routing keys') || l.startsWith('✗ routing keys'))).toMatch(/^✓ routing keys/);
    } finally {
      await stack.customers.remove('CUNKNOWNKEY');
    }
  });
});
