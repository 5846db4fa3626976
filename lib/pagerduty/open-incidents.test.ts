import { PagerDutyStandIn } from '../../local/stand-ins/pagerduty';
import { restClient } from './api';
import { makeOpenIncidents, OFFSET_PAGINATION_LIMIT } from './open-incidents';

describe('the open incidents, listed as PagerDuty lists them', () => {
  let pagerDuty: PagerDutyStandIn;
  const listOpen = () => makeOpenIncidents(restClient({ apiUrl: pagerDuty.url, restToken: 'rest-token', timeoutMs: 5000 }))();
  beforeEach(async () => {
    pagerDuty = await new PagerDutyStandIn({ routingKey: 'R'.repeat(32), restToken: 'rest-token' }).start();
  });
  afterEach(() => pagerDuty.stop());

  it('lists every triggered and acknowledged incident, whenever it was opened, 100 a page, and no resolved one', async () => {
    const opened = Array.from({ length: 250 }, (_, n) => pagerDuty.openInternal(`outage ${n}`));
    pagerDuty.acknowledge(opened[7]!.id);
    pagerDuty.resolve(opened[8]!.id);
    // Opened two months ago: outside the range PagerDuty lists by default.
    opened[9]!.createdAt = new Date(Date.now() - 60 * 86_400_000).toISOString();
    const before = pagerDuty.restCalls.length;

    const { incidents, complete } = await listOpen();
    expect(complete).toBe(true);
    expect(incidents.size).toBe(249);
    expect(incidents.get(opened[7]!.id)).toMatchObject({ status: 'acknowledged' });
    expect(incidents.get(opened[9]!.id)).toMatchObject({ status: 'triggered' });
    expect(incidents.has(opened[8]!.id)).toBe(false);
    expect(pagerDuty.restCalls.slice(before)).toHaveLength(3);
  });

  it('says when more are open than PagerDuty lists (offset pagination stops at 10,000), without asking past it', async () => {
    for (let n = 0; n < OFFSET_PAGINATION_LIMIT + 5; n++) pagerDuty.openInternal(`outage ${n}`);
    const before = pagerDuty.restCalls.length;
    const { incidents, complete } = await listOpen();
    expect(complete).toBe(false);
    expect(incidents.size).toBe(OFFSET_PAGINATION_LIMIT);
    const calls = pagerDuty.restCalls.slice(before);
    expect(calls).toHaveLength(OFFSET_PAGINATION_LIMIT / 100);
    expect(calls.every((call) => call.status === 200)).toBe(true);
  });
});
