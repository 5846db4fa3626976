import { PagerDutyStandIn } from '../../local/stand-ins/pagerduty';
import { startTestDynamo } from '../../test/support/dynamo';
import { makePagerDutyApi } from '../pagerduty/api';
import { createLogger } from '../runtime/log';
import { makeIncidentLinks, type IncidentLinks } from '../store/incident-links';
import { followMerges, makeOwnership, MAX_MERGE_HOPS } from './ownership';

const logger = createLogger({ level: 'silent' });

describe('ownership follows merges (on dynalite and the PagerDuty stand-in)', () => {
  let env: Awaited<ReturnType<typeof startTestDynamo>>;
  let pagerDutyStandIn: PagerDutyStandIn;

  beforeAll(async () => {
    env = await startTestDynamo();
    pagerDutyStandIn = await new PagerDutyStandIn({ routingKey: 'R0OWNERSHIPTESTKEY00000000000000', restToken: 'rest-token' }).start();
  });
  afterAll(async () => {
    await pagerDutyStandIn.stop();
    await env.stop();
  });

  /** A customer's escalation, triggered: its link and its own incident in the stand-in (no webhook seen yet). */
  async function escalated(dedupKey: string, channel: string) {
    const pagerDuty = makePagerDutyApi({ eventsUrl: pagerDutyStandIn.url, apiUrl: pagerDutyStandIn.url, routingKey: 'R0OWNERSHIPTESTKEY00000000000000', restToken: 'rest-token', timeoutMs: 5000 });
    const links = makeIncidentLinks(env.db, env.dynamo.tableName, { ttlDays: 1 });
    await links.create({ dedupKey, team: 'T0PROVIDER', channel, requester: 'UCUSTOMER1', summary: 'checkout is down', threadTs: '1796040000.000100' });
    await pagerDuty.trigger({ dedupKey, summary: 'checkout is down', source: 'test', severity: 'critical', customDetails: {} });
    return { pagerDuty, links, own: pagerDutyStandIn.byKey(dedupKey)! };
  }

  /**
   * The links as a merge reads them while a click's bind is half-way: the escalation already listed
   * under `incidentId` (bind lists it before it writes the link), its link not yet held by anyone.
   */
  const halfBound = (links: IncidentLinks, incidentId: string, dedupKey: string): IncidentLinks => ({
    ...links,
    followersOf: async (id) => (id === incidentId ? [(await links.get(dedupKey))!] : links.followersOf(id)),
  });

  it('a merge handled while a Check Status click carries the escalation along the chain still tells it', async () => {
    const dedupKey = 'pdr-0000000000000000000000000000c4a1';
    const { pagerDuty, links, own: a } = await escalated(dedupKey, 'C0CHAIN01');
    // The customer's incident A is merged into B, and B into C (on-call consolidating an outage).
    const b = pagerDutyStandIn.openInternal('INTERNAL: B');
    const c = pagerDutyStandIn.openInternal('INTERNAL: C');
    await links.bind({ dedupKey, channel: 'C0CHAIN01' }, a.id, 'own-key');
    pagerDutyStandIn.merge(a.id, b.id);
    pagerDutyStandIn.merge(b.id, c.id);

    // The merge of A is being handled; between its read of A's links and its move, a click in the
    // channel locates the escalation and carries it from A through B to C.
    const clickOwnership = makeOwnership({ links, binding: links, pagerDuty });
    const racing: IncidentLinks = {
      ...links,
      followersOf: async (incidentId) => {
        const read = await links.followersOf(incidentId);
        if (incidentId === a.id) await clickOwnership.locate((await links.get(dedupKey))!, logger);
        return read;
      },
    };
    const moved = await makeOwnership({ links: racing, binding: links, pagerDuty }).moveOnMerge({ id: a.id, incidentKey: dedupKey }, b.id, logger);

    expect(moved.map((link) => [link.dedupKey, link.incidentId])).toEqual([[dedupKey, c.id]]);
  });

  it('a merge whose incident a click bound after the merge read its links still moves and tells the escalation', async () => {
    const dedupKey = 'pdr-0000000000000000000000000000c4a2';
    const { pagerDuty, links, own: a } = await escalated(dedupKey, 'C0CHAIN02');
    // No webhook of the customer's incident A was seen before on-call merged it into C.
    const c = pagerDutyStandIn.openInternal('INTERNAL: C');
    pagerDutyStandIn.merge(a.id, c.id);

    // The merge finds A holding nothing; before it looks for A's own escalation, a click binds it to A.
    const racing: IncidentLinks = {
      ...links,
      followersOf: async (incidentId) => {
        const read = await links.followersOf(incidentId);
        if (incidentId === a.id) await links.bind((await links.get(dedupKey))!, a.id, 'own-key');
        return read;
      },
    };
    const moved = await makeOwnership({ links: racing, binding: links, pagerDuty }).moveOnMerge({ id: a.id }, c.id, logger);

    expect(moved.map((link) => [link.dedupKey, link.incidentId, link.heldBy])).toEqual([[dedupKey, c.id, 'merged']]);
  });

  it('a merge that reads its incident while a click is half-way through binding the escalation to it still moves and tells it', async () => {
    const dedupKey = 'pdr-0000000000000000000000000000c4a3';
    const { pagerDuty, links, own: a } = await escalated(dedupKey, 'C0CHAIN03');
    const c = pagerDutyStandIn.openInternal('INTERNAL: C');
    pagerDutyStandIn.merge(a.id, c.id);

    // A click's bind lists the escalation under A before it writes the link: the merge's read of
    // A's links falls in between, and finds it listed but held by no incident.
    const moved = await makeOwnership({ links: halfBound(links, a.id, dedupKey), binding: links, pagerDuty }).moveOnMerge({ id: a.id, incidentKey: dedupKey }, c.id, logger);
    expect(moved.map((link) => [link.dedupKey, link.incidentId, link.heldBy])).toEqual([[dedupKey, c.id, 'merged']]);

    // The click then finishes: it finds the escalation already in C, and leaves it there.
    const located = await makeOwnership({ links, binding: links, pagerDuty }).locate((await links.get(dedupKey))!, logger);
    expect([located.link.incidentId, located.link.heldBy, located.incident?.id]).toEqual([c.id, 'merged', c.id]);
  });

  it('an escalation grouped into the merged incident, its bind half-way when the merge reads, moves with the merge', async () => {
    const dedupKey = 'pdr-0000000000000000000000000000c4a4';
    // Content-based grouping puts the escalation's alert into the open incident G, not one of its
    // own; then on-call merges G into C.
    const g = pagerDutyStandIn.openInternal('INTERNAL: G');
    pagerDutyStandIn.grouping = true;
    const { pagerDuty, links } = await escalated(dedupKey, 'C0CHAIN04').finally(() => (pagerDutyStandIn.grouping = false));
    expect(g.alertKeys).toContain(dedupKey);
    const c = pagerDutyStandIn.openInternal('INTERNAL: C');
    pagerDutyStandIn.merge(g.id, c.id);

    const moved = await makeOwnership({ links: halfBound(links, g.id, dedupKey), binding: links, pagerDuty }).moveOnMerge({ id: g.id, incidentKey: g.incidentKey }, c.id, logger);
    expect(moved.map((link) => [link.dedupKey, link.incidentId, link.heldBy])).toEqual([[dedupKey, c.id, 'merged']]);
  });

  it('a chain of merges is walked to the incident still worked on, and no further than MAX_MERGE_HOPS merges', async () => {
    const pagerDuty = makePagerDutyApi({ eventsUrl: pagerDutyStandIn.url, apiUrl: pagerDutyStandIn.url, routingKey: 'R0OWNERSHIPTESTKEY00000000000000', restToken: 'rest-token', timeoutMs: 5000 });
    // On-call merging an outage's incidents one into the next: a chain one merge longer than the limit.
    const chain = Array.from({ length: MAX_MERGE_HOPS + 2 }, (_, i) => pagerDutyStandIn.openInternal(`INTERNAL: chain ${i}`).id);
    for (let i = 0; i + 1 < chain.length; i++) pagerDutyStandIn.merge(chain[i]!, chain[i + 1]!);
    const carried: string[] = [];
    const carry = async (merged: { id: string }, into: string) => (carried.push(`${merged.id} → ${into}`), true);

    const end = await followMerges(pagerDuty, chain[chain.length - 3]!, carry);
    expect([end?.id, end?.mergedInto]).toEqual([chain[chain.length - 1], undefined]);
    expect(carried).toEqual([`${chain[chain.length - 3]} → ${chain[chain.length - 2]}`, `${chain[chain.length - 2]} → ${chain[chain.length - 1]}`]);

    carried.length = 0;
    const stopped = await followMerges(pagerDuty, chain[0]!, carry);
    expect(carried).toHaveLength(MAX_MERGE_HOPS);
    expect([stopped?.id, stopped?.mergedInto]).toEqual([chain[MAX_MERGE_HOPS], chain[MAX_MERGE_HOPS + 1]]);

    // The links did not follow (carry says so): the walk stops at the incident they are still in.
    expect((await followMerges(pagerDuty, chain[0]!, async () => false))?.id).toBe(chain[0]);
  });
});
