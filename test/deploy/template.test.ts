import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { ENV, loadWorkerConfig } from '../../lib/runtime/config';
import { LAYOUT, queueNames, tableName, type QueueName } from '../../lib/layout/layout';
import { SECRET_NAMES } from '../../lib/runtime/secrets';
import metricDefinitions from '../../lib/layout/metrics.json';
import { readZip } from './read-zip';
import { packageService } from '../../local/deploy-package';
import { EVENT_CONTRACT_VERSION } from '../../lib/events';
import { normalizePagerDutyWebhook } from '../../lib/pagerduty/normalize';
import { normalizeBlockActions } from '../../lib/slack/normalize';
import { incidentWebhookBody, signedWebhook, webhookIncident } from '../../local/events/pagerduty';
import { checkStatusPayload, mentionEnvelope, signedSlackJson } from '../../local/events/slack';
import { apiGatewayEvent } from '../../bench/lib/requests';

// CloudFormation is untyped JSON: properties stay `any` and each assertion states the shape it expects.
interface Resource {
  Type: string;
  Properties: Record<string, any>;
  DependsOn?: string | string[];
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
}
interface Template {
  Resources: Record<string, Resource>;
  Outputs: Record<string, { Value: any }>;
}
interface Packaged {
  stage: string;
  dir: string;
  template: Template;
  /** Every file the packager wrote except the zips, as text: where a leaked secret would show. */
  text: string;
}

const ROOT = join(__dirname, '..', '..');
const exec = promisify(execFile);
const QUEUES = Object.keys(LAYOUT.queues) as QueueName[];
const INGRESS: Record<QueueName, string> = { slack: 'slack-ingress', pagerduty: 'pagerduty-ingress' };
const QUEUE_URL_ENV: Record<QueueName, { queue: string; dlq: string }> = {
  slack: { queue: ENV.slackQueueUrl, dlq: ENV.slackDlqUrl },
  pagerduty: { queue: ENV.pagerDutyQueueUrl, dlq: ENV.pagerDutyDlqUrl },
};
const PROD_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pd-router/prod-AbCdEf';
const SPLIT_SIGNING_SECRET = 'pd-router/split/signing';
const SPLIT_API_TOKEN_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pd-router/split/api-tokens-XyZ123';

// Values the packager's environment holds under the secrets' names. If serverless.yml ever
// wired a secret in (`${env:SLACK_BOT_TOKEN}`), one of these would land in the output.
const CANARIES = Object.fromEntries(SECRET_NAMES.map((name) => [name, `canary${randomBytes(12).toString('hex')}`]));

async function packageStack(stage: string, params: string[]): Promise<Packaged> {
  const dir = mkdtempSync(join(tmpdir(), `pd-router-${stage}-`));
  await packageService({ stage, region: 'eu-west-1', params, outDir: dir, env: CANARIES });
  const text = readdirSync(dir)
    .filter((file) => !file.endsWith('.zip'))
    .map((file) => readFileSync(join(dir, file), 'utf8'))
    .join('\n');
  const template = JSON.parse(readFileSync(join(dir, 'cloudformation-template-update-stack.json'), 'utf8')) as Template;
  return { stage, dir, template, text };
}

const resourcesOfType = (t: Template, type: string) => Object.entries(t.Resources).filter(([, r]) => r.Type === type);
const getAtt = (logicalId: string, attribute = 'Arn') => ({ 'Fn::GetAtt': [logicalId, attribute] });

function lambda(p: Packaged, fn: string): { id: string; resource: Resource } {
  const name = `${LAYOUT.service}-${p.stage}-${fn}`;
  const found = resourcesOfType(p.template, 'AWS::Lambda::Function').find(([, r]) => r.Properties.FunctionName === name);
  if (!found) throw new Error(`no function ${name} in the template`);
  return { id: found[0], resource: found[1] };
}

function roleOf(p: Packaged, fn: string): Resource {
  const role = lambda(p, fn).resource.Properties.Role;
  expect(role).toEqual({ 'Fn::GetAtt': [expect.any(String), 'Arn'] });
  const resource = p.template.Resources[role['Fn::GetAtt'][0]];
  if (resource?.Type !== 'AWS::IAM::Role') throw new Error(`${fn}'s role is not a role of this stack`);
  return resource;
}

/** A role's permissions as sorted "action on resource" lines, so a comparison shows any extra or missing grant. */
function grants(role: Resource): string[] {
  expect(role.Properties.ManagedPolicyArns ?? []).toEqual([]);
  expect(role.Properties.PermissionsBoundary).toBeUndefined();
  const statements = (role.Properties.Policies as { PolicyDocument: { Statement: any[] } }[]).flatMap((p) => p.PolicyDocument.Statement);
  return statements
    .flatMap((s) => {
      expect(s.Effect).toBe('Allow');
      expect(s.NotAction ?? s.NotResource).toBeUndefined();
      const condition = s.Condition ? ` if ${JSON.stringify(s.Condition)}` : '';
      return [s.Action].flat().flatMap((action: string) => [s.Resource].flat().map((resource: unknown) => `${action} on ${JSON.stringify(resource)}${condition}`));
    })
    .sort();
}

function expectedGrants(p: Packaged, fn: string, secretResource: unknown, own: [string[], unknown, unknown?][]): string[] {
  // The log group the function writes to is the one the stack creates for it.
  const logGroupId = [lambda(p, fn).resource.DependsOn].flat().find((id) => id && p.template.Resources[id]?.Type === 'AWS::Logs::LogGroup');
  const logGroup = p.template.Resources[logGroupId!]!.Properties.LogGroupName as string;
  const logs = { 'Fn::Sub': `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:${logGroup}:*` };
  const pairs: [string[], unknown, unknown?][] = [[['logs:CreateLogStream', 'logs:PutLogEvents'], logs], [['secretsmanager:GetSecretValue'], secretResource], ...own];
  return pairs.flatMap(([actions, resource, condition]) => actions.map((action) => `${action} on ${JSON.stringify(resource)}${condition ? ` if ${JSON.stringify(condition)}` : ''}`)).sort();
}

/** The DynamoDB operations the code issues (GetCommand → dynamodb:GetItem, QueryCommand → dynamodb:Query…). */
function dynamoActionsInCode(): string[] {
  const files = ['lib', ...readdirSync(join(ROOT, 'functions')).map((d) => join('functions', d))].flatMap((dir) =>
    readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
      .map((f) => readFileSync(join(ROOT, dir, f), 'utf8')),
  );
  const actions = new Set<string>();
  for (const source of files.filter((s) => /from '@aws-sdk\/(lib|client)-dynamodb'/.test(s))) {
    for (const [, op] of source.matchAll(/new (\w+)Command\(/g)) actions.add(`dynamodb:${/^(Get|Put|Update|Delete|BatchGet|BatchWrite)$/.test(op!) ? `${op}Item` : op}`);
  }
  return [...actions].sort();
}

describe('the CloudFormation template `sls package` generates, offline and without AWS credentials', () => {
  let dev: Packaged;
  let prod: Packaged;
  let split: Packaged;

  beforeAll(async () => {
    // One after the other: serverless-esbuild builds in the service's own .esbuild folder.
    dev = await packageStack('test', []);
    prod = await packageStack('prod', ['alarmEmail=oncall@provider.example', 'slackAppId=A0PDROUTER01', `secretId=${PROD_SECRET_ARN}`]);
    split = await packageStack('split', [
      `signingSecretId=${SPLIT_SIGNING_SECRET}`,
      `apiTokenSecretId=${SPLIT_API_TOKEN_ARN}`,
      'routeRateLimit=7',
      'routeBurstLimit=9',
      'ingressReservedConcurrency=50',
      'reconcilerReservedConcurrency=1',
      'tableWarmReadsPerSecond=15000',
      'tableWarmWritesPerSecond=14000',
    ]);
  }, 180_000);

  afterAll(() => {
    for (const p of [dev, prod, split]) if (p) rmSync(p.dir, { recursive: true, force: true });
  });

  it('runs every function on nodejs24.x arm64 with JSON logs, its own memory and a timeout chosen for its caller', () => {
    for (const p of [dev, prod]) {
      const functions = resourcesOfType(p.template, 'AWS::Lambda::Function');
      expect(functions.map(([, r]) => r.Properties.FunctionName).sort()).toEqual(
        ['pagerduty-ingress', 'pagerduty-worker', 'reconciler', 'slack-ingress', 'slack-worker'].map((fn) => `${LAYOUT.service}-${p.stage}-${fn}`),
      );
      for (const [, fn] of functions) {
        expect(fn.Properties.Runtime).toBe('nodejs24.x');
        expect(fn.Properties.Architectures).toEqual(['arm64']);
        expect(fn.Properties.LoggingConfig).toEqual({ LogFormat: 'JSON' });
        // Source maps are read when a stack is logged, not parsed at every cold start.
        expect(fn.Properties.Environment.Variables.NODE_OPTIONS).toBeUndefined();
      }
      for (const q of QUEUES) {
        // Ingress must answer Slack within 3 s and PagerDuty within 5 s; past that they retry.
        expect(lambda(p, INGRESS[q]).resource.Properties.Timeout).toBeLessThanOrEqual(6);
        expect(lambda(p, INGRESS[q]).resource.Properties.MemorySize).toBe(256);
        expect(lambda(p, LAYOUT.queues[q].worker).resource.Properties.Timeout).toBe(LAYOUT.queues[q].workerTimeoutSeconds);
        // Longer than one outbound call at its worst: lib/slack/web-api.ts tries 3 times (2 retries, ≤ 1 s
        // apart), each attempt bounded by the workers' HTTP timeout.
        const { httpTimeoutMs } = loadWorkerConfig({ [ENV.tableName]: 't', [QUEUE_URL_ENV[q].dlq]: 'd' }, { dlqEnv: QUEUE_URL_ENV[q].dlq, maxReceiveCount: 1 });
        expect(LAYOUT.queues[q].workerTimeoutSeconds * 1000).toBeGreaterThan(3 * httpTimeoutMs + 2 * 1000);
        expect(lambda(p, LAYOUT.queues[q].worker).resource.Properties.MemorySize).toBe(512);
      }
      // Time for a page of open links; each link's calls are bounded, and a run stops before this.
      expect(lambda(p, 'reconciler').resource.Properties.Timeout).toBe(LAYOUT.reconciler.timeoutSeconds);
    }
  });

  it('keeps every log group for a set time, longer on production', () => {
    for (const [p, days] of [[dev, 30], [prod, 365]] as const) {
      const groups = resourcesOfType(p.template, 'AWS::Logs::LogGroup');
      expect(groups.length).toBe(6); // five functions and the HTTP API's access log
      for (const [, group] of groups) expect(group.Properties.RetentionInDays).toBe(days);
    }
  });

  it('serves exactly POST /slack/events and POST /pagerduty/webhooks, each on its own ingress, and outputs both URLs', () => {
    const t = dev.template;
    const routes = resourcesOfType(t, 'AWS::ApiGatewayV2::Route').map(([, r]) => {
      const integrationId = r.Properties.Target['Fn::Join'][1][1].Ref as string;
      const integration = t.Resources[integrationId]!.Properties;
      expect(integration.PayloadFormatVersion).toBe('2.0');
      return `${r.Properties.RouteKey} → ${integration.IntegrationUri['Fn::GetAtt'][0]}`;
    });
    expect(routes.sort()).toEqual([`POST /pagerduty/webhooks → ${lambda(dev, 'pagerduty-ingress').id}`, `POST /slack/events → ${lambda(dev, 'slack-ingress').id}`]);
    const endpoint = getAtt('HttpApi', 'ApiEndpoint');
    expect(t.Outputs.SlackRequestUrl!.Value).toEqual({ 'Fn::Join': ['', [endpoint, '/slack/events']] });
    expect(t.Outputs.PagerDutyWebhookUrl!.Value).toEqual({ 'Fn::Join': ['', [endpoint, '/pagerduty/webhooks']] });
  });

  it.each(QUEUES)('%s: FIFO queue and DLQ from layout.json, redrive after maxReceiveCount, visibility ≥ 6 × the worker timeout', (q) => {
    const layout = LAYOUT.queues[q];
    const names = queueNames(dev.stage, q);
    const queue = dev.template.Resources[layout.logicalId]!;
    const dlq = dev.template.Resources[layout.dlqLogicalId]!;
    expect(queue.Properties).toMatchObject({ QueueName: names.queue, FifoQueue: true, MessageRetentionPeriod: layout.retentionSeconds });
    // High-throughput FIFO (test/fifo-deduplication-scope.test.ts shows why per-group de-duplication is safe).
    expect(queue.Properties).toMatchObject({ ContentBasedDeduplication: false, DeduplicationScope: 'messageGroup', FifoThroughputLimit: 'perMessageGroupId' });
    expect(dlq.Properties).toMatchObject({ QueueName: names.dlq, FifoQueue: true });
    expect(queue.Properties.RedrivePolicy).toEqual({ deadLetterTargetArn: getAtt(layout.dlqLogicalId), maxReceiveCount: layout.maxReceiveCount });
    // A message must outlive its retries in the DLQ long enough to be looked at.
    expect(dlq.Properties.MessageRetentionPeriod).toBeGreaterThan(layout.retentionSeconds);
    const workerTimeout = lambda(dev, layout.worker).resource.Properties.Timeout as number;
    expect(queue.Properties.VisibilityTimeout).toBe(layout.visibilityTimeoutSeconds);
    expect(queue.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * workerTimeout);
  });

  it.each(QUEUES)('%s: the worker consumes its queue in batches from layout.json and reports partial batch failures', (q) => {
    const layout = LAYOUT.queues[q];
    const mappings = resourcesOfType(dev.template, 'AWS::Lambda::EventSourceMapping').filter(([, m]) => m.Properties.EventSourceArn['Fn::GetAtt'][0] === layout.logicalId);
    expect(mappings).toHaveLength(1);
    const mapping = mappings[0]![1].Properties;
    expect(mapping.FunctionName).toEqual(getAtt(lambda(dev, layout.worker).id));
    expect(mapping.BatchSize).toBe(layout.batchSize);
    expect(mapping.BatchSize).toBeLessThanOrEqual(10); // the most a FIFO queue hands out at once
    expect(mapping.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
  });

  it('has an on-demand table with TTL on the attribute the code writes, the customer index, PITR, and deletion protection on production only', () => {
    for (const [p, protect] of [[dev, false], [prod, true]] as const) {
      const table = p.template.Resources[LAYOUT.table.logicalId]!;
      expect(table.Type).toBe('AWS::DynamoDB::Table');
      expect(table.Properties).toMatchObject({
        TableName: tableName(p.stage),
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [{ AttributeName: LAYOUT.table.partitionKey, KeyType: 'HASH' }],
        TimeToLiveSpecification: { AttributeName: LAYOUT.table.ttlAttribute, Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: protect,
      });
      // Three sparse indexes: customers, links whose incident is not resolved (the reconciler's),
      // and the escalation history by month and customer (the report's).
      const indexes = [LAYOUT.table.customerIndex, LAYOUT.table.openLinkIndex, LAYOUT.table.historyIndex];
      for (const index of indexes) {
        expect(table.Properties.AttributeDefinitions).toContainEqual({ AttributeName: index.partitionKey, AttributeType: 'S' });
        expect(table.Properties.AttributeDefinitions).toContainEqual({ AttributeName: index.sortKey, AttributeType: 'S' });
      }
      expect(table.Properties.GlobalSecondaryIndexes).toEqual(
        indexes.map((index) => ({
          IndexName: index.name,
          KeySchema: [
            { AttributeName: index.partitionKey, KeyType: 'HASH' },
            { AttributeName: index.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        })),
      );
      expect(table.DeletionPolicy).toBe(protect ? 'Retain' : 'Delete');
    }
  });

  it('pre-warms the table only when the params ask, and then the indexes every escalation writes alike', () => {
    const defaults = (YAML.parse(readFileSync(join(ROOT, 'serverless.yml'), 'utf8')) as { params: { default: Record<string, unknown> } }).params.default;
    expect(defaults).toMatchObject({ tableWarmReadsPerSecond: 'none', tableWarmWritesPerSecond: 'none' });
    const warmOf = (p: Packaged) => {
      const table = p.template.Resources[LAYOUT.table.logicalId]!.Properties!;
      return { table: table.WarmThroughput, indexes: Object.fromEntries((table.GlobalSecondaryIndexes as { IndexName: string; WarmThroughput?: unknown }[]).map((index) => [index.IndexName, index.WarmThroughput])) };
    };
    for (const p of [dev, prod]) {
      expect(warmOf(p)).toEqual({ table: undefined, indexes: { [LAYOUT.table.customerIndex.name]: undefined, [LAYOUT.table.openLinkIndex.name]: undefined, [LAYOUT.table.historyIndex.name]: undefined } });
    }
    // The customer index takes a write when the provider edits a customer, not per escalation.
    expect(warmOf(split)).toEqual({
      table: { ReadUnitsPerSecond: 15000, WriteUnitsPerSecond: 14000 },
      indexes: { [LAYOUT.table.customerIndex.name]: undefined, [LAYOUT.table.openLinkIndex.name]: { WriteUnitsPerSecond: 14000 }, [LAYOUT.table.historyIndex.name]: { WriteUnitsPerSecond: 14000 } },
    });
  });

  it('lets the report Query the history index and the customers\' names and targets, and nothing else: no Scan, no item read, no write', () => {
    for (const p of [dev, prod]) {
      const [[, policy]] = resourcesOfType(p.template, 'AWS::IAM::ManagedPolicy') as [[string, Resource]];
      expect(policy.Properties.ManagedPolicyName).toBe(`${LAYOUT.service}-${p.stage}-report`);
      // Attached to no function: the people or roles that run `npm run report -- --stage` get it.
      expect(policy.Properties.Roles).toBeUndefined();
      const index = (i: { name: string }) => ({ 'Fn::Join': ['/', [getAtt(LAYOUT.table.logicalId), 'index', i.name]] });
      expect(policy.Properties.PolicyDocument.Statement).toEqual([
        { Sid: 'ReadHistory', Effect: 'Allow', Action: 'dynamodb:Query', Resource: index(LAYOUT.table.historyIndex) },
        {
          Sid: 'ReadCustomerNamesAndTargets',
          Effect: 'Allow',
          Action: 'dynamodb:Query',
          Resource: index(LAYOUT.table.customerIndex),
          Condition: { StringEquals: { 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' }, 'ForAllValues:StringEquals': { 'dynamodb:Attributes': ['channel', 'name', 'ackWithinMinutes', 'resolveWithinMinutes'] } },
        },
      ]);
      const actions = (policy.Properties.PolicyDocument.Statement as { Action: string }[]).map((s) => s.Action);
      expect(actions).not.toContain('dynamodb:Scan');
      expect(actions.every((a) => a === 'dynamodb:Query')).toBe(true);
    }
  });

  it('gives each function its own role with exactly the permissions its code needs', () => {
    const TABLE = getAtt(LAYOUT.table.logicalId);
    const WRITES = ['dynamodb:DeleteItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'];
    const READS = ['dynamodb:BatchGetItem', 'dynamodb:GetItem'];
    const OWN_ITEMS = { 'ForAllValues:StringNotLike': { 'dynamodb:LeadingKeys': ['customer#*', 'routing#*'] } };
    const NOT_ROUTING_KEYS = { 'ForAllValues:StringNotLike': { 'dynamodb:LeadingKeys': ['routing#*'] } };
    const SHARING = { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['customer#*'] }, 'ForAllValues:StringEquals': { 'dynamodb:Attributes': ['pk', 'sharedWith', 'channelName', 'updatedAt'] } };
    const devSecret = { 'Fn::Sub': `arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:pd-router/${dev.stage}-??????` };
    for (const [p, secret] of [[dev, devSecret], [prod, PROD_SECRET_ARN]] as const) {
      const roleIds = resourcesOfType(p.template, 'AWS::Lambda::Function').map(([, f]) => f.Properties.Role['Fn::GetAtt'][0]);
      expect(new Set(roleIds).size).toBe(5);
      expect(resourcesOfType(p.template, 'AWS::IAM::Role')).toHaveLength(5); // no shared default role
      for (const q of QUEUES) {
        const layout = LAYOUT.queues[q];
        expect(grants(roleOf(p, INGRESS[q]))).toEqual(expectedGrants(p, INGRESS[q], secret, [[['sqs:SendMessage'], getAtt(layout.logicalId)]]));
        expect(grants(roleOf(p, layout.worker))).toEqual(
          expectedGrants(p, layout.worker, secret, [
            [['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ChangeMessageVisibility'], getAtt(layout.logicalId)],
            // Back onto its own queue (a 429's wait, a fan-out, a confirmation refresh), and into its DLQ.
            [['sqs:SendMessage'], getAtt(layout.logicalId)],
            [['sqs:SendMessage'], getAtt(layout.dlqLogicalId)],
            // Its own items only; every item but the routing keys, which only the function that pages reads;
            // the slack-worker also records who a customer's channel is shared with, and nothing else of it.
            [WRITES, TABLE, OWN_ITEMS],
            [READS, TABLE, layout.worker === 'slack-worker' ? undefined : NOT_ROUTING_KEYS],
            ...(layout.worker === 'slack-worker' ? [[['dynamodb:UpdateItem'], TABLE, SHARING] as [string[], unknown, unknown]] : []),
          ]),
        );
      }
      // No worker queries an index: the DynamoDB operations in the code are these, and the Queries of the reconciler and the report.
      expect([...WRITES, ...READS].sort()).toEqual(dynamoActionsInCode().filter((action) => action !== 'dynamodb:Query'));
      // The reconciler: reads and writes links and effect claims (dropping a claim a Slack 429 left
      // unposted), lists open links on their index, reads the worker secret; sends confirmation
      // refreshes to the PagerDuty queue, and receives from no queue.
      expect(grants(roleOf(p, 'reconciler'))).toEqual(
        expectedGrants(p, 'reconciler', secret, [
          [WRITES, TABLE, OWN_ITEMS],
          [['dynamodb:GetItem'], TABLE, NOT_ROUTING_KEYS],
          [['dynamodb:Query'], { 'Fn::Join': ['/', [getAtt(LAYOUT.table.logicalId), 'index', LAYOUT.table.openLinkIndex.name]] }],
          [['sqs:SendMessage'], getAtt(LAYOUT.queues.pagerduty.logicalId)],
        ]),
      );
      for (const [, role] of resourcesOfType(p.template, 'AWS::IAM::Role')) {
        expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }]);
        for (const line of grants(role)) expect(line).not.toMatch(/^\S*\*|on "\*"$/);
      }
    }
  });

  it("gives the slack-worker the Slack app's id from param slackAppId, empty (not compared) by default", () => {
    expect(lambda(prod, 'slack-worker').resource.Properties.Environment.Variables.SLACK_APP_ID).toBe('A0PDROUTER01');
    expect(lambda(dev, 'slack-worker').resource.Properties.Environment.Variables.SLACK_APP_ID).toBe('');
  });

  it('tells each function where its own queue, DLQ and table are, under the names lib/runtime/config.ts reads', () => {
    for (const q of QUEUES) {
      const layout = LAYOUT.queues[q];
      const ingressEnv = lambda(dev, INGRESS[q]).resource.Properties.Environment.Variables;
      const workerEnv = lambda(dev, layout.worker).resource.Properties.Environment.Variables;
      expect(ingressEnv[QUEUE_URL_ENV[q].queue]).toEqual({ Ref: layout.logicalId });
      expect(Object.values(ingressEnv).filter((v) => typeof v === 'object')).toHaveLength(1);
      expect(workerEnv[QUEUE_URL_ENV[q].queue]).toEqual({ Ref: layout.logicalId });
      expect(workerEnv[QUEUE_URL_ENV[q].dlq]).toEqual({ Ref: layout.dlqLogicalId });
      expect(workerEnv[ENV.tableName]).toEqual({ Ref: LAYOUT.table.logicalId });
      expect(Object.values(workerEnv).filter((v) => typeof v === 'object')).toHaveLength(3);
    }
  });

  it('alarms on each DLQ and on worker errors, mailing the address given on production and nobody otherwise', () => {
    for (const p of [dev, prod]) {
      const alarms = resourcesOfType(p.template, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
      for (const q of QUEUES) {
        const layout = LAYOUT.queues[q];
        const dlqAlarm = alarms.find((a) => a.Namespace === 'AWS/SQS' && a.Dimensions[0].Value['Fn::GetAtt']?.[0] === layout.dlqLogicalId);
        expect(dlqAlarm).toMatchObject({ MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
        const errorsAlarm = alarms.find((a) => a.Namespace === 'AWS/Lambda' && a.Dimensions[0].Value === `${LAYOUT.service}-${p.stage}-${layout.worker}`);
        expect(errorsAlarm).toMatchObject({ MetricName: 'Errors', Statistic: 'Sum', Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
      }
      expect(alarms.find((a) => a.Namespace === 'AWS/ApiGateway')).toMatchObject({ MetricName: '5xx', Dimensions: [{ Name: 'ApiId', Value: { Ref: 'HttpApi' } }] });
      for (const a of alarms) expect(a.AlarmActions).toEqual(p === prod ? [{ Ref: 'AlarmTopic' }] : undefined);
    }
    expect(resourcesOfType(dev.template, 'AWS::SNS::Topic')).toHaveLength(0);
    expect(resourcesOfType(prod.template, 'AWS::SNS::Subscription').map(([, s]) => s.Properties)).toEqual([
      { TopicArn: { Ref: 'AlarmTopic' }, Protocol: 'email', Endpoint: 'oncall@provider.example' },
    ]);
  });

  it("alarms on the reconciler's errors and on the age of each queue's oldest message, past a message's whole retry path", () => {
    for (const p of [dev, prod]) {
      const alarms = Object.fromEntries(resourcesOfType(p.template, 'AWS::CloudWatch::Alarm').map(([id, a]) => [id, a.Properties]));
      expect(alarms.ReconcilerErrorsAlarm).toMatchObject({
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: `${LAYOUT.service}-${p.stage}-reconciler` }],
        Statistic: 'Sum',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
      for (const q of QUEUES) {
        const layout = LAYOUT.queues[q];
        const age = alarms[`${layout.logicalId}OldestMessageAlarm`]!;
        expect(age).toMatchObject({
          Namespace: 'AWS/SQS',
          MetricName: 'ApproximateAgeOfOldestMessage',
          Dimensions: [{ Name: 'QueueName', Value: getAtt(layout.logicalId, 'QueueName') }],
          Statistic: 'Maximum',
          ComparisonOperator: 'GreaterThanThreshold',
        });
        // Five deliveries, each up to the worker's timeout, with backoffs of at most a visibility timeout between them.
        expect(age.Threshold).toBeGreaterThan(layout.maxReceiveCount * layout.workerTimeoutSeconds + layout.visibilityTimeoutSeconds);
        expect(age.AlarmDescription).toContain(`${age.Threshold / 60} minutes`);
      }
      for (const a of Object.values(alarms)) expect(a.AlarmDescription).toContain(`npm run doctor -- --stage ${p.stage}`);
    }
  });

  it("states the counts of functions, roles, bundles, alarms, log groups and dashboards in the README and docs/ as the template has them", () => {
    // The README speaks of five functions, docs/deploy.md of the roles, alarms and log groups: any of them may go stale.
    const documents = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];
    const readme = documents.map((file) => readFileSync(join(ROOT, file), 'utf8')).join('\n');
    const NUMBERS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen', 'twenty'];
    const count = (type: string) => resourcesOfType(prod.template, type).length;
    const nouns: [RegExp, number][] = [
      [/\b(\w+) (?:Lambda )?functions\b/gi, count('AWS::Lambda::Function')],
      [/\b(\w+) function roles\b/gi, count('AWS::IAM::Role')],
      [/\b(\w+) (?:function )?bundles\b/gi, count('AWS::Lambda::Function')],
      [/\b(\w+) alarms\b/gi, count('AWS::CloudWatch::Alarm')],
      [/\b(\w+) log groups\b/gi, count('AWS::Logs::LogGroup')],
      [/\b(\w+) dashboards?\b/gi, count('AWS::CloudWatch::Dashboard')],
    ];
    const stated = nouns.flatMap(([pattern, actual]) =>
      [...readme.matchAll(pattern)]
        .map((match) => ({ phrase: match[0], number: /^\d+$/.test(match[1]!) ? Number(match[1]) : NUMBERS.indexOf(match[1]!.toLowerCase()), actual }))
        .filter((s) => s.number >= 0),
    );
    expect(stated.filter((s) => s.number !== s.actual).map((s) => `the documents say "${s.phrase}", the template has ${s.actual}`)).toEqual([]);
    // Each count is stated somewhere, so the check cannot pass by finding nothing.
    for (const noun of ['functions', 'alarms', 'log groups', 'dashboard']) expect(stated.some((s) => s.phrase.toLowerCase().includes(noun))).toBe(true);
  });

  it('holds no secret value: only the secret name or ARN, whatever the environment holds', () => {
    for (const p of [dev, prod]) {
      for (const canary of Object.values(CANARIES)) expect(p.text).not.toContain(canary);
      for (const [, fn] of resourcesOfType(p.template, 'AWS::Lambda::Function')) {
        const variables = fn.Properties.Environment.Variables as Record<string, unknown>;
        for (const name of SECRET_NAMES) expect(variables).not.toHaveProperty(name);
        expect(variables.SECRETS_MANAGER_SECRET_ID).toBe(p === prod ? PROD_SECRET_ARN : `pd-router/${p.stage}`);
      }
    }
  });

  it('zips each function alone: its minified bundle with the AWS SDK inside, and its source map', () => {
    const dependencies = Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies);
    for (const fn of ['slack-ingress', 'slack-worker', 'pagerduty-ingress', 'pagerduty-worker']) {
      const files = readZip(readFileSync(join(dev.dir, `${fn}.zip`)));
      expect([...files.keys()].sort()).toEqual([`functions/${fn}/handler.js`, `functions/${fn}/handler.js.map`]);
      const bundle = files.get(`functions/${fn}/handler.js`)!.toString('utf8');
      // Minified: a handful of very long lines (template literals keep their own line breaks).
      expect(bundle.length / bundle.split('\n').length).toBeGreaterThan(1000);
      expect(bundle).toContain('"SendMessage"'); // the SDK's own operation, not a require of it
      expect(bundle).toContain('"GetSecretValue"');
      for (const canary of Object.values(CANARIES)) expect(bundle).not.toContain(canary);
      const required = [...bundle.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]!).filter((m) => !m.startsWith('node:') && !builtinModules.includes(m));
      // What is left are optional peers the SDK and node-fetch try to load inside try/catch.
      for (const name of required) {
        expect(dependencies.some((dep) => name === dep || name.startsWith(`${dep}/`))).toBe(false);
        expect(name).not.toMatch(/^@smithy\//);
      }
    }
  });

  it('answers every AWS SDK setting in each function\'s environment, so no cold start opens an AWS config file', async () => {
    // Lambda has no ~/.aws/config or ~/.aws/credentials; an SDK setting the environment leaves
    // open makes each cold start load fs/promises and try both files. Each packaged bundle runs
    // its first request with its template's environment and a probe on fs/promises.readFile;
    // every AWS endpoint is a closed local port, so the SDK resolves its settings and then fails.
    const dir = mkdtempSync(join(tmpdir(), 'pd-router-cold-config-'));
    try {
      const probe = join(dir, 'probe.cjs');
      writeFileSync(
        probe,
        `const fsp = require('node:fs/promises'); const reads = []; const readFile = fsp.readFile;
fsp.readFile = function (file, ...rest) { reads.push(String(file)); return readFile.call(this, file, ...rest); };
const { handler } = require(process.env.PROBE_BUNDLE);
const context = { functionName: 'probe', awsRequestId: 'probe', getRemainingTimeInMillis: () => 30000 };
Promise.resolve().then(() => handler(JSON.parse(process.env.PROBE_EVENT), context)).catch(() => undefined)
  .finally(() => { require('node:fs').writeFileSync(process.env.PROBE_OUT, JSON.stringify(reads)); process.exit(0); });`,
      );
      const closed = 'http://127.0.0.1:9';
      const secrets: Record<string, string> = Object.fromEntries(SECRET_NAMES.map((name) => [name, `probe-${name.toLowerCase()}`]));
      const sqsRecord = (body: unknown, group: string) => ({
        Records: [{ messageId: 'm1', receiptHandle: 'r1', body: JSON.stringify(body), attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()), SenderId: 'probe', ApproximateFirstReceiveTimestamp: String(Date.now()), MessageGroupId: group }, messageAttributes: { contractVersion: { dataType: 'Number', stringValue: String(EVENT_CONTRACT_VERSION) } }, md5OfBody: '', eventSource: 'aws:sqs', eventSourceARN: 'arn:aws:sqs:eu-west-1:000000000000:probe.fifo', awsRegion: 'eu-west-1' }],
      });
      const webhook = incidentWebhookBody(webhookIncident({ id: 'PPROBE1', incidentKey: 'pdr-probe', status: 'acknowledged', title: 'probe' }), 'incident.acknowledged', { by: 'Bench On-Call' });
      const normalizedWebhook = normalizePagerDutyWebhook(webhook as never, 'whprobe', new Date());
      const firstRequests: Record<string, unknown> = {
        'slack-ingress': apiGatewayEvent('/slack/events', signedSlackJson(secrets.SLACK_SIGNING_SECRET!, mentionEnvelope({ channel: 'CPROBE1', text: 'escalate probe' }))),
        'pagerduty-ingress': apiGatewayEvent('/pagerduty/webhooks', signedWebhook(secrets.PAGER_DUTY_SIGNING_KEY!, webhook)),
        'slack-worker': sqsRecord(normalizeBlockActions(checkStatusPayload({ channel: 'CPROBE1', value: 'pdr-0123456789abcdef0123456789abcdef' }), new Date()), 'CPROBE1'),
        'pagerduty-worker': sqsRecord(normalizedWebhook, 'PPROBE1'),
      };
      const run = async (fn: string, withSdkSettings: boolean): Promise<string[]> => {
        const files = readZip(readFileSync(join(dev.dir, `${fn}.zip`)));
        const bundle = join(dir, fn, 'handler.js');
        mkdirSync(join(dir, fn), { recursive: true });
        writeFileSync(bundle, files.get(`functions/${fn}/handler.js`)!);
        const declared = lambda(dev, fn).resource.Properties.Environment.Variables as Record<string, unknown>;
        const literal = Object.fromEntries(Object.entries(declared).filter((e): e is [string, string] => typeof e[1] === 'string' && !(withSdkSettings === false && e[0].startsWith('AWS_'))));
        delete literal.SECRETS_MANAGER_SECRET_ID;
        const out = join(dir, `${fn}-${withSdkSettings}.json`);
        const env: NodeJS.ProcessEnv = {
          PATH: process.env.PATH,
          HOME: dir,
          ...literal,
          ...secrets,
          AWS_REGION: 'eu-west-1',
          AWS_ACCESS_KEY_ID: 'AKIAPROBE',
          AWS_SECRET_ACCESS_KEY: 'probe',
          AWS_ENDPOINT_URL_SQS: closed,
          AWS_ENDPOINT_URL_DYNAMODB: closed,
          [ENV.slackQueueUrl]: `${closed}/000000000000/slack.fifo`,
          [ENV.slackDlqUrl]: `${closed}/000000000000/slack-dlq.fifo`,
          [ENV.pagerDutyQueueUrl]: `${closed}/000000000000/pagerduty.fifo`,
          [ENV.pagerDutyDlqUrl]: `${closed}/000000000000/pagerduty-dlq.fifo`,
          [ENV.tableName]: 'probe',
          SLACK_API_URL: `${closed}/api/`,
          PAGER_DUTY_API_URL: `${closed}/`,
          PAGER_DUTY_EVENTS_URL: `${closed}/`,
          LOG_LEVEL: 'silent',
          PROBE_BUNDLE: bundle,
          PROBE_EVENT: JSON.stringify(firstRequests[fn]),
          PROBE_OUT: out,
        };
        await exec(process.execPath, [probe], { env, timeout: 30_000 });
        return JSON.parse(readFileSync(out, 'utf8')) as string[];
      };
      // The probe sees the reads when the settings are missing, so a silent result below means something.
      expect((await run('slack-ingress', false)).some((file) => file.includes('.aws'))).toBe(true);
      for (const fn of Object.keys(firstRequests)) expect({ fn, reads: await run(fn, true) }).toEqual({ fn, reads: [] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('has a dashboard of every pd-router metric, the queue ages and DLQ depths, function errors and durations, and the API 4xx/5xx', () => {
    const dashboards = resourcesOfType(dev.template, 'AWS::CloudWatch::Dashboard');
    expect(dashboards).toHaveLength(1);
    const [, dashboard] = dashboards[0]!;
    expect(dashboard.Properties.DashboardName).toBe(`${LAYOUT.service}-${dev.stage}`);
    const body = dashboard.Properties.DashboardBody['Fn::Sub'] as string;
    // Only the region and the API id are substituted; anything else in ${…} would fail the deploy.
    expect([...new Set([...body.matchAll(/\$\{([^}]+)\}/g)].map((m) => m[1]))].sort()).toEqual(['AWS::Region', 'HttpApi']);
    const widgets = (JSON.parse(body) as { widgets: { properties: { metrics: unknown[][] } }[] }).widgets;
    const lines = widgets.flatMap((w) => w.properties.metrics.map((m) => m.filter((part) => typeof part === 'string').join(' ')));
    const own = (name: string, fn: string) => `pd-router ${name} service pd-router stage ${dev.stage} function ${fn}`;
    for (const [fn, names] of Object.entries(metricDefinitions.emittedBy)) for (const name of names) expect(lines).toContain(own(name, fn));
    for (const name of Object.values(metricDefinitions.updatesPosted)) expect(lines).toContain(own(name, 'pagerduty-worker'));
    for (const q of QUEUES) {
      expect(lines).toContain(`AWS/SQS ApproximateAgeOfOldestMessage QueueName ${queueNames(dev.stage, q).queue}`);
      expect(lines).toContain(`AWS/SQS ApproximateNumberOfMessagesVisible QueueName ${queueNames(dev.stage, q).dlq}`);
    }
    for (const fn of ['slack-ingress', 'pagerduty-ingress', 'slack-worker', 'pagerduty-worker', 'reconciler']) {
      for (const metric of ['Errors', 'Duration']) expect(lines).toContain(`AWS/Lambda ${metric} FunctionName ${LAYOUT.service}-${dev.stage}-${fn}`);
    }
    for (const metric of ['4xx', '5xx']) expect(lines).toContain(`AWS/ApiGateway ${metric} ApiId \${HttpApi}`);
  });

  it('alarms when escalations fail for good and when webhooks go quiet, on the metrics the code emits, each saying what to run', () => {
    for (const p of [dev, prod]) {
      const alarms = resourcesOfType(p.template, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
      const own = (name: string, fn: string) => alarms.find((a) => a.Namespace === metricDefinitions.namespace && a.MetricName === name && a.Dimensions.find((d: { Name: string }) => d.Name === 'function')?.Value === fn);
      const dimensions = (fn: string) => expect.arrayContaining([{ Name: 'service', Value: 'pd-router' }, { Name: 'stage', Value: p.stage }, { Name: 'function', Value: fn }]);
      expect(own(metricDefinitions.names.escalationsFailed, 'slack-worker')).toMatchObject({ Statistic: 'Sum', Threshold: 0, ComparisonOperator: 'GreaterThanThreshold', Dimensions: dimensions('slack-worker') });
      expect(own('ReconcilerCatchUps', 'reconciler')).toMatchObject({ Statistic: 'Sum', Threshold: 0, ComparisonOperator: 'GreaterThanThreshold', Dimensions: dimensions('reconciler') });
      for (const a of [own(metricDefinitions.names.escalationsFailed, 'slack-worker'), own('ReconcilerCatchUps', 'reconciler')]) expect(a?.Dimensions).toHaveLength(3);
      expect(own(metricDefinitions.names.escalationsWithoutIncident, 'reconciler')).toMatchObject({ Statistic: 'Sum', Threshold: 0, ComparisonOperator: 'GreaterThanThreshold', Dimensions: dimensions('reconciler') });
      // Per queue: its DLQ's depth, its oldest message, its worker's errors; then 5xx, the reconciler's errors and three of pd-router's own metrics.
      expect(alarms.length).toBe(3 * QUEUES.length + 5);
      for (const a of alarms) {
        expect(a.AlarmDescription).toContain(`npm run doctor -- --stage ${p.stage}`);
        expect(a.AlarmDescription).toContain(`npm run dlq -- list --stage ${p.stage}`);
        expect(a.AlarmDescription.length).toBeLessThanOrEqual(1024);
        expect(a.AlarmActions).toEqual(p === prod ? [{ Ref: 'AlarmTopic' }] : undefined);
      }
    }
  });

  it('throttles both routes on the HTTP API stage, with the defaults of serverless.yml or the params given', () => {
    const defaults = (YAML.parse(readFileSync(join(ROOT, 'serverless.yml'), 'utf8')) as { params: { default: Record<string, unknown> } }).params.default;
    for (const [p, rate, burst] of [[dev, defaults.routeRateLimit, defaults.routeBurstLimit], [split, 7, 9]] as const) {
      const stage = p.template.Resources.HttpApiStage!;
      const routes = resourcesOfType(p.template, 'AWS::ApiGatewayV2::Route');
      const limits = { ThrottlingRateLimit: rate, ThrottlingBurstLimit: burst };
      expect(Object.keys(stage.Properties.RouteSettings).sort()).toEqual(routes.map(([, r]) => r.Properties.RouteKey).sort());
      for (const settings of Object.values(stage.Properties.RouteSettings)) expect(settings).toEqual(limits);
      expect(stage.Properties.DefaultRouteSettings).toMatchObject(limits);
      // CloudFormation refuses route settings for a route it has not created yet.
      for (const [id] of routes) expect(stage.DependsOn).toContain(id);
    }
    expect(defaults.routeRateLimit).toEqual(expect.any(Number));
    expect(defaults.routeBurstLimit).toBeGreaterThanOrEqual(defaults.routeRateLimit as number);
  });

  it('reserves no concurrency by default, which a new AWS account could not grant; the params reserve it for the ingress functions and the reconciler', () => {
    const defaults = (YAML.parse(readFileSync(join(ROOT, 'serverless.yml'), 'utf8')) as { params: { default: Record<string, unknown> } }).params.default;
    expect(defaults).toMatchObject({ ingressReservedConcurrency: 'none', reconcilerReservedConcurrency: 'none' });
    for (const p of [dev, prod]) {
      const reserved = resourcesOfType(p.template, 'AWS::Lambda::Function').filter(([, r]) => r.Properties.ReservedConcurrentExecutions !== undefined);
      expect(reserved.map(([id]) => id)).toEqual([]);
    }
    for (const q of QUEUES) {
      expect(lambda(split, INGRESS[q]).resource.Properties.ReservedConcurrentExecutions).toBe(50);
      // Workers scale with their queue's message groups, not with the ingress's cap.
      expect(lambda(split, LAYOUT.queues[q].worker).resource.Properties.ReservedConcurrentExecutions).toBeUndefined();
    }
    expect(lambda(split, 'reconciler').resource.Properties.ReservedConcurrentExecutions).toBe(1);
  });

  it('with split secrets, no ingress role can read the API-token secret and no worker the signing secret', () => {
    const signing = { 'Fn::Sub': `arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${SPLIT_SIGNING_SECRET}-??????` };
    const secretGrants = (fn: string) => grants(roleOf(split, fn)).filter((line) => line.startsWith('secretsmanager:'));
    for (const q of QUEUES) {
      expect(secretGrants(INGRESS[q])).toEqual([`secretsmanager:GetSecretValue on ${JSON.stringify(signing)}`]);
      expect(secretGrants(LAYOUT.queues[q].worker)).toEqual([`secretsmanager:GetSecretValue on ${JSON.stringify(SPLIT_API_TOKEN_ARN)}`]);
      expect(JSON.stringify(roleOf(split, INGRESS[q]))).not.toContain('api-tokens');
      expect(lambda(split, INGRESS[q]).resource.Properties.Environment.Variables.SECRETS_MANAGER_SECRET_ID).toBe(SPLIT_SIGNING_SECRET);
      expect(lambda(split, LAYOUT.queues[q].worker).resource.Properties.Environment.Variables.SECRETS_MANAGER_SECRET_ID).toBe(SPLIT_API_TOKEN_ARN);
    }
    // Nothing else in the stack may read a secret either.
    const readers = resourcesOfType(split.template, 'AWS::IAM::Role').filter(([, r]) => JSON.stringify(r).includes('secretsmanager'));
    expect(readers).toHaveLength(5);
    expect(secretGrants('reconciler')).toEqual([`secretsmanager:GetSecretValue on ${JSON.stringify(SPLIT_API_TOKEN_ARN)}`]);
    expect(lambda(split, 'reconciler').resource.Properties.Environment.Variables.SECRETS_MANAGER_SECRET_ID).toBe(SPLIT_API_TOKEN_ARN);
  });

  it('runs the reconciler on an EventBridge schedule from param reconcileEverySeconds, one run at a time, with its table and intervals', () => {
    const defaults = (YAML.parse(readFileSync(join(ROOT, 'serverless.yml'), 'utf8')) as { params: { default: Record<string, unknown> } }).params.default;
    expect(defaults.reconcileEverySeconds).toBe(300);
    for (const p of [dev, prod]) {
      const { id, resource } = lambda(p, 'reconciler');
      const rules = resourcesOfType(p.template, 'AWS::Events::Rule').map(([, r]) => r.Properties);
      expect(rules).toHaveLength(1);
      expect(rules[0]).toMatchObject({ ScheduleExpression: 'rate(5 minutes)', State: 'ENABLED' });
      expect(rules[0]!.Targets.map((t: { Arn: unknown }) => t.Arn)).toEqual([getAtt(id)]);
      expect(resource.Properties.ReservedConcurrentExecutions).toBeUndefined();
      const variables = resource.Properties.Environment.Variables;
      expect(variables[ENV.tableName]).toEqual({ Ref: LAYOUT.table.logicalId });
      expect(variables).toMatchObject({ RECONCILE_EVERY_SECONDS: '300', NO_INCIDENT_AFTER_SECONDS: '300' });
      // It posts to Slack itself, through the same effect keys as the worker; the PagerDuty queue
      // only carries the confirmations it caught up to the pagerduty-worker's paced re-render.
      expect(Object.keys(variables).filter((name) => name.includes('QUEUE'))).toEqual([ENV.pagerDutyQueueUrl]);
      expect(variables[ENV.pagerDutyQueueUrl]).toEqual({ Ref: LAYOUT.queues.pagerduty.logicalId });
    }
  });

  it("docs/deploy.md's deploy permissions name the service of every resource type the template creates", () => {
    const guide = readFileSync(join(ROOT, 'docs', 'deploy.md'), 'utf8');
    const section = guide.slice(guide.indexOf('### AWS credentials and permissions'), guide.indexOf('### Where each Slack and PagerDuty value comes from'));
    expect(section.length).toBeGreaterThan(0);
    const listed = new Set([...section.matchAll(/^\| ([^|]+?) \| /gm)].map((match) => match[1]!.trim()));
    // CloudFormation's namespace → the service as the guide's table names it.
    const SERVICE: Record<string, string> = { ApiGatewayV2: 'API Gateway (v2)', CloudWatch: 'CloudWatch', DynamoDB: 'DynamoDB', Events: 'EventBridge', IAM: 'IAM', Lambda: 'Lambda', Logs: 'CloudWatch Logs', S3: 'S3', SNS: 'SNS', SQS: 'SQS' };
    for (const p of [dev, prod]) {
      const namespaces = new Set(Object.values(p.template.Resources).map((resource) => resource.Type.split('::')[1]!));
      expect([...namespaces].filter((namespace) => !listed.has(SERVICE[namespace] ?? `a row for AWS::${namespace}`))).toEqual([]);
    }
  });

  it('tells every function its stage, the metrics\' stage dimension', () => {
    for (const p of [dev, prod]) for (const [, fn] of resourcesOfType(p.template, 'AWS::Lambda::Function')) expect(fn.Properties.Environment.Variables.STAGE).toBe(p.stage);
  });
});

describe('serverless.yml as a plain YAML file', () => {
  const text = readFileSync(join(ROOT, 'serverless.yml'), 'utf8');
  const document = YAML.parseDocument(text);
  const config = document.toJS() as { service: string; build: unknown; custom: { esbuild: Record<string, unknown> } };

  it('parses without custom tags, so other tools (the benchmark) can read it', () => {
    expect(document.errors).toEqual([]);
    expect(document.warnings).toEqual([]);
    expect(config.service).toBe(LAYOUT.service);
  });

  it('keeps the esbuild options as plain literals: bundled, minified, source-mapped, node24, the SDK included, one HTTP stack', () => {
    expect(config.custom.esbuild).toEqual({
      bundle: true,
      minify: true,
      keepNames: false,
      sourcemap: true,
      target: 'node24',
      platform: 'node',
      exclude: [],
      mainFields: ['module', 'main'],
      alias: {
        '@aws-sdk/credential-provider-node': './lib/shims/lambda-credentials.ts',
        'cross-fetch': './lib/shims/pdjs-fetch.ts',
        '@smithy/core/event-streams': './lib/shims/no-event-streams.ts',
      },
    });
  });

  it('stays valid for Serverless v4, whose own esbuild must stand aside for the plugin', () => {
    expect(config.build).toEqual({ esbuild: false });
  });
});

/** The params serverless.yml gives every stage that the generator reads without a default of its own. */
const PARAM_DEFAULTS: Record<string, string> = { routeRateLimit: '50', routeBurstLimit: '100', ingressReservedConcurrency: 'none', reconcilerReservedConcurrency: 'none', tableWarmReadsPerSecond: 'none', tableWarmWritesPerSecond: 'none' };

describe('deploy/cloudformation.js refuses params that would deploy a half-configured stack', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const generator = require('../../deploy/cloudformation.js') as { resources: (input: { resolveVariable: (v: string) => Promise<unknown> }) => Promise<unknown> };
  const DEFAULTS: Record<string, string> = { ...PARAM_DEFAULTS, secretId: 'pd-router/t' };
  const resolveWith = (params: Record<string, string>) => async (variable: string) => {
    if (variable === 'sls:stage') return 't';
    if (variable === 'self:custom.routes.slack') return '/slack/events';
    if (variable === 'self:custom.routes.pagerDuty') return '/pagerduty/webhooks';
    const name = /^param:(\w+)/.exec(variable)?.[1] ?? '';
    return { ...DEFAULTS, ...params }[name] ?? '';
  };

  it.each([
    [{ signingSecretId: 'a' }, /both params signingSecretId and apiTokenSecretId/],
    [{ apiTokenSecretId: 'b' }, /both params signingSecretId and apiTokenSecretId/],
    [{ signingSecretId: 'same', apiTokenSecretId: 'same' }, /two different secrets/],
    [{ secretId: '' }, /param secretId .* is required/],
    [{ routeRateLimit: 'lots' }, /param routeRateLimit must be a whole number from 1/],
    [{ routeBurstLimit: '0' }, /param routeBurstLimit must be a whole number from 1/],
    [{ ingressReservedConcurrency: '0' }, /param ingressReservedConcurrency must be a whole number from 1 to 1000, or 'none'/],
    [{ reconcilerReservedConcurrency: '2' }, /param reconcilerReservedConcurrency must be a whole number from 1 to 1, or 'none'/],
    // Under a new table's own warm throughput, or over the per-table quota: the deploy would fail.
    [{ tableWarmWritesPerSecond: '1000' }, /param tableWarmWritesPerSecond must be a whole number from 4000 to 40000, or 'none'/],
    [{ tableWarmReadsPerSecond: '50000' }, /param tableWarmReadsPerSecond must be a whole number from 12000 to 40000, or 'none'/],
  ])('%j: a one-line error naming the param', async (params, message) => {
    await expect(generator.resources({ resolveVariable: resolveWith(params) })).rejects.toThrow(message);
  });

  it.each([
    ['300', 'rate(5 minutes)'],
    ['60', 'rate(1 minute)'],
  ])('reconcileEverySeconds %s is the schedule %s', async (seconds, rate) => {
    const reconciler = generator as unknown as { reconcileRate: (input: { resolveVariable: (v: string) => Promise<unknown> }) => Promise<string> };
    await expect(reconciler.reconcileRate({ resolveVariable: resolveWith({ reconcileEverySeconds: seconds }) })).resolves.toBe(rate);
  });

  it.each([
    ['90', /param reconcileEverySeconds must be a multiple of 60/],
    ['30', /param reconcileEverySeconds must be a whole number from 60/],
    ['often', /param reconcileEverySeconds must be a whole number from 60/],
  ])('reconcileEverySeconds %s: a one-line error naming the param', async (seconds, message) => {
    const reconciler = generator as unknown as { reconcileRate: (input: { resolveVariable: (v: string) => Promise<unknown> }) => Promise<string> };
    await expect(reconciler.reconcileRate({ resolveVariable: resolveWith({ reconcileEverySeconds: seconds }) })).rejects.toThrow(message);
  });

  it('accepts the defaults, and split secrets without secretId', async () => {
    await expect(generator.resources({ resolveVariable: resolveWith({}) })).resolves.toHaveProperty('Resources');
    await expect(generator.resources({ resolveVariable: resolveWith({ secretId: '', signingSecretId: 'a', apiTokenSecretId: 'b' }) })).resolves.toHaveProperty('extensions');
  });
});

describe('stage prod refuses to be packaged or deployed with alarms that notify nobody', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const generator = require('../../deploy/cloudformation.js') as { resources: (input: { resolveVariable: (v: string) => Promise<unknown> }) => Promise<{ Resources: Record<string, Resource> }> };
  const resolveFor = (stage: string, params: Record<string, string>) => async (variable: string) => {
    if (variable === 'sls:stage') return stage;
    if (variable === 'self:custom.routes.slack') return '/slack/events';
    if (variable === 'self:custom.routes.pagerDuty') return '/pagerduty/webhooks';
    const name = /^param:(\w+)/.exec(variable)?.[1] ?? '';
    return { ...PARAM_DEFAULTS, secretId: 'pd-router/x', ...params }[name] ?? '';
  };
  /** The generator as osls runs it: it reads the command (`package`, `deploy`, `info`…) from the command line. */
  async function generate(command: string, stage: string, params: Record<string, string>) {
    const argv = process.argv;
    process.argv = [argv[0]!, 'serverless.js', ...command.split(' '), '--stage', stage];
    try {
      return await generator.resources({ resolveVariable: resolveFor(stage, params) });
    } finally {
      process.argv = argv;
    }
  }
  const REFUSAL = /^stage prod needs an alarm destination: --param alarmEmail=you@example\.com or --param alarmTopicArn=arn:aws:sns:<region>:<account>:<topic> \(or --param alarms=none to deploy alarms that notify nobody, on purpose\)$/;
  const alarmActions = (resources: Record<string, Resource>) => Object.values(resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm').map((r) => r.Properties.AlarmActions);

  it.each(['package', 'deploy', 'deploy function'])('%s of prod with neither alarmEmail nor alarmTopicArn: one line saying how to give one', async (command) => {
    await expect(generate(command, 'prod', {})).rejects.toThrow(REFUSAL);
    await expect(generate(command, 'prod', {})).rejects.toHaveProperty('stack', expect.stringMatching(REFUSAL));
  });

  it('packages prod with a destination, or with alarms=none on purpose; other stages and the commands that build nothing need none', async () => {
    const topic = 'arn:aws:sns:eu-west-1:123456789012:alarms';
    expect(alarmActions((await generate('package', 'prod', { alarmTopicArn: topic })).Resources).every((a) => JSON.stringify(a) === JSON.stringify([topic]))).toBe(true);
    expect(alarmActions((await generate('deploy', 'prod', { alarmEmail: 'oncall@provider.example' })).Resources).every((a) => JSON.stringify(a) === '[{"Ref":"AlarmTopic"}]')).toBe(true);
    expect(alarmActions((await generate('package', 'prod', { alarms: 'none' })).Resources).every((a) => a === undefined)).toBe(true);
    await expect(generate('package', 'dev', {})).resolves.toHaveProperty('Resources');
    for (const command of ['info', 'logs', 'remove']) await expect(generate(command, 'prod', {})).resolves.toHaveProperty('Resources');
  });

  it.each([
    [{ alarms: 'off' }, /^param alarms takes only 'none'/],
    [{ alarms: 'none', alarmEmail: 'oncall@provider.example' }, /^param alarms=none says the alarms notify nobody, but alarmEmail or alarmTopicArn gives them a destination: drop one$/],
  ])('%j: a one-line error naming the param', async (params, message) => {
    await expect(generate('package', 'dev', params)).rejects.toThrow(message);
  });

  it('`npm run package -- --stage prod` without a destination prints the one line and exits 1, with no stack trace', async () => {
    // Into a folder of its own: were the refusal gone, this would package.
    const dir = mkdtempSync(join(tmpdir(), 'pd-router-prod-refused-'));
    const run = await exec(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'package.ts'), '--stage', 'prod', '--region', 'eu-west-1', '--package', dir], { cwd: ROOT, timeout: 60_000 }).then(
      (ok) => ({ code: 0, ...ok }),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    rmSync(dir, { recursive: true, force: true });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toEqual(['osls package --stage prod --region eu-west-1', expect.stringMatching(REFUSAL)]);
  });
});
