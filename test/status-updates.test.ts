import type { LocalStack } from '../local/stack';
import type { StandInIncident } from '../local/stand-ins/pagerduty';
import { post, signedWebhook } from '../local/requests';
import { botMessages, confirmationOf, mention, startTestStack } from './helpers/stack';
import { fixture } from './fixtures';

// A real capture of PagerDuty's v3 webhook (test/fixtures/SOURCES.md).
const CAPTURE = 'pagerduty/incident.status_update_published.json';

describe('status updates (incident.status_update_published), through the local stack', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(() => stack.stop());

  async function escalate(channel: string, text: string): Promise<StandInIncident> {
    await mention(stack, channel, `escalate ${text}`);
    await stack.waitForIdle();
    const incident = [...stack.pagerDuty!.incidents.values()].find((i) => (i.payload.custom_details as { channel_id?: string } | undefined)?.channel_id === channel);
    if (!incident) throw new Error(`no incident for ${channel}`);
    return incident;
  }

  const updatesIn = (channel: string) => botMessages(stack, channel).filter((m) => /status update from/.test(m.text ?? ''));

  it('posts once in the thread of every channel the incident holds, escaped, attributed; nothing elsewhere; duplicates and the real capture included', async () => {
    const acme = await escalate('CSUACME', 'checkout is down');
    const globex = await escalate('CSUGLOBEX', 'payments time out');
    await escalate('CSUOTHER', 'unrelated slowness');
    // On-call merges Globex's incident into Acme's: the incident now holds both escalations.
    stack.pagerDuty!.merge(globex.id, acme.id);
    await stack.waitForIdle();

    const text = 'DB lock found <!channel> & <@U0ADMIN>; fix in 30 min';
    stack.pagerDuty!.publishStatusUpdate(acme.id, text, 'Dana Scully');
    await stack.waitForIdle();
    // PagerDuty delivers at least once: the same event again, under a new webhook id, posts nothing more.
    const body = stack.pagerDuty!.statusUpdateBody(acme, text, 'Dana Scully', new Date().toISOString(), 'E-SU-DUP');
    for (const webhookId of ['wh-su-1', 'wh-su-2', 'wh-su-1']) {
      expect((await post(`${stack.url}/pagerduty/webhooks`, signedWebhook(stack.secrets.PAGER_DUTY_SIGNING_KEY, body, webhookId))).status).toBe(202);
    }
    await stack.waitForIdle();

    for (const channel of ['CSUACME', 'CSUGLOBEX']) {
      const updates = updatesIn(channel);
      // The stand-in's own delivery and the hand-sent event: two distinct updates, each once.
      expect(updates).toHaveLength(2);
      const [confirmation] = confirmationOf(stack, channel);
      expect(updates.every((m) => m.threadTs === confirmation!.threadTs)).toBe(true);
      for (const m of updates) {
        expect(m.text).toContain('status update from Dana Scully');
        expect(m.text).toContain('DB lock found &lt;!channel&gt; &amp; &lt;@U0ADMIN&gt;; fix in 30 min');
        expect(JSON.stringify(m.blocks)).not.toContain('<!channel>');
        expect(JSON.stringify(m.blocks)).not.toContain('<@U0ADMIN>');
        expect(JSON.stringify(m)).not.toContain(acme.id);
        expect(JSON.stringify(m)).not.toContain(acme.title);
      }
    }
    expect(updatesIn('CSUOTHER')).toEqual([]);

    // The real capture, for this incident: its message, its author (a user_reference), once per channel.
    const capture = fixture<{ event: { id: string; data: { incident: { id: string }; message: string } } }>(CAPTURE);
    capture.event.data.incident.id = acme.id;
    expect((await post(`${stack.url}/pagerduty/webhooks`, signedWebhook(stack.secrets.PAGER_DUTY_SIGNING_KEY, capture, 'wh-capture'))).status).toBe(202);
    await stack.waitForIdle();
    for (const channel of ['CSUACME', 'CSUGLOBEX']) {
      const fromCapture = updatesIn(channel).filter((m) => String(m.metadata?.event_payload.key).startsWith(`pd:${capture.event.id}:`));
      expect(fromCapture).toHaveLength(1);
      expect(fromCapture[0]!.text).toContain('status update from Harsh Santwani');
      expect(fromCapture[0]!.text).toContain('Investigating a P1 incident with the Checkout API');
    }
    expect(updatesIn('CSUOTHER')).toEqual([]);
    expect(await stack.dlq('pagerduty')).toEqual([]);
  });

  it('says "the on-call team" when the author is not a person or names are off', async () => {
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
    const note = { event: { id: 'E-NOTE', event_type: 'incident.annotated', resource_type: 'incident', occurred_at: new Date().toISOString(), agent: null, client: null, data: { incident: { id: incident.id, type: 'incident_reference' }, content: 'root cause: our mistake', type: 'incident_note' } } };
    const empty = stack.pagerDuty!.statusUpdateBody(incident, ' ', 'Dana Scully');
    for (const body of [note, empty]) expect((await post(`${stack.url}/pagerduty/webhooks`, signedWebhook(stack.secrets.PAGER_DUTY_SIGNING_KEY, body))).status).toBe(202);
    await stack.waitForIdle();
    expect(stack.slack!.channelMessages('CSUNOTE')).toHaveLength(before);
  });
});
