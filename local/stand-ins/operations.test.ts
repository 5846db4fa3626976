import { WebClient } from '@slack/web-api';
import { PAGERDUTY_HANDLED_EVENT_TYPES } from '../../lib/events';
import { listen, type RunningServer } from './http-util';
import { PagerDutyStandIn } from './pagerduty';
import { manifestBotScopes, SlackStandIn } from './slack';

/** What a doctor of a stack reads from Slack and PagerDuty, played by the stand-ins as the real services answer. */

describe('the Slack stand-in: scopes and channel membership', () => {
  const TOKEN = 'xoxb-stand-in-operations';
  let slack: SlackStandIn;
  beforeAll(async () => {
    slack = await new SlackStandIn({ botToken: TOKEN }).start();
  });
  afterAll(() => slack.stop());
  const client = () => new WebClient(TOKEN, { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } });

  it("sends the token's scopes in x-oauth-scopes, which the Slack SDK reads into response_metadata.scopes", async () => {
    expect(manifestBotScopes()).toEqual(expect.arrayContaining(['app_mentions:read', 'chat:write', 'commands']));
    expect((await client().auth.test()).response_metadata?.scopes).toEqual(manifestBotScopes());
    slack.scopes = manifestBotScopes().filter((s) => s !== 'chat:write');
    expect((await client().auth.test()).response_metadata?.scopes).not.toContain('chat:write');
    slack.scopes = manifestBotScopes();
  });

  it('says whether the bot is in a channel, and refuses its posts where it is not (not_in_channel)', async () => {
    slack.notMember.add('COUTSIDE');
    expect((await client().conversations.info({ channel: 'CINSIDE' })).channel).toMatchObject({ id: 'CINSIDE', is_member: true });
    expect((await client().conversations.info({ channel: 'COUTSIDE' })).channel).toMatchObject({ id: 'COUTSIDE', is_member: false });
    await expect(client().chat.postMessage({ channel: 'COUTSIDE', text: 'hello' })).rejects.toMatchObject({ data: { ok: false, error: 'not_in_channel' } });
    expect(slack.channelMessages('COUTSIDE')).toEqual([]);
  });
});

describe('the PagerDuty stand-in: webhook subscriptions', () => {
  const REST_TOKEN = 'stand-in-rest-token';
  let pagerDuty: PagerDutyStandIn;
  let receiver: RunningServer;
  let answer = 400;
  let received = 0;
  beforeAll(async () => {
    receiver = await listen((_request, response) => {
      received++;
      response.writeHead(answer).end();
    });
    pagerDuty = await new PagerDutyStandIn({ routingKey: 'R0UTINGKEY', restToken: REST_TOKEN }).start();
    pagerDuty.webhook = { url: `${receiver.url}/pagerduty/webhooks`, signingKey: 'stand-in-signing-key' };
  });
  afterAll(async () => {
    await pagerDuty.stop();
    await receiver.close();
  });

  const rest = async (path: string) => (await fetch(`${pagerDuty.url}/${path}`, { headers: { authorization: `Token token=${REST_TOKEN}` } })).json() as Promise<Record<string, any>>;
  const trigger = async (n: number) => {
    await fetch(`${pagerDuty.url}/v2/enqueue`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ routing_key: 'R0UTINGKEY', event_action: 'trigger', dedup_key: `key-${n}`, payload: { summary: `outage ${n}`, source: 'test', severity: 'critical' } }),
    });
    await pagerDuty.deliveriesSettled();
  };

  it('lists and gets a subscription, active, never with its secret', async () => {
    const created = pagerDuty.subscribe(`${receiver.url}/pagerduty/webhooks`, PAGERDUTY_HANDLED_EVENT_TYPES);
    const listed = (await rest('webhook_subscriptions')).webhook_subscriptions;
    expect(listed).toEqual([expect.objectContaining({ id: created.id, active: true, events: [...PAGERDUTY_HANDLED_EVENT_TYPES] })]);
    const one = (await rest(`webhook_subscriptions/${created.id as string}`)).webhook_subscription;
    expect(one).toMatchObject({ id: created.id, active: true, delivery_method: { url: `${receiver.url}/pagerduty/webhooks`, secret: null, temporarily_disabled: false } });
    expect(await rest('webhook_subscriptions/PNOSUCH')).toEqual({ error: { message: 'Not Found', code: 2100 } });
  });

  it('disables the subscription after three dropped deliveries in a row, and then delivers nothing', async () => {
    answer = 400; // a 4xx other than 429: PagerDuty drops the delivery instead of retrying
    for (let n = 1; n <= 3; n++) await trigger(n);
    expect(received).toBe(3);
    const [subscription] = (await rest('webhook_subscriptions')).webhook_subscriptions;
    expect(subscription).toMatchObject({ active: true, delivery_method: { temporarily_disabled: true } });
    answer = 202;
    await trigger(4);
    expect(received).toBe(3);
  });

  it('counts only drops in a row: a delivered webhook starts the count again', async () => {
    const fresh = await new PagerDutyStandIn({ routingKey: 'R0UTINGKEY', restToken: REST_TOKEN }).start();
    try {
      fresh.webhook = { url: `${receiver.url}/other`, signingKey: 'k' };
      const subscription = fresh.subscribe(`${receiver.url}/other`, PAGERDUTY_HANDLED_EVENT_TYPES) as { delivery_method: { temporarily_disabled: boolean } };
      const send = async (n: number, status: number) => {
        answer = status;
        await fetch(`${fresh.url}/v2/enqueue`, {
          method: 'POST',
          body: JSON.stringify({ routing_key: 'R0UTINGKEY', event_action: 'trigger', dedup_key: `other-${n}`, payload: { summary: 's', source: 't', severity: 'info' } }),
        });
        await fresh.deliveriesSettled();
      };
      await send(1, 400);
      await send(2, 400);
      await send(3, 202);
      await send(4, 400);
      await send(5, 400);
      expect(subscription.delivery_method.temporarily_disabled).toBe(false);
    } finally {
      await fresh.stop();
    }
  });
});
