import type { LocalStack } from '../local/stack';
import type { StandInIncident } from '../local/stand-ins/pagerduty';
import { incidentWebhookBody, signedWebhook, webhookIncident } from '../local/events/pagerduty';
import { post } from '../local/events/request';
import { botMessages, clickCheckStatus, confirmationOf, escalateGrouped, mention, postsWithKey, sendWebhook, startTestStack } from './support/stack';
import { drainQueue } from './support/queue';

type Status = 'triggered' | 'acknowledged' | 'resolved';
/** The incident's status after each step of the lifecycle the first test plays (reassigning re-triggers). */
const STEP_STATUS: Status[] = ['triggered', 'acknowledged', 'triggered', 'resolved'];

/** The status word a rendered message shows (the `*Status:*` field). */
function shownStatus(blocks: unknown): Status | undefined {
  const match = /\*Status:\* :[a-z_]+: (Triggered|Acknowledged|Resolved)/.exec(JSON.stringify(blocks ?? []));
  return match ? (match[1]!.toLowerCase() as Status) : undefined;
}

function shuffle<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let state = seed;
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('the update path, through the local stack', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startTestStack();
    stack.pagerDuty!.webhook = undefined; // webhooks are sent by hand here, in the order each test chooses
  });
  afterAll(() => stack.stop());

  async function escalateAndFind(channel: string, text: string): Promise<StandInIncident> {
    const { ts } = await mention(stack, channel, `escalate ${text}`);
    await stack.waitForIdle();
    const incident = [...stack.pagerDuty!.incidents.values()].find((i) => (i.payload.custom_details as { channel_id?: string } | undefined)?.channel_id === channel);
    if (!incident) throw new Error(`no incident for ${channel} (mention ${ts})`);
    return incident;
  }

  it('three customers: shuffled and duplicated webhooks reach only their own channel, and the shown status never moves back', async () => {
    const channels = ['CACME3', 'CGLOBEX3', 'CINITECH3'];
    const incidents = await Promise.all(channels.map((c, n) => escalateAndFind(c, `customer ${n} outage`)));
    // Within the hours a webhook may be late (WEBHOOK_MAX_AGE_MS): an older one is a replay and refused.
    const base = Date.now() - 24 * 3_600_000;
    const lifecycle = ['incident.triggered', 'incident.acknowledged', 'incident.reassigned', 'incident.resolved'];
    const deliveries = incidents.flatMap((incident, n) =>
      lifecycle.map((type, step) => ({ incident, type, at: new Date(base + n * 1000 + step * 60_000).toISOString(), id: `E-${incident.id}-${step}` })),
    );
    // Each event at least once, some twice, all in a shuffled order.
    const schedule = shuffle([...deliveries, ...deliveries.filter((_, i) => i % 3 === 0)], 7);
    for (const d of schedule) {
      d.incident.status = d.type === 'incident.resolved' ? 'resolved' : d.type === 'incident.acknowledged' ? 'acknowledged' : 'triggered';
      const response = await sendWebhook(stack, d.incident, d.type, d.at, d.id);
      expect(response.status).toBe(202);
    }
    await stack.waitForIdle();

    for (const [n, channel] of channels.entries()) {
      const incident = incidents[n]!;
      const updates = botMessages(stack, channel).filter((m) => String(m.metadata?.event_payload.key).startsWith('pd:'));
      // Exactly one post per distinct PagerDuty event, all in this channel's escalation thread;
      // none for its own incident opening (step 0), which its confirmation already says.
      const link = incident.incidentKey;
      expect(updates.map((m) => m.metadata!.event_payload.key).sort()).toEqual(lifecycle.slice(1).map((_, step) => `pd:E-${incident.id}-${step + 1}:${link}`).sort());
      const [confirmation] = confirmationOf(stack, channel);
      expect(updates.every((m) => m.threadTs === confirmation!.threadTs)).toBe(true);
      // Nothing about another customer's incident in this channel.
      const others = incidents.filter((i) => i !== incident);
      const everything = JSON.stringify(stack.slack!.channelMessages(channel));
      for (const other of others) {
        expect(everything).not.toContain(other.id);
        expect(everything).not.toContain(other.title);
        expect(everything).not.toContain(other.incidentKey);
      }
      // Each post shows the status of the newest event (by occurred_at) seen so far, whatever order
      // they came in: an older event never moves the shown status back.
      let newest = -1;
      for (const post of updates) {
        newest = Math.max(newest, Number(String(post.metadata!.event_payload.key).split(':')[1]!.split('-').pop()));
        expect(shownStatus(post.blocks)).toBe(STEP_STATUS[newest]);
      }
      const versions = [...confirmation!.history, confirmation!].map((v) => shownStatus(v.blocks));
      expect(versions.slice(versions.indexOf('resolved')).every((v) => v === 'resolved')).toBe(true);
      expect(shownStatus(confirmation!.blocks)).toBe('resolved');
    }
    const sentTo = new Set(stack.slack!.calls.filter((c) => c.method.startsWith('chat.')).map((c) => c.channel));
    expect([...sentTo].filter((c) => !String(c).startsWith('C'))).toEqual([]);
  });

  it('a channel known to follow the incident is told before PagerDuty is asked anything; an alert grouped in is found after and told once', async () => {
    const acme = await escalateAndFind('CFIRSTACME', 'the API answers 500');
    const globexKey = await escalateGrouped(stack, 'CFIRSTGLOBEX', 'invoices time out', { name: 'Globex' });
    expect(stack.pagerDuty!.byKey(globexKey)).toBe(acme); // PagerDuty grouped Globex's alert into Acme's incident

    // Acme's link is known from the webhook's own key: its post is the first thing that happens.
    const postOf = (key: string) => postsWithKey(stack, key)[0];
    const restBefore = stack.pagerDuty!.restCalls.length;
    acme.status = 'acknowledged';
    expect((await sendWebhook(stack, acme, 'incident.acknowledged', new Date().toISOString(), 'E-first-ack')).status).toBe(202);
    await stack.waitForIdle();
    const acmePost = postOf(`pd:E-first-ack:${acme.incidentKey}`);
    expect(acmePost).toBeDefined();
    const rest = stack.pagerDuty!.restCalls.slice(restBefore);
    expect(rest.filter((c) => c.arrivedAt < acmePost!.arrivedAt)).toEqual([]);
    // Then the alert listing, which finds Globex: told after, in its own thread.
    expect(rest.some((c) => c.path.startsWith(`/incidents/${acme.id}/alerts`))).toBe(true);
    const globexPost = postOf(`pd:E-first-ack:${globexKey}`);
    expect(globexPost).toBeDefined();
    expect(globexPost!.arrivedAt).toBeGreaterThan(acmePost!.arrivedAt);

    // The next event: both are known now and each is told by a message of its own, queued before
    // PagerDuty is asked; the only REST call is the alert listing. A redelivery posts nothing again.
    const restBeforeSecond = stack.pagerDuty!.restCalls.length;
    acme.status = 'resolved';
    for (let delivery = 0; delivery < 2; delivery++) expect((await sendWebhook(stack, acme, 'incident.resolved', new Date().toISOString(), 'E-first-res')).status).toBe(202);
    await stack.waitForIdle();
    const resolvedPosts = [acme.incidentKey, globexKey].map((key) => postsWithKey(stack, `pd:E-first-res:${key}`));
    for (const posts of resolvedPosts) expect(posts).toHaveLength(1);
    const restPaths = new Set(stack.pagerDuty!.restCalls.slice(restBeforeSecond).map((c) => c.path.split('?')[0]));
    expect([...restPaths]).toEqual([`/incidents/${acme.id}/alerts`]);
    for (const channel of ['CFIRSTACME', 'CFIRSTGLOBEX']) {
      const keys = botMessages(stack, channel).map((m) => String(m.metadata?.event_payload.key));
      expect(keys.filter((k) => k.startsWith('joined:'))).toHaveLength(channel === 'CFIRSTGLOBEX' ? 1 : 0);
      expect(keys.filter((k) => k.startsWith('pd:E-first-'))).toHaveLength(2);
    }
    expect(await stack.dlq('pagerduty')).toEqual([]);
  });

  it('Check Status from the incident\'s own channel shows its live status to the clicker only', async () => {
    const incident = await escalateAndFind('CSTATUS', 'reports are late');
    stack.pagerDuty!.reassign(incident.id, 'Fox Mulder');
    stack.pagerDuty!.acknowledge(incident.id, 'Fox Mulder');
    const restBefore = stack.pagerDuty!.restCalls.length;
    await clickCheckStatus(stack, 'CSTATUS', incident.incidentKey, 'UCLICKER');
    await stack.waitForIdle();
    const ephemerals = stack.slack!.ephemerals.filter((e) => e.channel === 'CSTATUS');
    expect(ephemerals).toHaveLength(1);
    expect(ephemerals[0]).toMatchObject({ user: 'UCLICKER' });
    const shown = JSON.stringify(ephemerals[0]!.blocks);
    expect(shown).toContain('Acknowledged');
    expect(shown).toContain('Fox Mulder');
    expect(shown).not.toMatch(/@provider\.test/);
    expect(stack.pagerDuty!.restCalls.length).toBeGreaterThan(restBefore);
  });

  it('Check Status from another channel is refused politely, with no incident data and no call to PagerDuty', async () => {
    const incident = await escalateAndFind('COWNER', 'secret project outage');
    const restBefore = stack.pagerDuty!.restCalls.length;
    await clickCheckStatus(stack, 'CINTRUDER', incident.incidentKey, 'UOTHER');
    await clickCheckStatus(stack, 'CINTRUDER', 'pdr-forged-value', 'UOTHER');
    await stack.waitForIdle();
    const ephemerals = stack.slack!.ephemerals.filter((e) => e.channel === 'CINTRUDER');
    expect(ephemerals).toHaveLength(2);
    for (const e of ephemerals) {
      expect(e.text).toMatch(/doesn't belong to this channel/);
      expect(JSON.stringify(e)).not.toMatch(new RegExp(`${incident.id}|secret project|#${incident.number}\\b|${incident.incidentKey}`));
    }
    expect(stack.pagerDuty!.restCalls.length).toBe(restBefore);
    expect(botMessages(stack, 'CINTRUDER')).toEqual([]);
  });

  it('an incident not raised from Slack posts nothing anywhere', async () => {
    const callsBefore = stack.slack!.calls.length;
    const foreign: StandInIncident = { id: 'QFOREIGN', number: 999, title: 'Disk full on db-7', status: 'acknowledged', urgency: 'high', incidentKey: 'not-ours', assignees: ['X'], createdAt: '', lastStatusChangeAt: '', alertKeys: ['not-ours'], payload: {} };
    stack.pagerDuty!.incidents.set(foreign.id, foreign);
    expect((await sendWebhook(stack, foreign, 'incident.acknowledged', new Date().toISOString(), 'E-foreign')).status).toBe(202);
    await stack.waitForIdle();
    expect(stack.slack!.calls.slice(callsBefore).filter((c) => c.method.startsWith('chat.'))).toEqual([]);
  });

  it('without incident_key the link is found through the incident\'s alerts, then followed by the incident', async () => {
    const incident = await escalateAndFind('CALERTS', 'queue backlog');
    const keyless = { ...incident, incidentKey: '', status: 'acknowledged' as const };
    const body = stack.pagerDuty!.webhookBody(keyless, 'incident.acknowledged', 'Dana Scully', new Date().toISOString(), 'E-keyless-1');
    (body.event.data as Record<string, unknown>).incident_key = null;
    await post(`${stack.url}/pagerduty/webhooks`, signedWebhook(stack.secrets.PAGER_DUTY_SIGNING_KEY, body, 'wh-keyless-1'));
    await stack.waitForIdle();
    expect(stack.pagerDuty!.restCalls.filter((c) => c.path.startsWith(`/incidents/${incident.id}/alerts`)).length).toBe(1);
    const second = stack.pagerDuty!.webhookBody({ ...keyless, status: 'resolved' }, 'incident.resolved', 'Dana Scully', new Date(Date.now() + 1000).toISOString(), 'E-keyless-2');
    (second.event.data as Record<string, unknown>).incident_key = null;
    await post(`${stack.url}/pagerduty/webhooks`, signedWebhook(stack.secrets.PAGER_DUTY_SIGNING_KEY, second, 'wh-keyless-2'));
    await stack.waitForIdle();
    const posts = botMessages(stack, 'CALERTS').filter((m) => String(m.metadata?.event_payload.key).startsWith('pd:'));
    // The channel's own reference, never PagerDuty's number.
    expect(posts.map((m) => m.text)).toEqual(['Escalation #1: Acknowledged by Dana Scully (acknowledged)', 'Escalation #1: Resolved by Dana Scully (resolved)']);
    expect(JSON.stringify(stack.slack!.channelMessages('CALERTS'))).not.toContain(`#${incident.number}`);
  });

  it('a ping is answered 2xx; a bad signature 401 with nothing enqueued', async () => {
    const ping = await post(`${stack.url}/pagerduty/webhooks`, signedWebhook(stack.secrets.PAGER_DUTY_SIGNING_KEY, { event: { id: 'P1', event_type: 'pagey.ping', resource_type: 'pagey', occurred_at: new Date().toISOString(), agent: null, client: null, data: {} } }));
    expect(ping.status).toBe(202);
    const forged = await post(`${stack.url}/pagerduty/webhooks`, signedWebhook('not-the-key', incidentWebhookBody(webhookIncident({ id: 'QX', status: 'resolved' }), 'incident.resolved', { by: null, eventId: 'E-forged' })));
    expect(forged.status).toBe(401);
    expect(await drainQueue(stack.sqs.client, stack.sqs.queues.pagerduty.url)).toEqual([]);
  });

  it('a channel that is gone (archived) is logged and dropped, not retried', async () => {
    const incident = await escalateAndFind('CARCHIVED', 'old customer');
    stack.slack!.archived.add('CARCHIVED');
    const callsBefore = stack.slack!.calls.filter((c) => c.channel === 'CARCHIVED').length;
    await sendWebhook(stack, incident, 'incident.acknowledged', new Date().toISOString(), 'E-archived');
    await stack.waitForIdle();
    const calls = stack.slack!.calls.filter((c) => c.channel === 'CARCHIVED').length - callsBefore;
    expect(calls).toBeLessThanOrEqual(2); // one post and one update, each answered is_archived once
    expect(await stack.dlq('pagerduty')).toEqual([]);
  });
});
