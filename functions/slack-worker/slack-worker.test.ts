import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { EVENT_CONTRACT_VERSION, type SlackMessageEvent } from '../../lib/events';
import { makePagerDutyApi } from '../../lib/pagerduty/api';
import { createLogger } from '../../lib/runtime/log';
import { makeSlackApi, workspaceScopes } from '../../lib/slack/web-api';
import { makeChannelReferences } from '../../lib/store/channel-references';
import { makeCustomers } from '../../lib/store/customers';
import { makeEffects } from '../../lib/store/effects';
import { makeHistorySteps } from '../../lib/store/history';
import { makeEscalationLinks } from '../../lib/store/incident-links';
import { makePageBudget, NOTE_BUDGET } from '../../lib/store/page-budget';
import { makeLocator } from '../../lib/tenancy/ownership';
import type { PagerDutyStandIn } from '../../local/stand-ins/pagerduty';
import type { SlackStandIn } from '../../local/stand-ins/slack';
import { recordingClient, roundTripsInSeries } from '../../test/support/dynamo';
import { startWorkerWorld, type WorkerWorld } from '../../test/support/worker-world';
import { makeSlackWorker } from './slack-worker';

const ROUTING_KEY = 'R0SLACKWORKERTESTKEY0000000000000';
const BOT_TOKEN = 'xoxb-slack-worker-test';

/** The worker on `db`, as its wiring builds it, with the stand-ins behind its Slack and PagerDuty clients. */
function workerOn(db: DynamoDBDocumentClient, tableName: string, slackApiUrl: string, pagerDutyUrl: string) {
  const store = { ttlDays: 1 };
  const links = makeEscalationLinks(db, tableName, store);
  const pagerDuty = makePagerDutyApi({ eventsUrl: pagerDutyUrl, apiUrl: pagerDutyUrl, routingKey: ROUTING_KEY, restToken: 'rest-token', timeoutMs: 5000 });
  const slack = makeSlackApi({ token: BOT_TOKEN, apiUrl: slackApiUrl, timeoutMs: 5000 });
  return makeSlackWorker({
    links,
    ownership: makeLocator({ binding: links, pagerDuty }),
    customers: makeCustomers(db, tableName),
    effects: makeEffects(db, tableName, store),
    history: makeHistorySteps(db, tableName, { ttlDays: 400 }),
    slack,
    scopes: workspaceScopes(slack),
    pagerDuty,
    references: makeChannelReferences(db, tableName),
    budget: makePageBudget(db, tableName, store),
    noteBudget: makePageBudget(db, tableName, { ...store, prefix: NOTE_BUDGET.prefix, windowMs: NOTE_BUDGET.windowMs }),
    config: { pingPhrase: 'ping', slashCommand: '/page', supportContact: 'your account team', showResponderNames: true, severity: 'critical' },
  });
}

describe('an escalation on its way to PagerDuty', () => {
  let env: WorkerWorld;
  let slack: SlackStandIn;
  let pagerDuty: PagerDutyStandIn;

  beforeAll(async () => {
    env = await startWorkerWorld({ botToken: BOT_TOKEN, routingKey: ROUTING_KEY });
    ({ slack, pagerDuty } = env);
  });
  afterAll(() => env.stop());

  const logger = createLogger({ level: 'silent' });
  const escalation = (channel: string, ts: string, receivedAt: Date): SlackMessageEvent => ({
    v: EVENT_CONTRACT_VERSION,
    kind: 'slack.message',
    id: `Ev${ts.replace('.', '')}`,
    via: 'mention',
    team: 'T0PROVIDER',
    channel,
    channelName: 'acme-support',
    user: 'UCUSTOMER1',
    text: '<@UBOT> escalate checkout is down',
    botUserId: 'UBOT',
    ts,
    receivedAt: receivedAt.toISOString(),
  });

  it('takes the page budget beside the link\'s first write, so two round trips come before the trigger', async () => {
    const channel = 'C0BUDGETAHEAD';
    await makeCustomers(env.db, env.dynamo.tableName).add({ channel, name: 'Budget ahead' });
    const { db, timeline } = recordingClient(env.db);
    const worker = workerOn(db, env.dynamo.tableName, slack.apiUrl, pagerDuty.url);
    await worker(escalation(channel, '1796040000.000100', new Date()), { logger, attempt: 1, finalAttempt: false });

    const trigger = pagerDuty.triggers.at(-1)!;
    expect(trigger.payload).toMatchObject({ custom_details: { channel_id: channel } });
    const before = timeline.filter((call) => call.start < trigger.arrivedAt);
    const link = before.find((call) => call.kind === 'link' && call.operation === 'Put')!;
    const budget = before.find((call) => call.kind === 'budget' && call.operation === 'Put')!;
    expect(budget.start).toBeLessThan(link.end);
    // The registry beside the budget's read; the link and its thread's pointer beside the budget's grant.
    expect(roundTripsInSeries(before)).toBe(2);

    // Its redelivery takes the budget again beside the link's write, and counts nothing more.
    const triggers = pagerDuty.triggers.length;
    await worker(escalation(channel, '1796040000.000100', new Date()), { logger, attempt: 2, finalAttempt: false });
    expect(pagerDuty.triggers.length).toBe(triggers);
    expect(await makePageBudget(env.db, env.dynamo.tableName, { ttlDays: 1 }).used(channel, Date.now())).toBe(1);
  });

  it('takes the budget only after the link\'s write for a message received long ago (a grant of it may have left the window)', async () => {
    const channel = 'C0BUDGETLATE';
    await makeCustomers(env.db, env.dynamo.tableName).add({ channel, name: 'Budget late' });
    const { db, timeline } = recordingClient(env.db);
    const worker = workerOn(db, env.dynamo.tableName, slack.apiUrl, pagerDuty.url);
    await worker(escalation(channel, '1796040000.000200', new Date(Date.now() - 45 * 60_000)), { logger, attempt: 5, finalAttempt: false });

    const link = timeline.find((call) => call.kind === 'link' && call.operation === 'Put')!;
    const budget = timeline.find((call) => call.kind === 'budget' && call.operation === 'Put')!;
    expect(budget.start).toBeGreaterThanOrEqual(link.end);
    expect(pagerDuty.triggers.filter((t) => t.payload.custom_details && (t.payload.custom_details as { channel_id?: string }).channel_id === channel)).toHaveLength(1);
  });
});
