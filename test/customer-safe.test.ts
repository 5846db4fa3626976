import type { LocalStack } from '../local/stack';
import { makePagerDutyApi } from '../lib/pagerduty/api';
import { STAND_IN_BOT_USER_ID } from '../local/stand-ins/slack';
import { startTestStack, shownStatus } from './support/stack';
import { audit } from '../local/world/audit';
import { World, type SentEscalation } from '../local/world/world';
import { makeDocumentClient } from '../lib/store/dynamo';
import { makeIncidentLinks } from '../lib/store/incident-links';

/**
 * PagerDuty doing what PagerDuty does, with several customers at once: alert grouping, merges
 * into another customer's incident and into an internal one, title edits, services and
 * integrations acting as agents, key-less webhooks. Every scenario ends with the world's audit,
 * which fails on any Slack call carrying another channel's words or dedup key, or any of
 * PagerDuty's internals (incident id, URL, title, account-wide number), and on anything lost or
 * doubled.
 */

const INTERNAL_TITLE = 'INTERNAL: pg-shared-3 disk full; tenants Acme, Globex';
const AUTOMATION = 'Internal: Postgres fleet auto-remediation';

describe('customer-safe under real PagerDuty behaviour', () => {
  let stack: LocalStack;
  let world: World;
  beforeAll(async () => {
    stack = await startTestStack();
    world = new World(stack);
  });
  afterAll(() => stack.stop());

  const texts = (channel: string) => stack.slack!.channelMessages(channel).filter((m) => m.user === STAND_IN_BOT_USER_ID).map((m) => m.text);
  const everything = (channel: string) => JSON.stringify(stack.slack!.calls.filter((c) => c.channel === channel));
  const holder = (e: SentEscalation) => stack.pagerDuty!.byKey(e.dedupKey)!;

  async function expectClean(escalations: SentEscalation[], forbidden: string[] = []) {
    await stack.waitForIdle();
    const report = await audit(world, { escalations, forbidden });
    expect(report.misroutes).toEqual([]);
    expect(report.duplicates).toEqual([]);
    expect(report.lost).toEqual([]);
    expect(report.dlq).toEqual({ slack: [], pagerduty: [] });
  }

  it('an alert grouped into another customer’s incident: its channel is told "handled together", follows that incident, and sees only its own words', async () => {
    const acme = await world.escalate('CGRPACME');
    await stack.waitForIdle();
    stack.pagerDuty!.grouping = true;
    const globex = await world.escalate('CGRPGLOBEX');
    await stack.waitForIdle();
    stack.pagerDuty!.grouping = false;
    expect(holder(globex)).toBe(holder(acme)); // PagerDuty put Globex's alert into Acme's incident

    // Globex asks before any webhook of that incident came: the search by its key returns Acme's
    // incident (it holds Globex's alert); only its status is shown, with Globex's own words.
    const restBefore = stack.pagerDuty!.restCalls.length;
    await world.click('CGRPGLOBEX', globex.dedupKey);
    await stack.waitForIdle();
    expect(stack.pagerDuty!.restCalls.slice(restBefore).map((c) => c.path.split('?')[0])).toEqual(['/incidents', `/incidents/${holder(acme).id}/alerts`, `/incidents/${holder(acme).id}`]);
    const answer = stack.slack!.ephemerals.filter((e) => e.channel === 'CGRPGLOBEX').at(-1)!;
    expect(JSON.stringify(answer)).toContain(globex.marker);
    expect(JSON.stringify(answer)).not.toContain(acme.marker);

    stack.pagerDuty!.acknowledge(holder(acme).id, 'Fox Mulder');
    stack.pagerDuty!.resolve(holder(acme).id, 'Fox Mulder');
    await stack.waitForIdle();
    expect(texts('CGRPGLOBEX').filter((t) => t.includes('handled together'))).toHaveLength(1);
    expect(texts('CGRPGLOBEX').filter((t) => /Acknowledged by Fox Mulder|Resolved by Fox Mulder/.test(t))).toHaveLength(2);
    expect(texts('CGRPACME').some((t) => t.includes('handled together'))).toBe(false); // its own incident
    await expectClean([acme, globex]);
  });

  it('a customer’s incident merged into another customer’s: told as "handled together", never "Resolved", until the target resolves', async () => {
    const acme = await world.escalate('CMRGACME');
    const globex = await world.escalate('CMRGGLOBEX');
    await stack.waitForIdle();
    stack.pagerDuty!.merge(holder(globex).id, holder(acme).id, 'Dana Scully');
    await stack.waitForIdle();
    expect(texts('CMRGGLOBEX').filter((t) => t.includes('handled together'))).toHaveLength(1);
    expect(texts('CMRGGLOBEX').some((t) => t.includes('Resolved'))).toBe(false);

    stack.pagerDuty!.resolve(holder(acme).id, 'Dana Scully');
    await stack.waitForIdle();
    for (const e of [acme, globex]) {
      expect(texts(e.channel).filter((t) => t.includes('Resolved by Dana Scully'))).toHaveLength(1);
      expect(everything(e.channel)).not.toContain((e === acme ? globex : acme).marker);
    }
    await expectClean([acme, globex]);
  });

  it('a merged escalation shows its target’s status, never "Resolved", and stays in the open-link index while the target is open', async () => {
    const acme = await world.escalate('CMRGSTACME');
    const globex = await world.escalate('CMRGSTGLOBEX');
    await stack.waitForIdle();
    stack.pagerDuty!.acknowledge(holder(acme).id, 'Dana Scully');
    await stack.waitForIdle();
    stack.pagerDuty!.merge(holder(globex).id, holder(acme).id, 'Dana Scully');
    await stack.waitForIdle();

    const messages = stack.slack!.channelMessages('CMRGSTGLOBEX').filter((m) => m.user === STAND_IN_BOT_USER_ID);
    const together = messages.filter((m) => m.text.includes('handled together'));
    expect(together).toHaveLength(1);
    expect(shownStatus(together[0]!)).toBe('acknowledged');
    // The confirmation, brought up to date, shows the target's status too.
    const confirmation = messages.find((m) => String(m.metadata?.event_payload.key).startsWith('confirm:'))!;
    expect(shownStatus(confirmation)).toBe('acknowledged');
    expect(messages.filter((m) => shownStatus(m) === 'resolved')).toEqual([]);
    const links = makeIncidentLinks(makeDocumentClient({ AWS_ENDPOINT_URL_DYNAMODB: stack.dynamo.endpoint }), stack.dynamo.tableName, { ttlDays: 1 });
    expect((await links.get(globex.dedupKey))?.status).toBe('acknowledged');
    const open = async () => {
      const keys: string[] = [];
      let cursor: Record<string, unknown> | undefined;
      do {
        const page = await links.listOpen({ limit: 100, ...(cursor ? { cursor } : {}) });
        keys.push(...page.links.map((link) => link.dedupKey));
        cursor = page.cursor;
      } while (cursor);
      return keys;
    };
    expect(await open()).toContain(globex.dedupKey);

    stack.pagerDuty!.resolve(holder(acme).id, 'Dana Scully');
    await stack.waitForIdle();
    expect(await open()).not.toContain(globex.dedupKey);
    await expectClean([acme, globex]);
  });

  it('incidents merged into the provider’s internal incident: both channels follow it to resolution, never reading its title', async () => {
    const acme = await world.escalate('CINTACME');
    const globex = await world.escalate('CINTGLOBEX');
    await stack.waitForIdle();
    const internal = stack.pagerDuty!.openInternal(INTERNAL_TITLE);
    for (const e of [acme, globex]) stack.pagerDuty!.merge(holder(e).id, internal.id, 'Dana Scully');
    await stack.waitForIdle();
    stack.pagerDuty!.acknowledge(internal.id, { service: AUTOMATION });
    stack.pagerDuty!.resolve(internal.id, 'Dana Scully');
    await stack.waitForIdle();
    for (const e of [acme, globex]) {
      expect(texts(e.channel).filter((t) => t.includes('handled together'))).toHaveLength(1);
      expect(texts(e.channel).filter((t) => t.includes('Acknowledged by the on-call team'))).toHaveLength(1);
      expect(texts(e.channel).filter((t) => t.includes('Resolved by Dana Scully'))).toHaveLength(1);
    }
    await expectClean([acme, globex], [AUTOMATION, 'pg-shared-3']);
  });

  it('title edits by on-call and automation acting as the agent never reach the customer', async () => {
    const acme = await world.escalate('CTITLEACME');
    await stack.waitForIdle();
    stack.pagerDuty!.retitle(holder(acme).id, 'RCA: pg-shared-3 failover, Globex also affected');
    stack.pagerDuty!.acknowledge(holder(acme).id, { integration: 'Datadog prod-eu monitors' });
    stack.pagerDuty!.resolve(holder(acme).id, { service: AUTOMATION });
    await stack.waitForIdle();
    expect(texts('CTITLEACME').filter((t) => /Acknowledged by the on-call team|Resolved by the on-call team/.test(t))).toHaveLength(2);
    await expectClean([acme], [AUTOMATION, 'Datadog', 'pg-shared-3', 'Globex']);
  });

  it('an escalation delegated to another escalation policy is told as handed to another team', async () => {
    const acme = await world.escalate('CDELEGATE');
    await stack.waitForIdle();
    stack.pagerDuty!.delegate(holder(acme).id, 'Dana Scully');
    await stack.waitForIdle();
    expect(texts('CDELEGATE').filter((t) => t.includes('Handed to another team'))).toHaveLength(1);
    await expectClean([acme]);
  });

  it('Check Status on an incident PagerDuty no longer has (404) answers plainly and parks nothing', async () => {
    const acme = await world.escalate('CGONE');
    await stack.waitForIdle();
    stack.pagerDuty!.incidents.delete(holder(acme).id);
    await world.click('CGONE', acme.dedupKey);
    await stack.waitForIdle();
    expect(stack.slack!.ephemerals.filter((e) => e.channel === 'CGONE')).toHaveLength(1);
    expect(await stack.dlq('slack')).toEqual([]);
  });

  it('the PagerDuty adapter refuses to search by an empty key (PagerDuty would list every open incident)', async () => {
    const api = makePagerDutyApi({ eventsUrl: stack.pagerDuty!.url, apiUrl: stack.pagerDuty!.url, routingKey: 'x', restToken: stack.secrets.PAGER_DUTY_REST_API_KEY, timeoutMs: 2000 });
    const before = stack.pagerDuty!.restCalls.length;
    await expect(api.findIncidentsByKey('')).rejects.toThrow('empty key');
    await expect(api.findIncidentsByKey('  ')).rejects.toThrow('empty key');
    expect(stack.pagerDuty!.restCalls.length).toBe(before);
  });
});

describe('a search result is a candidate, never proof', () => {
  it('Check Status binds an escalation only to an incident whose alerts hold its key, whatever the incident_key search lists first', async () => {
    const stack = await startTestStack();
    try {
      stack.pagerDuty!.webhook = undefined; // no webhook binds anything: the click's search is the only evidence
      const world = new World(stack);
      const acme = await world.escalate('CDECOYACME');
      const globex = await world.escalate('CDECOYGLOBEX');
      await stack.waitForIdle();
      const acmeIncident = stack.pagerDuty!.byKey(acme.dedupKey)!;
      const globexIncident = stack.pagerDuty!.byKey(globex.dedupKey)!;
      stack.pagerDuty!.acknowledge(acmeIncident.id, 'Dana Scully');
      // PagerDuty's search for Globex's key lists Acme's incident first, although none of its alerts holds that key.
      stack.pagerDuty!.searchAlsoReturns.set(globex.dedupKey, [acmeIncident.id]);

      await world.click('CDECOYGLOBEX', globex.dedupKey);
      await stack.waitForIdle();
      const links = makeIncidentLinks(makeDocumentClient({ AWS_ENDPOINT_URL_DYNAMODB: stack.dynamo.endpoint }), stack.dynamo.tableName, { ttlDays: 1 });
      expect((await links.get(globex.dedupKey))?.incidentId).toBe(globexIncident.id);
      expect((await links.get(globex.dedupKey))?.heldBy).toBe('own');
      const [answer] = stack.slack!.ephemerals.filter((e) => e.channel === 'CDECOYGLOBEX');
      expect(JSON.stringify(answer)).toContain('Triggered');
      expect(JSON.stringify(answer)).not.toContain('Acknowledged');
      expect(JSON.stringify(answer)).not.toContain('Dana Scully');

      // Only the decoy listed: nothing binds, and the answer says the status is unknown.
      stack.pagerDuty!.searchAlsoReturns.set(acme.dedupKey, [globexIncident.id]);
      const acmeIncidentKey = acmeIncident.incidentKey;
      acmeIncident.incidentKey = 'an-unrelated-key';
      acmeIncident.alertKeys = ['an-unrelated-key'];
      await world.click('CDECOYACME', acme.dedupKey);
      await stack.waitForIdle();
      acmeIncident.incidentKey = acmeIncidentKey;
      acmeIncident.alertKeys = [acmeIncidentKey];
      expect((await links.get(acme.dedupKey))?.incidentId).toBeUndefined();
      const report = await audit(world);
      expect(report.misroutes).toEqual([]);
    } finally {
      await stack.stop();
    }
  });
});

describe('customer-safe with key-less webhooks', () => {
  it('an incident PagerDuty sends without incident_key is still the escalation’s own, never "handled together"', async () => {
    const stack = await startTestStack({ standIns: { omitIncidentKey: true } });
    try {
      const world = new World(stack);
      const acme = await world.escalate('CKEYLESS');
      await stack.waitForIdle();
      stack.pagerDuty!.acknowledge(stack.pagerDuty!.byKey(acme.dedupKey)!.id, 'Fox Mulder');
      await stack.waitForIdle();
      const texts = stack.slack!.channelMessages('CKEYLESS').filter((m) => m.user === STAND_IN_BOT_USER_ID).map((m) => m.text);
      expect(texts.some((t) => t.includes('handled together'))).toBe(false);
      expect(texts.filter((t) => t.includes('Acknowledged by Fox Mulder'))).toHaveLength(1);
      const report = await audit(world);
      expect(report).toMatchObject({ misroutes: [], duplicates: [], lost: [] });
    } finally {
      await stack.stop();
    }
  });
});
