/**
 * BENCHMARK FLOOR: THE COMPARISON POINT, NOT PART OF pd-router. NEVER DEPLOYED.
 *
 * The least a worker built from the libraries the design names can do on a cold start: load the
 * AWS SDK's DynamoDB and SQS clients, Slack's Web API client, pdjs, Powertools metrics, middy and
 * valibot; build the clients; and for its first message make the calls an escalation cannot do
 * without: read the customer (one DynamoDB GetItem), page (one Events API trigger) and post the
 * confirmation (one chat.postMessage). No claims, no budget, no logging. Slack's client and the
 * trigger go through node:http(s), as the workers' do (the runtime's fetch would load undici on
 * every cold start): that shim is the one piece of pd-router it keeps. Its cold start is the floor
 * under the worker target: what the slack-worker costs above it is pd-router's own.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { Metrics } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import { api } from '@pagerduty/pdjs';
import { WebClient } from '@slack/web-api';
import * as v from 'valibot';
import { nodeHttpFetch } from '../../lib/runtime/node-http-fetch';

const env = process.env;
// Endpoints named explicitly, as lib/runtime does: the deployed environment ignores AWS_ENDPOINT_URL_*.
const dynamoEndpoint = env.AWS_ENDPOINT_URL_DYNAMODB;
const sqsEndpoint = env.AWS_ENDPOINT_URL_SQS;
const db = DynamoDBDocumentClient.from(new DynamoDBClient(dynamoEndpoint ? { endpoint: dynamoEndpoint } : {}));
// Built as the workers build theirs (they send refreshes and requeued copies), not used here.
new SQSClient({ useQueueUrlAsEndpoint: false, ...(sqsEndpoint ? { endpoint: sqsEndpoint } : {}) });
const slack = new WebClient(env.SLACK_BOT_TOKEN, { slackApiUrl: env.SLACK_API_URL ?? 'https://slack.com/api/', fetch: nodeHttpFetch, retryConfig: { retries: 0 } });
// pdjs for PagerDuty's REST API, as the workers hold it.
api({ token: env.PAGER_DUTY_REST_API_KEY ?? 'floor' });
const metrics = new Metrics({ namespace: 'pd-router-floor', serviceName: 'floor' });
const Message = v.object({ channel: v.string(), ts: v.string(), text: v.string() });

async function handle(event: { Records: { body: string }[] }) {
  for (const record of event.Records) {
    const message = v.parse(Message, JSON.parse(record.body));
    await db.send(new GetCommand({ TableName: env.TABLE_NAME, Key: { pk: `customer#${message.channel}` } }));
    const paged = await nodeHttpFetch(new URL('v2/enqueue', env.PAGER_DUTY_EVENTS_URL ?? 'https://events.pagerduty.com/'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ routing_key: env.PAGER_DUTY_EVENTS_API_KEY, event_action: 'trigger', dedup_key: `floor-${message.ts}`, payload: { summary: message.text.slice(0, 1000), source: 'floor', severity: 'critical' } }),
    });
    await paged.text();
    await slack.chat.postMessage({ channel: message.channel, thread_ts: message.ts, text: 'Paged.' });
    metrics.addMetric('floorEscalations', 'Count', 1);
  }
  return { batchItemFailures: [] };
}

export const handler = middy(handle);
