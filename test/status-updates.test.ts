import type { LocalStack } from '../local/stack';
import type { StandInIncident } from '../local/stand-ins/pagerduty';
import { signedWebhook } from '../local/events/pagerduty';
import { post } from '../local/events/request';
import { botMessages, confirmationOf, effectKeyOf, escalateGrouped, mention, startTestStack } from './support/stack';
import { ensureCustomer } from '../local/world/customers';
import { fixture } from './fixtures';

// A real capture of PagerDuty's v3 webhook (test/fixtures/SOURCES.md).
const CAPTURE = 'pagerduty/incident.status_update_published.json';
const COMBINED = /status update on the combined incident/;

describe('status updates (incident.status_update_published), through the local stack', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    // Notes on: on-call is told which customers follow each incident.
    stack = await startTestStack({ env: { PAGER_DUTY_FROM_EMAIL: 'oncall@provider.test' } });
  });
  afterAll(() => stack.stop());

  async function escalate(channel: string, text: string, name?: string): Promise<StandInIncident> {
    if (name) await ensureCustomer(stack, channel, { name });
    await mention(stack, channel, `escalate ${text}`);
    await stack.waitForIdle();
    const incident = [...stack.pagerDuty!.incidents.values()].find((i) => (i.payload.custom_details as { channel_id?: string } | undefined)?.channel_id === channel);
    if (!incident) throw new Error(`no incident for ${channel}`);
    return incident;
  }

  const updatesIn = (channel: string) => botMessages(stack, channel).filter((m) => /status update from/.test(m.text ?? ''));
  const combinedIn = (channel: string) => botMessages(stack, channel).filter((m) => COMBINED.test(m.text ?? ''));
  const everything = (channel: string) => JSON.stringify(stack.slack!.calls.filter((c) => c.channel === channel));
  const notesOn = (incident: StandInIncident) => stack.pagerDuty!.notes.filter((n) => n.incidentId === incident.id && n.content.startsWith('pd-router: this incident is followed'));

  it('an escalation’s own incident that holds nothing else: the text, once, escaped, invisible characters removed, attributed; duplicates and the real capture included', async () => {
    const acme = await escalate('CSUACME', 'checkout is down');
    await escalate('CSUOTHER', 'unrelated slowness');

    const text = 'DB lock found <!channel> & <@U0ADMIN>; fix in\u202E 30 min\u200B';
    stack.pagerDuty!.publishStatusUpdate(acme.id, text, 'Dana Scully');
    await stack.waitForIdle();
    // PagerDuty delivers at least once: the same event again, under a new webhook id, posts nothing more.
    const body = stack.pagerDuty!.statusUpdateBody(acme, text, 'Dana Scully', new Date().toISOString(), 'E-SU-DUP');
    for (const webhookId of ['wh-su-1', 'wh-su-2', 'wh-su-1']) {
      expect((await post(`${stack.url}/pagerduty/webhooks`, signedWebhook(stack.secrets.PAGER_DUTY_SIGNING_KEY, body, webhookId))).status).toBe(202);
    }
    await stack.waitForIdle();

    const updates = updatesIn('CSUACME');
    // The stand-in's own delivery and the hand-sent event: two distinct updates, each once.
    expect(updates).toHaveLength(2);
    const [confirmation] = confirmationOf(stack, 'CSUACME');
    expect(updates.every((m) => m.threadTs === confirmation!.threadTs)).toBe(true);
    for (const m of updates) {
      expect(m.text).toContain('status update from Dana Scully');
      expect(m.text).toContain('DB lock found &lt;!channel&gt; &amp; &lt;@U0ADMIN&gt;; fix in 30 min (');
      expect(JSON.stringify(m)).not.toMatch(/\\u202e|\\u200b|\u202E|\u200B/i);
      expect(JSON.stringify(m.blocks)).not.toContain('<!channel>');
      expect(JSON.stringify(m.blocks)).not.toContain('<@U0ADMIN>');
      expect(JSON.stringify(m)).not.toContain(acme.id);
      expect(JSON.stringify(m)).not.toContain(acme.title);
    }
    expect(combinedIn('CSUACME')).toEqual([]);
    expect(updatesIn('CSUOTHER')).toEqual([]);

    // The real capture, for this incident: its message, its author (a user_reference), once.
    const capture = fixture<{ event: { id: string; data: { incident: { id: string }; message: string } } }>(CAPTURE);
    capture.event.data.incident.id = acme.id;
    // Sent now: a webhook as old as the capture's own time is a replay, refused (WEBHOOK_MAX_AGE_MS).
    (capture.event as { occurred_at?: string }).occurred_at = new Date().toISOString();
    expect((await post(`${stack.url}/pagerduty/webhooks`, signedWebhook(stack.secrets.PAGER_DUTY_SIGNING_KEY, capture, 'wh-capture'))).status).toBe(202);
    await stack.waitForIdle();
    const fromCapture = updatesIn('CSUACME').filter((m) => String(m.metadata?.event_payload.key).startsWith(`pd:${capture.event.id}:`));
    expect(fromCapture).toHaveLength(1);
    expect(fromCapture[0]!.text).toContain('status update from Harsh Santwani');
    expect(fromCapture[0]!.text).toContain('Investigating a P1 incident with the Checkout API');
    expect(updatesIn('CSUOTHER')).toEqual([]);
    // Its own incident, followed by Acme alone (the trigger names it): no note for on-call.
    expect(notesOn(acme)).toEqual([]);
    expect(await stack.dlq('pagerduty')).toEqual([]);
  });

  it('grouping: Globex’s alert grouped into Acme’s incident; an update naming Acme reaches neither thread as text, each sees the combined line and the status; on-call is told both follow, once', async () => {
    const acme = await escalate('CSUGRPACME', 'payroll export is failing', 'Acme Corp');
    const globexKey = await escalateGrouped(stack, 'CSUGRPGLOBEX', 'invoices time out', { name: 'Globex' });
    expect(stack.pagerDuty!.byKey(globexKey)).toBe(acme); // PagerDuty put Globex's alert into Acme's incident
    stack.pagerDuty!.acknowledge(acme.id, 'Fox Mulder');
    await stack.waitForIdle();

    const secret = "Acme: we have stopped the payroll export that exposed your employees' SSNs";
    stack.pagerDuty!.publishStatusUpdate(acme.id, secret, 'Fox Mulder');
    await stack.waitForIdle();
    // Its redelivery changes nothing.
    const again = stack.pagerDuty!.statusUpdateBody(acme, secret, 'Fox Mulder', new Date().toISOString(), 'E-SU-GRP');
    for (const webhookId of ['wh-grp-1', 'wh-grp-2']) await post(`${stack.url}/pagerduty/webhooks`, signedWebhook(stack.secrets.PAGER_DUTY_SIGNING_KEY, again, webhookId));
    await stack.waitForIdle();

    for (const channel of ['CSUGRPACME', 'CSUGRPGLOBEX']) {
      expect(everything(channel)).not.toContain('SSNs');
      expect(everything(channel)).not.toContain('payroll export that');
      expect(updatesIn(channel)).toEqual([]);
      const combined = combinedIn(channel);
      expect(combined).toHaveLength(2); // the stand-in's delivery and the hand-sent event
      for (const m of combined) expect(m.text).toMatch(/\(acknowledged\)$/);
      expect(everything(channel)).not.toContain('Fox Mulder: ');
    }
    expect(everything('CSUGRPGLOBEX')).not.toContain('payroll');
    expect(everything('CSUGRPACME')).not.toContain('invoices');

    // On-call: one note, when Globex was found in Acme's incident, naming both (redeliveries add none).
    const notes = notesOn(acme);
    expect(notes).toHaveLength(1);
    expect(notes[0]!.content).toContain('followed in Slack by Acme Corp, Globex.');
    expect(notes[0]!.content).toContain('the text of status updates is not shown to them while more than one customer follows');
    // A note never reaches a channel.
    for (const channel of ['CSUGRPACME', 'CSUGRPGLOBEX']) expect(everything(channel)).not.toContain('followed in Slack');
    expect(await stack.dlq('pagerduty')).toEqual([]);
  });

  it('three customers merged into an internal incident: a status update naming them reaches none as text; each sees the combined line once; on-call is told who follows, once per change', async () => {
    const incidents = [] as StandInIncident[];
    for (const [channel, name] of [['CSU3ACME', 'Acme Corp'], ['CSU3GLOBEX', 'Globex'], ['CSU3INITECH', 'Initech']] as const) incidents.push(await escalate(channel, `${name} reports errors`, name));
    const internal = stack.pagerDuty!.openInternal('INTERNAL: pg-shared-3 overloaded');
    await stack.waitForIdle();
    for (const incident of incidents) stack.pagerDuty!.merge(incident.id, internal.id, 'Dana Scully');
    await stack.waitForIdle();

    const rca = 'Root cause: Acme bulk import overloaded pg-shared-3; Globex and Initech degraded';
    // PagerDuty's next REST answer takes 0.8 s (inside the worker's deadline): three channels are
    // known to follow, so none may see the text whatever it says, and their posts do not wait for it.
    const restBefore = stack.pagerDuty!.restCalls.length;
    stack.pagerDuty!.faults.failNext('rest', 1, { kind: 'timeout', ms: 800 });
    stack.pagerDuty!.publishStatusUpdate(internal.id, rca, 'Dana Scully');
    await stack.waitForIdle();
    const listing = stack.pagerDuty!.restCalls.slice(restBefore).filter((c) => c.path.startsWith(`/incidents/${internal.id}/alerts`)).sort((a, b) => a.arrivedAt - b.arrivedAt)[0]!;
    const published = stack.pagerDuty!.deliveries.find((d) => d.incidentId === internal.id && d.eventType === 'incident.status_update_published')!;
    const combinedPosts = stack.slack!.calls.filter((c) => c.method === 'chat.postMessage' && effectKeyOf(c)?.startsWith(`pd:${published.eventId}:`));
    expect(combinedPosts).toHaveLength(3);
    for (const post of combinedPosts) expect(post.arrivedAt).toBeLessThan(listing.arrivedAt + 800);

    for (const channel of ['CSU3ACME', 'CSU3GLOBEX', 'CSU3INITECH']) {
      expect(everything(channel)).not.toContain('Root cause');
      expect(everything(channel)).not.toContain('pg-shared-3');
      expect(updatesIn(channel)).toEqual([]);
      expect(combinedIn(channel)).toHaveLength(1);
      expect(combinedIn(channel)[0]!.text).toMatch(/\(triggered\)$/);
    }
    // The internal incident: a note per change of its followers (one, two, then three customers), the last naming all three.
    const notes = notesOn(internal);
    expect(notes.length).toBeGreaterThanOrEqual(1);
    expect(notes.length).toBeLessThanOrEqual(3);
    expect(notes.at(-1)!.content).toContain('followed in Slack by Acme Corp, Globex, Initech.');
    expect(new Set(notes.map((n) => n.content)).size).toBe(notes.length);
    expect(await stack.dlq('pagerduty')).toEqual([]);
  });

  it('says "the on-call team" when the author is not a person', async () => {
    const incident = await escalate('CSUAUTO', 'search is empty');
    stack.pagerDuty!.publishStatusUpdate(incident.id, 'Rolled back the deploy.', { integration: 'Internal: auto-remediation' });
    await stack.waitForIdle();
    const [update] = updatesIn('CSUAUTO');
    expect(update!.text).toContain('status update from the on-call team: Rolled back the deploy.');
    expect(JSON.stringify(stack.slack!.channelMessages('CSUAUTO'))).not.toContain('auto-remediation');
  });

  it('notes, responders and empty status updates stay internal and are answered 2xx', async () => {
    const incident = await escalate('CSUNOTE', 'emails bounce');
    const before = stack.slack!.channelMessages('CSUNOTE').length;
    const note = stack.pagerDuty!.noteBody(incident, { id: 'PNOTE1', content: 'root cause: our mistake', from: 'Dana Scully', at: new Date().toISOString() });
    const empty = stack.pagerDuty!.statusUpdateBody(incident, ' ', 'Dana Scully');
    for (const body of [note, empty]) expect((await post(`${stack.url}/pagerduty/webhooks`, signedWebhook(stack.secrets.PAGER_DUTY_SIGNING_KEY, body))).status).toBe(202);
    await stack.waitForIdle();
    expect(stack.slack!.channelMessages('CSUNOTE')).toHaveLength(before);
  });
});

describe('without PAGER_DUTY_FROM_EMAIL, on-call is told nothing and a shared incident still keeps its text', () => {
  it('adds no note, and the combined line replaces the text', async () => {
    const stack = await startTestStack();
    try {
      await mention(stack, 'CSUNNACME', 'escalate checkout is down');
      await mention(stack, 'CSUNNGLOBEX', 'escalate payments fail');
      await stack.waitForIdle();
      const [acme, globex] = ['CSUNNACME', 'CSUNNGLOBEX'].map((channel) => [...stack.pagerDuty!.incidents.values()].find((i) => (i.payload.custom_details as { channel_id?: string }).channel_id === channel)!);
      stack.pagerDuty!.merge(globex!.id, acme!.id);
      await stack.waitForIdle();
      stack.pagerDuty!.publishStatusUpdate(acme!.id, 'Globex was the cause', 'Dana Scully');
      await stack.waitForIdle();
      expect(stack.pagerDuty!.notes).toEqual([]);
      for (const channel of ['CSUNNACME', 'CSUNNGLOBEX']) {
        expect(JSON.stringify(stack.slack!.calls.filter((c) => c.channel === channel))).not.toContain('Globex was the cause');
        expect(botMessages(stack, channel).filter((m) => COMBINED.test(m.text ?? ''))).toHaveLength(1);
      }
    } finally {
      await stack.stop();
    }
  });
});

describe('an outage merged into one incident: on-call is told who follows once the merges settle', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    // Every webhook delivered twice, as PagerDuty may; merges settle over 4 s.
    stack = await startTestStack({ env: { PAGER_DUTY_FROM_EMAIL: 'oncall@provider.test', FOLLOWERS_NOTE_SETTLE_SECONDS: '4' }, standIns: { duplicateWebhooks: true } });
  });
  afterAll(() => stack.stop());

  it('ten merges in a few seconds: one note per settle window (not one per merge), the last naming all ten customers', async () => {
    const customers = Array.from({ length: 10 }, (_, i) => ({ channel: `CSUOUT${i}`, name: `Outage Customer ${String.fromCharCode(65 + i)}` }));
    for (const { channel, name } of customers) await ensureCustomer(stack, channel, { name });
    await Promise.all(customers.map(({ channel }) => mention(stack, channel, 'escalate everything is slow')));
    await stack.waitForIdle();
    const incidents = customers.map(({ channel }) => [...stack.pagerDuty!.incidents.values()].find((i) => (i.payload.custom_details as { channel_id?: string }).channel_id === channel)!);
    const internal = stack.pagerDuty!.openInternal('INTERNAL: region degraded');
    await stack.waitForIdle();
    // On-call merges one a quarter of a second apart: each merge is handled before the next comes.
    for (const incident of incidents) {
      stack.pagerDuty!.merge(incident.id, internal.id, 'Dana Scully');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await stack.waitForIdle();

    const notes = stack.pagerDuty!.notes.filter((n) => n.incidentId === internal.id && n.content.startsWith('pd-router: this incident is followed'));
    // Told at each merge, this was ten notes, each naming one customer more. The merges (2.5 s)
    // fall into one settle window, or two when they straddle a window's end.
    expect(notes.length).toBeGreaterThanOrEqual(1);
    expect(notes.length).toBeLessThanOrEqual(2);
    expect(notes.at(-1)!.content).toContain(`followed in Slack by ${customers.map((c) => c.name).join(', ')}.`);
    for (const { channel } of customers) {
      expect(botMessages(stack, channel).filter((m) => /handled together/.test(m.text ?? ''))).toHaveLength(1);
      expect(JSON.stringify(stack.slack!.calls.filter((c) => c.channel === channel))).not.toContain('followed in Slack');
    }
    expect(await stack.dlq('pagerduty')).toEqual([]);
  });
});
