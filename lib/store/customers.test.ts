import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { startTestDynamo } from '../../test/support/dynamo';
import { InvalidInputError, TransientError } from '../errors';
import { checkChannelId, CustomerExistsError, maskedCustomer, makeCustomers, maskRoutingKey, UnknownCustomerError, unapprovedOrgs, type Customers } from './customers';

const KEY = 'R0a1b2c3d4e5f60718293a4b5c6d7e9f';

describe('the customer registry (on dynalite)', () => {
  let env: Awaited<ReturnType<typeof startTestDynamo>>;
  let customers: Customers;
  let clock = new Date('2026-11-30T10:00:00.000Z');

  beforeAll(async () => {
    env = await startTestDynamo();
    customers = makeCustomers(env.db, env.dynamo.tableName, { now: () => clock });
  });
  afterAll(() => env.stop());

  it('adds a customer with the defaults, and gets it back', async () => {
    const added = await customers.add({ channel: 'C0ACME00001', name: 'Acme' });
    expect(added).toEqual({
      channel: 'C0ACME00001',
      name: 'Acme',
      pagesPerHour: 3,
      confirm: false,
      sharedWith: [],
      approvedOrgs: [],
      // This registration's own id: the escalations raised under it carry it (the delivery gate).
      registrationId: expect.stringMatching(/^[A-Za-z0-9_-]{16}$/),
      createdAt: clock.toISOString(),
      updatedAt: clock.toISOString(),
    });
    expect(await customers.get('C0ACME00001')).toEqual(added);
    expect(await customers.get('C0NOBODY001')).toBeUndefined();
  });

  it('keeps every setting, and approves the organizations the channel is shared with at registration', async () => {
    const added = await customers.add({
      channel: 'G0GLOBEX001',
      name: 'Globex',
      routingKey: KEY,
      severity: 'warning',
      contact: 'globex-support@provider.example',
      showResponderNames: false,
      pagesPerHour: 5,
      confirm: true,
      orgs: ['T0PROVIDER', 'T0GLOBEX'],
    });
    expect(await customers.full('G0GLOBEX001')).toEqual(added);
    expect(added).toMatchObject({ routingKey: KEY, severity: 'warning', pagesPerHour: 5, confirm: true, sharedWith: ['T0PROVIDER', 'T0GLOBEX'], approvedOrgs: ['T0PROVIDER', 'T0GLOBEX'] });
  });

  it('keeps a routing key out of the customer item: get() shows only its mask, routingKey() reads it from its own item', async () => {
    await customers.add({ channel: 'C0KEYED0001', name: 'Keyed', routingKey: KEY });
    const record = await customers.get('C0KEYED0001');
    expect(record).toMatchObject({ name: 'Keyed', routingKeyMask: maskRoutingKey(KEY) });
    expect(JSON.stringify(record)).not.toContain(KEY);
    const stored = await env.db.send(new GetCommand({ TableName: env.dynamo.tableName, Key: { pk: 'customer#C0KEYED0001' } }));
    expect(JSON.stringify(stored.Item)).not.toContain(KEY);
    const keyItem = await env.db.send(new GetCommand({ TableName: env.dynamo.tableName, Key: { pk: 'routing#C0KEYED0001' } }));
    expect(keyItem.Item).toEqual({ pk: 'routing#C0KEYED0001', routingKey: KEY });
    expect(await customers.routingKey('C0KEYED0001')).toBe(KEY);
    expect(await customers.routingKey('C0ACME00001')).toBeUndefined();

    await customers.update('C0KEYED0001', { routingKey: null });
    expect(await customers.routingKey('C0KEYED0001')).toBeUndefined();
    expect((await env.db.send(new GetCommand({ TableName: env.dynamo.tableName, Key: { pk: 'routing#C0KEYED0001' } }))).Item).toBeUndefined();
    await customers.update('C0KEYED0001', { routingKey: KEY });
    expect(await customers.full('C0KEYED0001')).toMatchObject({ routingKey: KEY });
    await customers.remove('C0KEYED0001');
    expect((await env.db.send(new GetCommand({ TableName: env.dynamo.tableName, Key: { pk: 'routing#C0KEYED0001' } }))).Item).toBeUndefined();
  });

  it('never answers "no key" for a customer whose mask says it has one: the escalation waits for it', async () => {
    await env.db.send(new PutCommand({ TableName: env.dynamo.tableName, Item: { pk: 'customer#C0HALFWAY01', customerList: 'customer', channel: 'C0HALFWAY01', name: 'Halfway', routingKeyMask: 'R0…9f', createdAt: clock.toISOString(), updatedAt: clock.toISOString() } }));
    await expect(customers.routingKey('C0HALFWAY01')).rejects.toThrow(TransientError);
  });

  it('reads a key stored inline by an earlier version, and moves it to its own item at the next change of key', async () => {
    await env.db.send(new PutCommand({ TableName: env.dynamo.tableName, Item: { pk: 'customer#C0LEGACY001', customerList: 'customer', channel: 'C0LEGACY001', name: 'Legacy', routingKey: KEY, createdAt: clock.toISOString(), updatedAt: clock.toISOString() } }));
    expect(await customers.get('C0LEGACY001')).toMatchObject({ routingKeyMask: maskRoutingKey(KEY) });
    expect(await customers.routingKey('C0LEGACY001')).toBe(KEY);
    const other = `${KEY.slice(0, -2)}00`;
    await customers.update('C0LEGACY001', { routingKey: other });
    const stored = await env.db.send(new GetCommand({ TableName: env.dynamo.tableName, Key: { pk: 'customer#C0LEGACY001' } }));
    expect(JSON.stringify(stored.Item)).not.toContain(KEY.slice(0, -2));
    expect(await customers.routingKey('C0LEGACY001')).toBe(other);
  });

  it('refuses to add a channel twice, and keeps the first registration', async () => {
    await customers.add({ channel: 'C0TWICE0001', name: 'First' });
    await expect(customers.add({ channel: 'C0TWICE0001', name: 'Second' })).rejects.toThrow(CustomerExistsError);
    expect((await customers.get('C0TWICE0001'))?.name).toBe('First');
  });

  it('adds exactly once when the same channel is added concurrently', async () => {
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => customers.add({ channel: 'C0RACE00001', name: `Racer ${i}` })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof CustomerExistsError)).toBe(true);
  });

  it('updates only the settings given, clears a setting with null, and moves updatedAt', async () => {
    await customers.add({ channel: 'C0INITECH01', name: 'Initech', routingKey: KEY, severity: 'error' });
    clock = new Date('2026-11-30T11:00:00.000Z');
    const updated = await customers.update('C0INITECH01', { pagesPerHour: 10, confirm: true, routingKey: null });
    expect(updated).toMatchObject({ name: 'Initech', severity: 'error', pagesPerHour: 10, confirm: true, updatedAt: clock.toISOString() });
    expect(updated.routingKey).toBeUndefined();
    expect(updated.createdAt).not.toBe(updated.updatedAt);
    expect(await customers.get('C0INITECH01')).toEqual(updated);
  });

  it('refuses to update, approve or remove a channel that is not a customer, and creates nothing', async () => {
    await expect(customers.update('C0NOBODY001', { name: 'Ghost' })).rejects.toThrow(UnknownCustomerError);
    await expect(customers.approve('C0NOBODY001', ['T0NEW'])).rejects.toThrow(UnknownCustomerError);
    await expect(customers.remove('C0NOBODY001')).rejects.toThrow(UnknownCustomerError);
    expect(await customers.get('C0NOBODY001')).toBeUndefined();
  });

  it('refuses invalid settings with one line that never repeats a routing key', async () => {
    const attempts = [
      customers.add({ channel: 'C0BAD000001', name: '' }),
      customers.add({ channel: 'C0BAD000001', name: 'Bad', severity: 'urgent' as never }),
      customers.add({ channel: 'C0BAD000001', name: 'Bad', pagesPerHour: 0 }),
      customers.add({ channel: 'C0BAD000001', name: 'Bad', routingKey: `${KEY} ` }),
      customers.add({ channel: 'D0DIRECT001', name: 'A DM' }),
      customers.update('C0ACME00001', { routingKey: 'short' }),
    ];
    for (const attempt of attempts) {
      const error = await attempt.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(InvalidInputError);
      expect((error as Error).message).not.toContain('\n');
      expect((error as Error).message).not.toContain(KEY);
    }
    expect(await customers.get('C0BAD000001')).toBeUndefined();
  });

  it('removes a customer and returns what was stored', async () => {
    await customers.add({ channel: 'C0GONE00001', name: 'Gone soon' });
    expect((await customers.remove('C0GONE00001')).name).toBe('Gone soon');
    expect(await customers.get('C0GONE00001')).toBeUndefined();
    await expect(customers.remove('C0GONE00001')).rejects.toThrow(UnknownCustomerError);
  });

  it('gives each registration of a channel its own id: added again after a removal, it is a new one', async () => {
    const first = await customers.add({ channel: 'C0AGAIN0001', name: 'Again' });
    await customers.remove('C0AGAIN0001');
    const second = await customers.add({ channel: 'C0AGAIN0001', name: 'Again' });
    expect(second.registrationId).toBeDefined();
    expect(second.registrationId).not.toBe(first.registrationId);
    // Updates and approvals keep it: they change the registration, not which one it is.
    expect((await customers.update('C0AGAIN0001', { confirm: true })).registrationId).toBe(second.registrationId);
  });

  it('lists customers only (no links or effects), by channel, page by page', async () => {
    // Other items of the single table must not show up in the list.
    await env.db.send(new PutCommand({ TableName: env.dynamo.tableName, Item: { pk: 'link#abc', channel: 'C0ACME00001' } }));
    const all = await customers.all();
    const channels = all.map((c) => c.channel);
    expect(channels).toEqual([...channels].sort());
    expect(channels).toEqual(expect.arrayContaining(['C0ACME00001', 'G0GLOBEX001', 'C0INITECH01', 'C0RACE00001', 'C0TWICE0001']));
    expect(channels).not.toContain('C0GONE00001');
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await customers.list({ limit: 2, ...(cursor ? { cursor } : {}) });
      expect(page.customers.length).toBeLessThanOrEqual(2);
      seen.push(...page.customers.map((c) => c.channel));
      cursor = page.cursor;
    } while (cursor);
    expect(seen).toEqual(channels);
    await expect(customers.list({ cursor: 'not-a-cursor' })).rejects.toThrow(InvalidInputError);
  });

  it('records the organizations a channel is shared with, and approve makes the guard content again', async () => {
    await customers.add({ channel: 'C0SHARED001', name: 'Shared', orgs: ['T0PROVIDER', 'T0CUSTOMER'] });
    const shared = await customers.recordSharedWith('C0SHARED001', ['T0PROVIDER', 'T0CUSTOMER', 'T0STRANGER']);
    expect(unapprovedOrgs(shared)).toEqual(['T0STRANGER']);
    const approved = await customers.approve('C0SHARED001', shared.sharedWith);
    expect(unapprovedOrgs(approved)).toEqual([]);
    expect(approved.approvedOrgs).toEqual(['T0PROVIDER', 'T0CUSTOMER', 'T0STRANGER']);
  });
});

describe('what a person may see of a customer', () => {
  it('masks the routing key to four characters', () => {
    expect(maskRoutingKey(KEY)).toBe('R0…9f');
    const masked = maskedCustomer({ channel: 'C0ACME00001', name: 'Acme', routingKey: KEY, pagesPerHour: 3, confirm: false, sharedWith: [], approvedOrgs: [], createdAt: 'x', updatedAt: 'x' });
    expect(masked.routingKey).toBe('R0…9f');
    expect(JSON.stringify(masked)).not.toContain(KEY);
  });

  it('accepts channel ids as Slack writes them and refuses others with one line', () => {
    for (const id of ['C024BE91L', 'C0123456789', 'G0123ABCDEF', 'CACME']) expect(checkChannelId(id)).toBe(id);
    for (const id of ['acme', 'C12', 'X0123456789', 'C0123456789ABCDEFGHIJKL', 'c0123456789', 'D0123456789']) {
      expect(() => checkChannelId(id)).toThrow(InvalidInputError);
    }
    expect(() => checkChannelId('D0123456789')).toThrow(/direct message/);
  });
});
