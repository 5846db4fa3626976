import { recordingClient, startTestDynamo } from '../../test/support/dynamo';
import { makeIncidentLinks, type IncidentLinks, type LinkBinding } from './incident-links';

describe('the incident links store: binding and settling (on dynalite)', () => {
  let env: Awaited<ReturnType<typeof startTestDynamo>>;
  let links: IncidentLinks & LinkBinding;
  let calls: string[];
  let sequence = 0;

  beforeAll(async () => {
    env = await startTestDynamo();
    const recording = recordingClient(env.db);
    calls = recording.calls;
    links = makeIncidentLinks(recording.db, env.dynamo.tableName, { ttlDays: 1 });
  });
  afterAll(() => env.stop());

  /** A fresh pending escalation; the calls counted start after it. */
  async function created(): Promise<string> {
    const dedupKey = `pdr-${String(++sequence).padStart(32, '0')}`;
    await links.create({ dedupKey, team: 'T0PROVIDER', channel: 'C0LINKS01', requester: 'UCUSTOMER1', summary: 'checkout is down', threadTs: `1796040000.${String(sequence).padStart(6, '0')}` });
    calls.length = 0;
    return dedupKey;
  }
  /** What a bind is given of a link made by {@link created}. */
  const linkOf = (dedupKey: string) => ({ dedupKey, channel: 'C0LINKS01' });

  it('a new escalation\'s link and its thread\'s pointer are written side by side, not one after the other', async () => {
    // Each write's start and end, with the link's write held until the pointer's has started.
    const events: string[] = [];
    let pointerStarted!: () => void;
    const started = new Promise<void>((resolve) => (pointerStarted = resolve));
    const timed = new Proxy(env.db, {
      get(target, property, receiver) {
        if (property !== 'send') return Reflect.get(target, property, receiver);
        return async (command: { input: { Item?: { pk?: string } } }) => {
          const what = command.input.Item?.pk?.split('#')[0] ?? 'other';
          events.push(`start ${what}`);
          if (what === 'thread') pointerStarted();
          if (what === 'link') await Promise.race([started, new Promise((resolve) => setTimeout(resolve, 1000))]);
          const output = await target.send(command as never);
          events.push(`end ${what}`);
          return output;
        };
      },
    });
    const sideBySide = makeIncidentLinks(timed, env.dynamo.tableName, { ttlDays: 1 });
    const dedupKey = `pdr-${'f'.repeat(32)}`;
    const { created } = await sideBySide.create({ dedupKey, team: 'T0PROVIDER', channel: 'C0LINKS01', requester: 'UCUSTOMER1', summary: 'checkout is down', threadTs: '1796040000.999999' });
    expect(created).toBe(true);
    expect(events.indexOf('start thread')).toBeLessThan(events.indexOf('end link'));
    expect(await sideBySide.byThread('C0LINKS01', '1796040000.999999')).toBe(dedupKey);
  });

  it('a first bind lists the link under the incident and writes it, without reading it first', async () => {
    const dedupKey = await created();
    const result = await links.bind(linkOf(dedupKey), 'Q0FIRST', 'own-key');
    expect(result).toMatchObject({ bound: true, link: { dedupKey, incidentId: 'Q0FIRST', heldBy: 'own' } });
    expect(calls).toEqual(['Update', 'Update']);
    expect((await links.followersOf('Q0FIRST')).map((link) => link.dedupKey)).toEqual([dedupKey]);
  });

  it('the incident\'s item names its links\' channels, told before the links are read, so the registry can be read beside them', async () => {
    const first = await created();
    await links.bind(linkOf(first), 'Q0CHANNELS', 'own-key');
    // Another channel's escalation grouped into the same incident.
    const other = `pdr-${'e'.repeat(32)}`;
    await links.create({ dedupKey: other, team: 'T0PROVIDER', channel: 'C0LINKS02', requester: 'UCUSTOMER2', summary: 'login fails', threadTs: '1796040000.888888' });
    await links.bind({ dedupKey: other, channel: 'C0LINKS02' }, 'Q0CHANNELS', 'alert');
    calls.length = 0;
    const told: string[][] = [];
    const followers = await links.followersOf('Q0CHANNELS', (channels) => {
      told.push([...channels].sort());
      // Told between the incident's read and the links' read.
      calls.push('told');
    });
    expect(told).toEqual([['C0LINKS01', 'C0LINKS02']]);
    expect(calls).toEqual(['Get', 'told', 'BatchGet']);
    expect(followers.map((link) => link.channel).sort()).toEqual(['C0LINKS01', 'C0LINKS02']);
    // An incident with no item tells nothing.
    const none: string[][] = [];
    expect(await links.followersOf('Q0NOBODY', (channels) => none.push(channels))).toEqual([]);
    expect(none).toEqual([]);
  });

  it('a link already held stays as first bound: by the same incident on other evidence, or by another incident', async () => {
    const dedupKey = await created();
    await links.bind(linkOf(dedupKey), 'Q0HOLDER', 'own-key');
    expect(await links.bind(linkOf(dedupKey), 'Q0HOLDER', 'alert')).toMatchObject({ bound: false, link: { incidentId: 'Q0HOLDER', heldBy: 'own' } });
    expect(await links.bind(linkOf(dedupKey), 'Q0OTHER', 'alert')).toMatchObject({ bound: false, link: { incidentId: 'Q0HOLDER', heldBy: 'own' } });
    expect((await links.get(dedupKey))).toMatchObject({ incidentId: 'Q0HOLDER', heldBy: 'own' });
  });

  it('a bound link moves only on a merge from the incident that holds it', async () => {
    const dedupKey = await created();
    await links.bind(linkOf(dedupKey), 'Q0MERGED', 'own-key');
    expect(await links.bind(linkOf(dedupKey), 'Q0TARGET', 'merge', 'Q0NOTHOLDER')).toMatchObject({ bound: false, link: { incidentId: 'Q0MERGED' } });
    expect(await links.bind(linkOf(dedupKey), 'Q0TARGET', 'merge', 'Q0MERGED')).toMatchObject({ bound: true, link: { incidentId: 'Q0TARGET', heldBy: 'merged' } });
    // The same merge again (a redelivery) finds it moved.
    expect(await links.bind(linkOf(dedupKey), 'Q0TARGET', 'merge', 'Q0MERGED')).toMatchObject({ bound: false, link: { incidentId: 'Q0TARGET', heldBy: 'merged' } });
  });

  it('the no-incident notice and the incident\'s binding decide on the one item: whichever comes first, the other sees it', async () => {
    // Noted first: the binding that follows carries the note, so the opening is told after the notice.
    const noticed = await created();
    expect(await links.noteNoIncidentNotice(noticed, '2026-12-06T10:00:00.000Z')).toBe(true);
    expect(await links.noteNoIncidentNotice(noticed, '2026-12-06T10:05:00.000Z')).toBe(true);
    expect((await links.bind(linkOf(noticed), 'Q0LATE', 'own-key')).link).toMatchObject({ heldBy: 'own', noIncidentToldAt: '2026-12-06T10:00:00.000Z' });
    // Bound first: no notice goes out (the incident's opening is what the confirmation says).
    const bound = await created();
    await links.bind(linkOf(bound), 'Q0EARLY', 'own-key');
    expect(await links.noteNoIncidentNotice(bound, '2026-12-06T10:00:00.000Z')).toBe(false);
    expect(await links.get(bound)).not.toHaveProperty('noIncidentToldAt');
  });

  it('settles a triggered escalation with its channel number in one write, and a second settle keeps the first', async () => {
    const dedupKey = await created();
    expect(await links.settle(dedupKey, { state: 'triggered', ref: 4 })).toMatchObject({ state: 'triggered', ref: 4 });
    expect(calls).toEqual(['Update']);
    expect(await links.settle(dedupKey, { state: 'triggered', ref: 5 })).toMatchObject({ state: 'triggered', ref: 4 });
    expect(await links.get(dedupKey)).toMatchObject({ state: 'triggered', ref: 4 });
  });

  it('keeps a number given before the settle (links settled by the earlier two-step order)', async () => {
    const dedupKey = await created();
    await links.setRef(dedupKey, 2);
    expect(await links.settle(dedupKey, { state: 'triggered', ref: 3 })).toMatchObject({ state: 'triggered', ref: 2 });
  });

  it('settles a rejected escalation with the reason and no number, out of the open-link list', async () => {
    const dedupKey = await created();
    const rejected = await links.settle(dedupKey, { state: 'rejected', reason: 'Invalid routing key' });
    expect(rejected).toMatchObject({ state: 'rejected', rejectedReason: 'Invalid routing key' });
    expect(rejected.ref).toBeUndefined();
    const open = await links.listOpen({ limit: 1000 });
    expect(open.links.map((link) => link.dedupKey)).not.toContain(dedupKey);
  });
});
