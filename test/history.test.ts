import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { makeDocumentClient } from '../lib/store/dynamo';
import { makeHistory, type History, type HistoryRecord } from '../lib/store/history';
import type { LocalStack } from '../local/stack';
import type { StandInIncident } from '../local/stand-ins/pagerduty';
import { post } from '../local/events/request';
import { checkStatusPayload, signedSlackForm, slashCommandForm } from '../local/events/slack';
import { botMessages, mention, sendWebhook, startTestStack } from './support/stack';
import { ensureCustomer } from '../local/world/customers';

/**
 * The history is written by the paths that see each step, once whatever retries, redeliveries
 * and crashes come, and records every outcome (docs/reports.md).
 */
describe('the escalation history, through the local stack', () => {
  let stack: LocalStack;
  let history: History;
  let crashes = 0;
  /** The pagerduty-worker's crash waits for the acknowledgement (the incident's own opening webhook comes first). */
  let armed = false;

  beforeAll(async () => {
    stack = await startTestStack({
      reconcileEverySeconds: 3600,
      noIncidentAfterSeconds: 0,
      checkpoint: {
        // Each worker dies once: the slack-worker after PagerDuty accepted and the link was settled,
        // before anything else; the pagerduty-worker after recording a status, before posting it.
        slack: (step) => {
          if (step === 'triggered' && crashes === 0) {
            crashes++;
            throw new Error('injected crash after the settle');
          }
        },
        pagerDuty: (step) => {
          if (step === 'status-recorded' && armed && crashes === 1) {
            crashes++;
            throw new Error('injected crash after the status');
          }
        },
      },
    });
    history = makeHistory(makeDocumentClient({ AWS_ENDPOINT_URL_DYNAMODB: stack.dynamo.endpoint }), stack.dynamo.tableName, { ttlDays: 400 });
  });
  afterAll(() => stack.stop());

  const recordsOf = (channel: string) => history.query({ from: new Date(Date.now() - 86_400_000), to: new Date(Date.now() + 60_000), channel });
  const incidentOf = (channel: string): StandInIncident => [...stack.pagerDuty!.incidents.values()].find((i) => (i.payload.custom_details as { channel_id?: string }).channel_id === channel)!;
  const linkOf = async (dedupKey: string) => (await makeDocumentClient({ AWS_ENDPOINT_URL_DYNAMODB: stack.dynamo.endpoint }).send(new GetCommand({ TableName: stack.dynamo.tableName, Key: { pk: `link#${dedupKey}` } }))).Item!;

  it('a page, its acknowledgement and its resolution are recorded once through Slack retries, a crash in each worker and webhook redeliveries', async () => {
    const channel = 'CHISTPAGED';
    await mention(stack, channel, 'escalate the checkout is down since 09:00', { retries: 2 });
    await stack.waitForIdle();
    expect(crashes).toBe(1);
    const incident = incidentOf(channel);
    armed = true;
    stack.pagerDuty!.acknowledge(incident.id, 'Dana Scully');
    await stack.waitForIdle();
    expect(crashes).toBe(2);
    const [first] = await recordsOf(channel);
    // A later acknowledgement (a redelivery, a second acknowledger) keeps the first one's time.
    await sendWebhook(stack, { ...incident, status: 'acknowledged' }, 'incident.acknowledged', new Date(Date.now() + 5_000).toISOString(), 'E-hist-ack-again');
    stack.pagerDuty!.resolve(incident.id, 'Dana Scully');
    await stack.waitForIdle();

    const records = await recordsOf(channel);
    expect(records).toHaveLength(1);
    const [record] = records as [HistoryRecord];
    const link = await linkOf(record.dedupKey);
    expect(record).toEqual({
      dedupKey: link.dedupKey,
      channel,
      askedAt: link.createdAt,
      outcome: 'paged',
      pagedAt: link.acceptedAt,
      ref: 1,
      acknowledgedAt: first!.acknowledgedAt,
      resolvedAt: expect.any(String),
    });
    expect(record.acknowledgedAt! >= record.pagedAt!).toBe(true);
    expect(record.resolvedAt! >= record.acknowledgedAt!).toBe(true);
    // Times and outcomes only: not the customer's words, nor who asked or answered.
    const stored = JSON.stringify((await makeDocumentClient({ AWS_ENDPOINT_URL_DYNAMODB: stack.dynamo.endpoint }).send(new GetCommand({ TableName: stack.dynamo.tableName, Key: { pk: `history#${record.dedupKey}` } }))).Item);
    expect(stored).not.toMatch(/checkout|Dana|UCUSTOMER1/);
  });

  it('records why nobody was paged: not registered, paused (shared with an organization nobody approved), folded over the budget, cancelled', async () => {
    await mention(stack, 'CHISTNOBODY', 'escalate help', { unregistered: true });
    await ensureCustomer(stack, 'CHISTPAUSED');
    await stack.customers.recordSharedWith('CHISTPAUSED', ['T0STRANGER']);
    await mention(stack, 'CHISTPAUSED', 'escalate help', { retries: 1 });
    await ensureCustomer(stack, 'CHISTFOLDED', { pagesPerHour: 1 });
    await mention(stack, 'CHISTFOLDED', 'escalate first');
    await stack.waitForIdle();
    await mention(stack, 'CHISTFOLDED', 'escalate second');
    await ensureCustomer(stack, 'CHISTCANCEL', { confirm: true });
    await mention(stack, 'CHISTCANCEL', 'escalate never mind');
    await stack.waitForIdle();
    const prompt = botMessages(stack, 'CHISTCANCEL').find((m) => String(m.metadata?.event_payload.key).startsWith('prompt:'))!;
    const dedupKey = String(prompt.metadata!.event_payload.key).slice('prompt:'.length);
    const click = () => post(`${stack.url}/slack/events`, signedSlackForm(stack.secrets.SLACK_SIGNING_SECRET, { payload: JSON.stringify(checkStatusPayload({ channel: 'CHISTCANCEL', value: dedupKey, user: 'UCLICKER1', actionId: 'cancel_page' })) }));
    await click();
    await click();
    await stack.waitForIdle();

    expect(await recordsOf('CHISTNOBODY')).toEqual([expect.objectContaining({ outcome: 'refused', reason: 'unregistered' })]);
    expect(await recordsOf('CHISTPAUSED')).toEqual([expect.objectContaining({ outcome: 'refused', reason: 'paused' })]);
    expect((await recordsOf('CHISTFOLDED')).map((r) => r.outcome)).toEqual(['paged', 'folded']);
    expect(await recordsOf('CHISTCANCEL')).toEqual([expect.objectContaining({ outcome: 'cancelled', reason: 'cancelled' })]);
  });

  it('records a refusal of a person of an organization nobody approved (not-approved)', async () => {
    await ensureCustomer(stack, 'CHISTSTRANGER');
    // The slash command from someone whose own workspace is neither the provider's nor approved.
    const form = slashCommandForm({ team: 'T0STRANGER', channel: 'CHISTSTRANGER', user: 'USTRANGER1', text: 'escalate let me in', triggerId: 'trigger-stranger', responseUrl: stack.slack!.responseUrl('CHISTSTRANGER', 'USTRANGER1') });
    expect((await post(`${stack.url}/slack/events`, signedSlackForm(stack.secrets.SLACK_SIGNING_SECRET, form))).status).toBe(200);
    await stack.waitForIdle();
    expect(stack.pagerDuty!.triggers.filter((t) => (t.payload.custom_details as { channel_id?: string } | undefined)?.channel_id === 'CHISTSTRANGER')).toEqual([]);
    expect(await recordsOf('CHISTSTRANGER')).toEqual([expect.objectContaining({ outcome: 'refused', reason: 'not-approved' })]);
  });

  it('records a trigger PagerDuty refused, and a prompt nobody answered that the reconciler expires', async () => {
    stack.pagerDuty!.faults.failNext('events', 1, { kind: 'status', status: 400 });
    await ensureCustomer(stack, 'CHISTREJECT');
    await mention(stack, 'CHISTREJECT', 'escalate with a broken key');
    await ensureCustomer(stack, 'CHISTEXPIRE', { confirm: true });
    await mention(stack, 'CHISTEXPIRE', 'escalate is anyone there');
    await stack.waitForIdle();
    expect(await recordsOf('CHISTEXPIRE')).toEqual([expect.not.objectContaining({ outcome: expect.anything() })]);
    const [asked] = await recordsOf('CHISTEXPIRE');
    // Sixteen minutes pass without a click (the link's clock moved back; the history keeps when it was asked).
    const db = makeDocumentClient({ AWS_ENDPOINT_URL_DYNAMODB: stack.dynamo.endpoint });
    await db.send(new UpdateCommand({ TableName: stack.dynamo.tableName, Key: { pk: `link#${asked!.dedupKey}` }, UpdateExpression: 'SET createdAt = :at', ExpressionAttributeValues: { ':at': new Date(Date.now() - 16 * 60_000).toISOString() } }));
    await stack.reconcile();
    expect(await recordsOf('CHISTREJECT')).toEqual([expect.objectContaining({ outcome: 'rejected' })]);
    expect(await recordsOf('CHISTEXPIRE')).toEqual([{ ...asked, outcome: 'cancelled', reason: 'expired' }]);
  });

  it('records an accepted trigger no incident holds (the reconciler), and an escalation merged into another customer\'s incident (a count, never who)', async () => {
    stack.pagerDuty!.setMaintenance(true);
    await ensureCustomer(stack, 'CHISTNOINC');
    await mention(stack, 'CHISTNOINC', 'escalate anyone there');
    await stack.waitForIdle();
    stack.pagerDuty!.setMaintenance(false);
    await stack.reconcile();
    const [noIncident] = await recordsOf('CHISTNOINC');
    expect(noIncident).toMatchObject({ outcome: 'paged', noIncidentAt: expect.any(String) });
    expect(noIncident!.acknowledgedAt).toBeUndefined();

    await mention(stack, 'CHISTMERGEA', 'escalate api errors');
    await mention(stack, 'CHISTMERGEB', 'escalate api errors here too');
    await stack.waitForIdle();
    stack.pagerDuty!.merge(incidentOf('CHISTMERGEA').id, incidentOf('CHISTMERGEB').id);
    await stack.waitForIdle();
    stack.pagerDuty!.acknowledge(incidentOf('CHISTMERGEB').id);
    await stack.waitForIdle();
    const [merged] = await recordsOf('CHISTMERGEA');
    expect(merged).toMatchObject({ outcome: 'paged', merged: true, handledWith: 1, acknowledgedAt: expect.any(String) });
    expect(JSON.stringify(merged)).not.toContain('CHISTMERGEB');
    const [target] = await recordsOf('CHISTMERGEB');
    expect(target).toMatchObject({ outcome: 'paged', handledWith: 1 });
    expect(target!.merged).toBeUndefined();

    // Customers that asked for a receipt, but whose escalations were handled together: none is posted.
    await stack.customers.update('CHISTMERGEA', { receipt: true });
    await stack.customers.update('CHISTMERGEB', { receipt: true });
    stack.pagerDuty!.resolve(incidentOf('CHISTMERGEB').id);
    await stack.waitForIdle();
    expect([...botMessages(stack, 'CHISTMERGEA'), ...botMessages(stack, 'CHISTMERGEB')].filter((m) => String(m.metadata?.event_payload.key).startsWith('receipt:'))).toEqual([]);
  });

  it('posts a receipt with the escalation\'s own times in its thread once, for a customer that asked for one (--receipt on), and none for one that did not', async () => {
    const receipts = (channel: string) => botMessages(stack, channel).filter((m) => String(m.metadata?.event_payload.key).startsWith('receipt:'));
    await ensureCustomer(stack, 'CHISTRECEIPT', { receipt: true });
    const { ts } = await mention(stack, 'CHISTRECEIPT', 'escalate the export job is stuck');
    await stack.waitForIdle();
    const incident = incidentOf('CHISTRECEIPT');
    stack.pagerDuty!.acknowledge(incident.id);
    await stack.waitForIdle();
    expect(receipts('CHISTRECEIPT')).toEqual([]); // not before resolution
    stack.pagerDuty!.resolve(incident.id);
    await stack.waitForIdle();
    // PagerDuty delivers the resolution again: still one receipt.
    await sendWebhook(stack, { ...incident, status: 'resolved' }, 'incident.resolved', new Date().toISOString(), 'E-hist-resolved-again');
    await stack.waitForIdle();
    expect(receipts('CHISTRECEIPT')).toHaveLength(1);
    expect(receipts('CHISTRECEIPT')[0]).toMatchObject({ threadTs: ts, text: ':receipt: Acknowledged under a minute after you asked; resolved after under a minute.' });
    // The first customer of this file escalated, was acknowledged and resolved, without a receipt.
    expect(receipts('CHISTPAGED')).toEqual([]);
  });
});
