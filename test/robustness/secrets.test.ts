import { randomBytes } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import { createSlackIngressHandler } from '../../functions/slack-ingress/wiring';
import { createSlackWorkerHandler } from '../../functions/slack-worker/wiring';
import { signPagerDutyWebhook } from '../../lib/pagerduty/signature';
import { signSlackRequest } from '../../lib/slack/signature';
import type { LocalStack } from '../../local/stack';
import { mentionEnvelope } from '../../local/events/slack';
import { startExternalWorld, type ExternalWorld } from '../support/external';
import { captureOutput } from '../../local/world/capture-output';
import { World } from '../../local/world/world';

/**
 * Secrets never leak. The router runs with known secret values (as in production: from its
 * environment, no sandbox) through the flows that produce the most output: escalations, updates,
 * Check Status from the right and the wrong channel, PagerDuty refusing and failing, Slack
 * failing, bad requests of every kind, a missing secret. Then everything it produced is searched
 * for any piece of any secret: every log line, every request to Slack and PagerDuty (except the
 * credential itself: the Authorization header, and the Events API's routing_key field), every
 * HTTP answer, the DLQs and the table.
 */

const secretValue = (name: string) => `${name}-${randomBytes(16).toString('hex')}`;
const SECRETS = {
  SLACK_SIGNING_SECRET: secretValue('slack-signing'),
  SLACK_BOT_TOKEN: `xoxb-${secretValue('bot')}`,
  PAGER_DUTY_SIGNING_KEY: secretValue('pd-signing'),
  PAGER_DUTY_EVENTS_API_KEY: secretValue('routing'),
  PAGER_DUTY_REST_API_KEY: secretValue('rest'),
};

/** A secret "appears" when the whole value, or any 12 characters of its random part, or its base64 does. */
function fragments(secret: string): string[] {
  const random = secret.slice(-32);
  const out = [secret, Buffer.from(secret).toString('base64').slice(0, 24), encodeURIComponent(secret)];
  for (let i = 0; i + 12 <= random.length; i += 2) out.push(random.slice(i, i + 12));
  return out;
}
const FRAGMENTS = Object.entries(SECRETS).flatMap(([name, value]) => fragments(value).map((fragment) => ({ name, fragment })));

function leaksIn(where: string, text: string): string[] {
  const found = new Map<string, number>();
  for (const { name, fragment } of FRAGMENTS) if (!found.has(name) && text.includes(fragment)) found.set(name, text.indexOf(fragment));
  return [...found].map(([name, at]) => `${name} in ${where}: …${text.slice(Math.max(0, at - 60), at + 60)}…`);
}

describe('secrets never leak', () => {
  let external: ExternalWorld;
  let stack: LocalStack;
  let output: ReturnType<typeof captureOutput>;

  beforeAll(async () => {
    output = captureOutput();
    external = await startExternalWorld(SECRETS, { record: true });
    stack = await external.startRouter({ logLevel: 'debug', env: { HTTP_TIMEOUT_MS: '400', LOG_LEVEL: 'debug' } });
  });
  afterAll(async () => {
    await stack.stop();
    await external.stop();
    output.restore();
  });

  it('in no log line, Slack message, PagerDuty request (beyond its credential), HTTP answer, DLQ message or stored item', async () => {
    const world = new World(stack);
    const answers: { what: string; status: number; body: string }[] = [];
    const send = async (what: string, path: string, body: string, headers: Record<string, string>) => {
      const response = await fetch(`${stack.url}${path}`, { method: 'POST', headers, body });
      answers.push({ what, status: response.status, body: await response.text() });
    };

    // The flows, happy and not.
    const mention = await world.escalate('CSECRETS');
    const command = await world.escalate('CSECRETS2', { via: 'command' });
    await stack.waitForIdle();
    const incident = world.incidentOf(mention)!;
    external.pagerDuty.acknowledge(incident.id, 'Fox Mulder');
    external.pagerDuty.reassign(world.incidentOf(command)!.id, 'Dana Scully');
    await world.click('CSECRETS', mention.dedupKey);
    await world.click('CSECRETS2', mention.dedupKey);
    await world.click('CSECRETS', 'pdr-00000000000000000000000000000000');
    external.pagerDuty.faults.failNext('events', 1, { kind: 'status', status: 400 });
    await world.escalate('CSECRETS3');
    external.pagerDuty.faults.failNext('events', 10, { kind: 'status', status: 503 });
    await world.escalate('CSECRETS4');
    external.slack.faults.failNext('chat.postMessage', 2, { kind: 'slack-error', error: 'invalid_auth' });
    external.slack.faults.failNext('conversations.info', 1, { kind: 'status', status: 500 });
    external.pagerDuty.faults.failNext('rest', 2, { kind: 'timeout', ms: 800 });
    await world.click('CSECRETS', mention.dedupKey);
    await world.escalate('CSECRETS5');
    await stack.waitForIdle();
    external.pagerDuty.resolve(incident.id, 'Fox Mulder');
    await stack.waitForIdle();

    // Requests that are refused, each kind.
    const mentionBody = JSON.stringify(mentionEnvelope({ channel: 'C1', user: 'U1', team: 'T1', ts: '1.1', eventId: 'Ev1', text: 'escalate x' }));
    const now = Math.floor(Date.now() / 1000);
    await send('slack, wrong secret', '/slack/events', mentionBody, { 'content-type': 'application/json', ...(signSlackRequest('wrong', mentionBody, now) as Record<string, string>) });
    await send('slack, stale', '/slack/events', mentionBody, { 'content-type': 'application/json', ...(signSlackRequest(SECRETS.SLACK_SIGNING_SECRET, mentionBody, now - 3600) as Record<string, string>) });
    await send('slack, no signature', '/slack/events', mentionBody, { 'content-type': 'application/json' });
    await send('slack, signed but malformed', '/slack/events', '{"type":', { 'content-type': 'application/json', ...(signSlackRequest(SECRETS.SLACK_SIGNING_SECRET, '{"type":', now) as Record<string, string>) });
    await send('slack, wrong type', '/slack/events', 'x', { 'content-type': 'text/csv', ...(signSlackRequest(SECRETS.SLACK_SIGNING_SECRET, 'x', now) as Record<string, string>) });
    await send('slack, too large', '/slack/events', 'x'.repeat(200_000), { 'content-type': 'application/json' });
    // Someone pastes a secret into a request: it must not come back in the answer.
    await send('slack, secret in a forged body', '/slack/events', `payload=${encodeURIComponent(JSON.stringify({ token: SECRETS.SLACK_BOT_TOKEN }))}`, { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-signature': `v0=${SECRETS.SLACK_SIGNING_SECRET}`, 'x-slack-request-timestamp': String(now) });
    const webhookBody = JSON.stringify(external.pagerDuty.webhookBody(incident, 'incident.acknowledged', null));
    await send('pagerduty, wrong key', '/pagerduty/webhooks', webhookBody, { 'content-type': 'application/json', ...(signPagerDutyWebhook(webhookBody, 'wrong') as Record<string, string>) });
    await send('pagerduty, no signature', '/pagerduty/webhooks', webhookBody, { 'content-type': 'application/json' });
    await send('pagerduty, malformed', '/pagerduty/webhooks', '{"event":', { 'content-type': 'application/json', ...(signPagerDutyWebhook('{"event":', SECRETS.PAGER_DUTY_SIGNING_KEY) as Record<string, string>) });
    await send('pagerduty, secret as the signature', '/pagerduty/webhooks', webhookBody, { 'content-type': 'application/json', 'x-pagerduty-signature': `v1=${SECRETS.PAGER_DUTY_SIGNING_KEY}` });
    for (const a of answers) expect(a.status).toBeGreaterThanOrEqual(400);

    // A missing secret: the error names it, and says nothing else.
    const context = { awsRequestId: 'x', getRemainingTimeInMillis: () => 1000 } as unknown as Context;
    const missingErrors: string[] = [];
    const { SLACK_SIGNING_SECRET: _missing, ...withoutSigning } = stack.env;
    await createSlackIngressHandler({ ...withoutSigning, SLACK_SIGNING_SECRET: '' })({ headers: {}, body: '' } as never, context).catch((e: Error) => missingErrors.push(`${e.name}: ${e.message}`));
    const { PAGER_DUTY_REST_API_KEY: _rest, ...withoutRest } = stack.env;
    await createSlackWorkerHandler(withoutRest)
      .handler({ Records: [] }, context)
      .catch((e: Error) => missingErrors.push(`${e.name}: ${e.message}`));
    expect(missingErrors).toEqual(['MissingSecretError: secret SLACK_SIGNING_SECRET is missing from the environment', 'MissingSecretError: secret PAGER_DUTY_REST_API_KEY is missing from the environment']);

    // The flows really ran: PagerDuty refused one, failed another for good, Slack failed, clicks were answered.
    expect(external.requests.filter((r) => r.target === 'pagerduty' && r.url === '/v2/enqueue').length).toBeGreaterThanOrEqual(8);
    expect(external.slack.ephemerals.length).toBeGreaterThanOrEqual(3);
    const dlq = [...(await stack.dlq('slack')), ...(await stack.dlq('pagerduty'))];
    expect(dlq.length).toBeGreaterThanOrEqual(1);
    expect(output.records().some((l) => l.level === 'debug' || l.level === 'info')).toBe(true);

    // Now search everything for the secrets.
    const leaks: string[] = [];
    output.lines.forEach((line, n) => leaks.push(...leaksIn(`output line ${n}`, line)));
    for (const r of external.requests) {
      const headers = { ...r.headers };
      let body = r.body;
      if (r.target === 'slack') delete headers.authorization; // the bot token's place
      if (r.target === 'pagerduty' && r.url === '/v2/enqueue') {
        const parsed = JSON.parse(r.body) as { routing_key?: string };
        expect(parsed.routing_key).toBe(SECRETS.PAGER_DUTY_EVENTS_API_KEY); // its place, and only there
        delete parsed.routing_key;
        body = JSON.stringify(parsed);
      } else if (r.target === 'pagerduty') {
        expect(headers.authorization).toBe(`Token token=${SECRETS.PAGER_DUTY_REST_API_KEY}`);
        delete headers.authorization;
      }
      leaks.push(...leaksIn(`${r.target} ${r.method} ${r.url}`, `${r.url} ${JSON.stringify(headers)} ${body}`));
    }
    for (const m of [...external.slack.messages, ...external.slack.ephemerals]) leaks.push(...leaksIn(`Slack message in ${m.channel}`, JSON.stringify(m)));
    for (const a of [...answers, ...world.answers.map((a) => ({ what: a.route, ...a }))]) leaks.push(...leaksIn(`answer to ${a.what}`, a.body));
    for (const e of missingErrors) leaks.push(...leaksIn('missing-secret error', e));
    for (const d of dlq) leaks.push(...leaksIn('DLQ', JSON.stringify(d)));
    const db = new DynamoDBClient({ endpoint: stack.dynamo.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    const items = (await db.send(new ScanCommand({ TableName: stack.dynamo.tableName }))).Items ?? [];
    db.destroy();
    expect(items.length).toBeGreaterThan(5);
    leaks.push(...leaksIn('DynamoDB', JSON.stringify(items)));
    expect(leaks).toEqual([]);
  });
});
