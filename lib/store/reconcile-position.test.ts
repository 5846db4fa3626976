import { startTestDynamo } from '../../test/support/dynamo';
import { makeIncidentLinks, type IncidentLinks } from './incident-links';
import { makeReconcilePosition } from './reconcile-position';

describe('where the reconciler goes on in the open links (on dynalite)', () => {
  let env: Awaited<ReturnType<typeof startTestDynamo>>;
  let links: IncidentLinks;
  const key = (n: number) => `pdr-${String(n).padStart(32, '0')}`;

  beforeAll(async () => {
    env = await startTestDynamo();
    links = makeIncidentLinks(env.db, env.dynamo.tableName, { ttlDays: 1 });
    // Created out of order: the index keeps them in the order of their keys.
    for (const n of [5, 1, 4, 2, 3]) await links.create({ dedupKey: key(n), team: 'T0PROVIDER', channel: `C0POS0${n}`, requester: 'UCUSTOMER1', summary: 'checkout is down' });
  });
  afterAll(() => env.stop());

  async function all(options: { after?: string }): Promise<string[]> {
    const seen: string[] = [];
    let cursor: Record<string, unknown> | undefined;
    do {
      const page = await links.listOpen({ limit: 2, ...(cursor ? { cursor } : options) });
      seen.push(...page.links.map((link) => link.dedupKey));
      cursor = page.cursor;
    } while (cursor);
    return seen;
  }

  it('lists the open links past a given one, page by page, in the order of their keys', async () => {
    expect(await all({})).toEqual([1, 2, 3, 4, 5].map(key));
    expect(await all({ after: key(2) })).toEqual([3, 4, 5].map(key));
    expect(await all({ after: key(5) })).toEqual([]);
  });

  it('goes on past a link that is no longer open (closed since the run that stopped at it)', async () => {
    await links.close(key(3));
    expect(await all({ after: key(3) })).toEqual([4, 5].map(key));
    // One that never existed is a place in the order all the same.
    expect(await all({ after: `${key(1)}x` })).toEqual([2, 4, 5].map(key));
  });

  it('keeps the last link examined until a run goes through every open link', async () => {
    const position = makeReconcilePosition(env.db, env.dynamo.tableName);
    expect(await position.read()).toBeUndefined();
    await position.keep(key(4));
    expect(await position.read()).toBe(key(4));
    await position.keep(undefined);
    expect(await position.read()).toBeUndefined();
  });
});
