import { EVENT_CONTRACT_VERSION, type PagerDutyIncidentEvent } from '../../lib/events';
import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { makePagerDutyApi, type PagerDutyApi } from '../../lib/pagerduty/api';
import { WaitForTurnError } from '../../lib/errors';
import { createLogger, type Logger } from '../../lib/runtime/log';
import { makeSlackApi, workspaceScopes, type SlackApi } from '../../lib/slack/web-api';
import { makeCustomers } from '../../lib/store/customers';
import { makeEffects } from '../../lib/store/effects';
import { makeIncidentLinks } from '../../lib/store/incident-links';
import { makePacer } from '../../lib/store/pacer';
import { makeOwnership } from '../../lib/tenancy/ownership';
import type { PagerDutyStandIn } from '../../local/stand-ins/pagerduty';
import type { SlackStandIn } from '../../local/stand-ins/slack';
import { recordingClient, roundTripsInSeries } from '../../test/support/dynamo';
import { startWorkerWorld, type WorkerWorld } from '../../test/support/worker-world';
import { makePagerDutyWorker, THREAD_WAIT_MS } from './pagerduty-worker';
import { SETTINGS } from '../../lib/runtime/settings';

const ROUTING_KEY = 'R0WORKERTESTKEY000000000000000000';

const slackParts = (slack: SlackApi) => ({ slack, scopes: workspaceScopes(slack) });

/** The worker on `db`, with the stand-ins behind its Slack and PagerDuty clients. */
function workerOn(db: DynamoDBDocumentClient, tableName: string, stand: { slack: SlackStandIn; pagerDuty: PagerDutyApi }) {
  const links = makeIncidentLinks(db, tableName, { ttlDays: 1 });
  return makePagerDutyWorker({
    links,
    ownership: makeOwnership({ links, binding: links, pagerDuty: stand.pagerDuty }),
    customers: makeCustomers(db, tableName),
    effects: makeEffects(db, tableName, { ttlDays: 1 }),
    ...slackParts(makeSlackApi({ token: 'xoxb-worker-test', apiUrl: stand.slack.apiUrl, timeoutMs: 5000 })),
    pagerDuty: stand.pagerDuty,
    pacer: makePacer(db, tableName, { perMinute: 45 }),
    postPacer: makePacer(db, tableName, { perMinute: 580 }),
    // Never reached: one escalation is told in the event's own message, and a confirmation never posted or unchanged needs no refresh.
    queue: { send: () => Promise.reject(new Error('nothing should be queued')) },
    config: { showResponderNames: true, followersNoteSettleSeconds: SETTINGS.FOLLOWERS_NOTE_SETTLE_SECONDS.default },
  });
}

describe('an update for a slash command whose confirmation (its thread) is missing', () => {
  let env: WorkerWorld;
  let slackStandIn: SlackStandIn;
  let pagerDutyStandIn: PagerDutyStandIn;
  let registrationId: string | undefined;

  beforeAll(async () => {
    env = await startWorkerWorld({ botToken: 'xoxb-worker-test', routingKey: ROUTING_KEY });
    ({ slack: slackStandIn, pagerDuty: pagerDutyStandIn } = env);
    // A registered customer's channel: the delivery gate lets nothing through for any other.
    ({ registrationId } = await makeCustomers(env.db, env.dynamo.tableName).add({ channel: 'C0NOTHREAD', name: 'No thread' }));
  });
  afterAll(() => env.stop());

  /** A command escalation raised `ageMs` ago, paged, with no confirmation posted; and its acknowledgement. */
  async function threadless(dedupKey: string, ageMs: number) {
    const pagerDuty = makePagerDutyApi({ eventsUrl: pagerDutyStandIn.url, apiUrl: pagerDutyStandIn.url, routingKey: ROUTING_KEY, restToken: 'rest-token', timeoutMs: 5000 });
    const raisedAt = new Date(Date.now() - ageMs);
    await makeIncidentLinks(env.db, env.dynamo.tableName, { ttlDays: 1, now: () => raisedAt }).create({ dedupKey, team: 'T0PROVIDER', channel: 'C0NOTHREAD', requester: 'UCUSTOMER1', summary: 'checkout is down', via: 'command', ...(registrationId ? { registrationId } : {}) });
    await pagerDuty.trigger({ dedupKey, summary: 'checkout is down', source: 'test', severity: 'critical', customDetails: {} });
    const incident = pagerDutyStandIn.byKey(dedupKey)!;
    const event: PagerDutyIncidentEvent = { v: EVENT_CONTRACT_VERSION, kind: 'pagerduty.incident', id: `E-${dedupKey}`, eventType: 'incident.acknowledged', occurredAt: new Date().toISOString(), agentName: 'Dana Scully', incident: { id: incident.id, status: 'acknowledged', incidentKey: dedupKey, assignees: [] }, receivedAt: new Date().toISOString() };
    const warnings: string[] = [];
    const logger: Logger = { debug: () => undefined, info: () => undefined, warn: (message) => void warnings.push(message), error: (message) => void warnings.push(message), child: () => logger, metric: () => undefined };
    const worker = workerOn(env.db, env.dynamo.tableName, { slack: slackStandIn, pagerDuty });
    return { run: () => worker(event, { logger, finalAttempt: false }), warnings };
  }

  it('waits its turn while the escalation is young (a redelivery, never toward the DLQ)', async () => {
    const { run } = await threadless('pdr-0000000000000000000000000000a001', 60_000);
    await expect(run()).rejects.toBeInstanceOf(WaitForTurnError);
    expect(slackStandIn.calls.filter((c) => c.channel === 'C0NOTHREAD')).toEqual([]);
  });

  it('is dropped with a reason once the confirmation is long overdue, posting nothing', async () => {
    const { run, warnings } = await threadless('pdr-0000000000000000000000000000a002', THREAD_WAIT_MS + 60_000);
    await expect(run()).resolves.toBeUndefined();
    // (Notes are off here: on-call not being told who follows is warned about apart.)
    expect(warnings.filter((w) => !w.startsWith('on-call is not told'))).toEqual(['the escalation never got its thread (its confirmation was not posted); update dropped']);
    expect(slackStandIn.calls.filter((c) => c.channel === 'C0NOTHREAD')).toEqual([]);
  });
});

describe('an update to a channel that follows an incident', () => {
  let env: WorkerWorld;
  let slackStandIn: SlackStandIn;
  let pagerDutyStandIn: PagerDutyStandIn;

  beforeAll(async () => {
    env = await startWorkerWorld({ botToken: 'xoxb-worker-test', routingKey: ROUTING_KEY });
    ({ slack: slackStandIn, pagerDuty: pagerDutyStandIn } = env);
  });
  afterAll(() => env.stop());

  const logger = createLogger({ level: 'silent' });

  /** A registered channel's escalation, paged, with its thread, bound to its incident as its incident.triggered webhook binds it; and that incident's acknowledgement. */
  async function following(channel: string, dedupKey: string, eventId: string, occurredAt = new Date().toISOString()) {
    const { registrationId } = await makeCustomers(env.db, env.dynamo.tableName).add({ channel, name: channel });
    const pagerDuty = makePagerDutyApi({ eventsUrl: pagerDutyStandIn.url, apiUrl: pagerDutyStandIn.url, routingKey: ROUTING_KEY, restToken: 'rest-token', timeoutMs: 5000 });
    const links = makeIncidentLinks(env.db, env.dynamo.tableName, { ttlDays: 1 });
    await links.create({ dedupKey, team: 'T0PROVIDER', channel, threadTs: '1796040000.000200', requester: 'UCUSTOMER1', summary: 'checkout is down', via: 'mention', ...(registrationId ? { registrationId } : {}) });
    await links.settle(dedupKey, { state: 'triggered', ref: 1 });
    await pagerDuty.trigger({ dedupKey, summary: 'checkout is down', source: 'test', severity: 'critical', customDetails: {} });
    const incident = pagerDutyStandIn.byKey(dedupKey)!;
    await links.bind({ dedupKey, channel }, incident.id, 'own-key');
    const event: PagerDutyIncidentEvent = { v: EVENT_CONTRACT_VERSION, kind: 'pagerduty.incident', id: eventId, eventType: 'incident.acknowledged', occurredAt, agentName: 'Dana Scully', incident: { id: incident.id, status: 'acknowledged', incidentKey: dedupKey, assignees: [] }, receivedAt: occurredAt };
    return { pagerDuty, links, event };
  }

  it('reads the channel\'s registry item beside its link and claims the post beside the status write, so three round trips come before the post', async () => {
    const channel = 'C0READAHEAD';
    const { pagerDuty, event } = await following(channel, 'pdr-0000000000000000000000000000b001', 'E-READAHEAD');

    // Every DynamoDB call the worker makes, and when it started and answered.
    const { db: recorded, timeline } = recordingClient(env.db);
    const worker = workerOn(recorded, env.dynamo.tableName, { slack: slackStandIn, pagerDuty });
    await worker(event, { logger, finalAttempt: false });

    const post = slackStandIn.calls.find((call) => call.method === 'chat.postMessage' && call.channel === channel);
    expect(post).toBeDefined();
    const before = timeline.filter((call) => call.start < post!.arrivedAt);
    const registry = before.find((call) => call.kind === 'customer')!;
    const link = before.find((call) => call.kind === 'link')!;
    // The registry is asked once, while the link is being read.
    expect(before.filter((call) => call.kind === 'customer')).toHaveLength(1);
    expect(registry.start).toBeLessThan(link.end);
    // The post's claim is made while the status is being written, and once.
    const status = before.find((call) => call.kind === 'link' && call.operation === 'Update')!;
    const claims = before.filter((call) => call.kind === 'effect' && call.operation === 'Put');
    expect(claims).toHaveLength(1);
    expect(claims[0]!.start).toBeLessThan(status.end);
    // The incident's item; its link and the channel's registry item; the status and the post's claim.
    expect(roundTripsInSeries(before)).toBe(3);
    // The claim was the post's: recorded with its result, so a redelivery posts nothing more.
    await worker(event, { logger, finalAttempt: false });
    expect(slackStandIn.calls.filter((call) => call.method === 'chat.postMessage' && call.channel === channel)).toHaveLength(1);
  });

  it('gives back the claim it took beside the status write when the post is not made (the reconciler told the change first)', async () => {
    const channel = 'C0TOLDFIRST';
    const dedupKey = 'pdr-0000000000000000000000000000b002';
    const at = new Date().toISOString();
    const { pagerDuty, links, event } = await following(channel, dedupKey, 'E-TOLDFIRST', at);
    await links.recordReconciledStatus(dedupKey, 'acknowledged', at);

    await workerOn(env.db, env.dynamo.tableName, { slack: slackStandIn, pagerDuty })(event, { logger, finalAttempt: false });

    expect(slackStandIn.calls.filter((call) => call.method === 'chat.postMessage' && call.channel === channel)).toEqual([]);
    const claim = await env.db.send(new GetCommand({ TableName: env.dynamo.tableName, Key: { pk: `effect#pd:E-TOLDFIRST:${dedupKey}` }, ConsistentRead: true }));
    expect(claim.Item).toBeUndefined();
  });
});
