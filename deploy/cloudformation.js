'use strict';

/**
 * The CloudFormation resources that lib/layout/layout.json defines (queues, DLQs, table), the five
 * least-privilege roles and the alarms. serverless.yml pulls them in with
 * `${file(./deploy/cloudformation.js):resources}`, so queue and table properties live only in
 * layout.json. CommonJS, because the Serverless Framework require()s it while it resolves
 * variables, before anything compiles TypeScript.
 */
const layout = require('../lib/layout/layout.json');
const metrics = require('../lib/layout/metrics.json');

/** AWS's guidance for Lambda consumers of SQS: visibility at least 6 × the function timeout. */
const VISIBILITY_PER_TIMEOUT = 6;

/** The scheduled function that catches up on what webhooks did not deliver. */
const RECONCILER = 'reconciler';

/** The ingress function that feeds each queue; workers are named in layout.json. */
const INGRESS_BY_QUEUE = { slack: 'slack-ingress', pagerduty: 'pagerduty-ingress' };

const sub = (template) => ({ 'Fn::Sub': template });
const arnOf = (logicalId) => ({ 'Fn::GetAtt': [logicalId, 'Arn'] });

/** An index's ARN: Query on an index is granted on the index, not on its table. */
function indexArn(index) {
  return { 'Fn::Join': ['/', [arnOf(layout.table.logicalId), 'index', index.name]] };
}

/** The sparse indexes of the table, as layout.json names them. */
function indexSpec(index) {
  return {
    IndexName: index.name,
    KeySchema: [
      { AttributeName: index.partitionKey, KeyType: 'HASH' },
      { AttributeName: index.sortKey, KeyType: 'RANGE' },
    ],
    Projection: { ProjectionType: 'ALL' },
  };
}

function queueNames(stage, queue) {
  const base = `${layout.service}-${stage}-${layout.queues[queue].nameSuffix}`;
  return { queue: `${base}.fifo`, dlq: `${base}-dlq.fifo` };
}

function functionName(stage, fn) {
  return `${layout.service}-${stage}-${fn}`;
}

/** `pagerduty-worker` → `PagerdutyWorkerRole`: a logical id serverless.yml names in `role:`. */
function roleLogicalId(fn) {
  return `${fn.split('-').map((part) => part[0].toUpperCase() + part.slice(1)).join('')}Role`;
}

/**
 * A secret name becomes the ARN pattern IAM needs: Secrets Manager appends six random
 * characters to every secret's ARN, so a name alone matches through `-??????`.
 */
function secretArn(secretId) {
  if (secretId.startsWith('arn:')) return secretId;
  return sub(`arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${secretId}-??????`);
}

function role(stage, fn, secretId, statements) {
  return {
    Type: 'AWS::IAM::Role',
    Properties: {
      Description: `pd-router ${stage}: ${fn} only`,
      AssumeRolePolicyDocument: {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }],
      },
      Policies: [
        {
          PolicyName: fn,
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              // The framework creates the log group itself, so the function only writes to it.
              {
                Sid: 'OwnLogs',
                Effect: 'Allow',
                Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
                Resource: sub(`arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/${functionName(stage, fn)}:*`),
              },
              { Sid: 'TheSecret', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: secretArn(secretId) },
              ...statements,
            ],
          },
        },
      ],
    },
  };
}

function queueResources(stage, name) {
  const q = layout.queues[name];
  if (q.visibilityTimeoutSeconds < VISIBILITY_PER_TIMEOUT * q.workerTimeoutSeconds) {
    throw new Error(`layout.json: queues.${name}.visibilityTimeoutSeconds must be at least ${VISIBILITY_PER_TIMEOUT} × workerTimeoutSeconds`);
  }
  const names = queueNames(stage, name);
  return {
    [q.dlqLogicalId]: {
      Type: 'AWS::SQS::Queue',
      Properties: {
        QueueName: names.dlq,
        FifoQueue: true,
        MessageRetentionPeriod: q.dlqRetentionSeconds,
        SqsManagedSseEnabled: true,
        // Only our own queue may redrive into this DLQ. The ARN is spelled out rather than
        // taken with GetAtt, which would make the two queues depend on each other.
        RedriveAllowPolicy: {
          redrivePermission: 'byQueue',
          sourceQueueArnList: [sub(`arn:\${AWS::Partition}:sqs:\${AWS::Region}:\${AWS::AccountId}:${names.queue}`)],
        },
      },
    },
    [q.logicalId]: {
      Type: 'AWS::SQS::Queue',
      Properties: {
        QueueName: names.queue,
        FifoQueue: true,
        // The ingress sends its own de-duplication ids (event ids), never content hashes.
        ContentBasedDeduplication: false,
        // High-throughput FIFO: de-duplication and the send quota per message group, not per
        // queue (a standard FIFO queue takes ~300 sends a second). Safe because every message
        // that must be de-duplicated (a Slack retry, a webhook redelivery, a fan-out part or a
        // refresh queued again) is sent to its original's group: test/fifo-deduplication-scope.test.ts.
        DeduplicationScope: 'messageGroup',
        FifoThroughputLimit: 'perMessageGroupId',
        VisibilityTimeout: q.visibilityTimeoutSeconds,
        MessageRetentionPeriod: q.retentionSeconds,
        SqsManagedSseEnabled: true,
        RedrivePolicy: { deadLetterTargetArn: arnOf(q.dlqLogicalId), maxReceiveCount: q.maxReceiveCount },
      },
    },
  };
}

/**
 * Pre-warming (`WarmThroughput`) from params tableWarmReadsPerSecond and tableWarmWritesPerSecond,
 * for a provider whose outage may reach more channels at once than a new on-demand table takes
 * without throttling (4,000 writes and 12,000 reads a second): docs/performance.md, "10,000
 * customer channels in one outage". None by default: AWS charges for raising it, and a raised
 * value can never be lowered again. From the default up to the default per-table quota, 40,000.
 */
async function tableWarmThroughput(resolveVariable) {
  const reads = await integerParam(resolveVariable, 'tableWarmReadsPerSecond', { min: 12000, max: 40000, allowNone: true });
  const writes = await integerParam(resolveVariable, 'tableWarmWritesPerSecond', { min: 4000, max: 40000, allowNone: true });
  return { ...(reads !== undefined ? { ReadUnitsPerSecond: reads } : {}), ...(writes !== undefined ? { WriteUnitsPerSecond: writes } : {}) };
}

/** Indexes that every escalation writes to (its open link, its history record): what the table's pre-warmed writes also reach. */
const WRITTEN_PER_ESCALATION = new Set([layout.table.openLinkIndex.name, layout.table.historyIndex.name]);

function tableResource(stage, protect, warm) {
  const t = layout.table;
  const policy = protect ? 'Retain' : 'Delete';
  // A write to the table is also a write to each index its item is in, and an index that cannot
  // keep up throttles the table's writes: the indexes every escalation writes are warmed alike.
  const indexWarm = warm.WriteUnitsPerSecond ? { WarmThroughput: { WriteUnitsPerSecond: warm.WriteUnitsPerSecond } } : {};
  const withWarm = (index) => ({ ...indexSpec(index), ...(WRITTEN_PER_ESCALATION.has(index.name) ? indexWarm : {}) });
  return {
    [t.logicalId]: {
      Type: 'AWS::DynamoDB::Table',
      DeletionPolicy: policy,
      UpdateReplacePolicy: policy,
      Properties: {
        TableName: `${layout.service}-${stage}-${t.nameSuffix}`,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: t.partitionKey, AttributeType: 'S' },
          { AttributeName: t.customerIndex.partitionKey, AttributeType: 'S' },
          { AttributeName: t.openLinkIndex.partitionKey, AttributeType: 'S' },
          { AttributeName: t.historyIndex.partitionKey, AttributeType: 'S' },
          { AttributeName: t.historyIndex.sortKey, AttributeType: 'S' },
        ],
        KeySchema: [{ AttributeName: t.partitionKey, KeyType: 'HASH' }],
        // Sparse: only customer items carry the first index's key, so listing customers reads
        // customers only; only links not yet resolved carry the second's, so the reconciler reads
        // open links only (and nothing at all when none is open). Only history records carry the
        // third's, so a report reads escalations by month and customer, never a scan
        // (docs/reports.md). CloudFormation adds one index per update, and this is the only new one.
        GlobalSecondaryIndexes: [t.customerIndex, t.openLinkIndex, t.historyIndex].map(withWarm),
        ...(Object.keys(warm).length ? { WarmThroughput: warm } : {}),
        TimeToLiveSpecification: { AttributeName: t.ttlAttribute, Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: protect,
      },
    },
  };
}

/** Partition key prefixes of the registry's items (lib/store/customers.ts). */
const CUSTOMER_ITEMS = 'customer#*';
const ROUTING_KEY_ITEMS = 'routing#*';
/** The function that pages, the only one that reads customers' routing keys. */
const PAGES = 'slack-worker';
/** The function that hears channel_shared / channel_unshared, the only one that writes to a customer item. */
const RECORDS_SHARING = 'slack-worker';

/**
 * A function's access to the table's items. It writes its own items (links, claims, budgets,
 * pace) and never the registry's: customers are the provider's to change (`npm run customers`),
 * save what Slack says of a channel: the organizations it is shared with (from its events) and its
 * name (learned after an escalation), each its own attribute. It reads
 * every item but the customers' routing keys, which only the function that pages may read.
 */
function itemStatements(fn, writes, reads) {
  const table = arnOf(layout.table.logicalId);
  return [
    { Sid: 'OwnItems', Effect: 'Allow', Action: writes, Resource: table, Condition: { 'ForAllValues:StringNotLike': { 'dynamodb:LeadingKeys': [CUSTOMER_ITEMS, ROUTING_KEY_ITEMS] } } },
    fn === PAGES
      ? { Sid: 'ReadItems', Effect: 'Allow', Action: reads, Resource: table }
      : { Sid: 'ReadItemsButRoutingKeys', Effect: 'Allow', Action: reads, Resource: table, Condition: { 'ForAllValues:StringNotLike': { 'dynamodb:LeadingKeys': [ROUTING_KEY_ITEMS] } } },
    ...(fn === RECORDS_SHARING
      ? [
          {
            Sid: 'RecordSharing',
            Effect: 'Allow',
            Action: 'dynamodb:UpdateItem',
            Resource: table,
            Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [CUSTOMER_ITEMS] }, 'ForAllValues:StringEquals': { 'dynamodb:Attributes': [layout.table.partitionKey, 'sharedWith', 'channelName', 'updatedAt'] } },
          },
        ]
      : []),
  ];
}

function roleResources(stage, secrets) {
  const resources = {};
  for (const [name, q] of Object.entries(layout.queues)) {
    const ingress = INGRESS_BY_QUEUE[name];
    resources[roleLogicalId(ingress)] = role(stage, ingress, secrets.ingress, [
      { Sid: 'EnqueueOnOwnQueue', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: arnOf(q.logicalId) },
    ]);
    resources[roleLogicalId(q.worker)] = role(stage, q.worker, secrets.worker, [
      // Receive, delete and attributes are what the event source mapping polls with; the
      // worker itself changes visibility to back a failed message off.
      {
        Sid: 'ConsumeOwnQueue',
        Effect: 'Allow',
        Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ChangeMessageVisibility'],
        Resource: arnOf(q.logicalId),
      },
      // Its own queue: a message Slack or PagerDuty asked to wait (a 429) is sent back with a delay,
      // the pagerduty-worker fans an event out per escalation and queues confirmation refreshes;
      // its DLQ: a poison message is parked there with its reason.
      { Sid: 'SendToOwnQueueAndDlq', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: [arnOf(q.logicalId), arnOf(q.dlqLogicalId)] },
      ...itemStatements(q.worker, ['dynamodb:DeleteItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], ['dynamodb:BatchGetItem', 'dynamodb:GetItem']),
    ]);
  }
  // The reconciler reads links (the open-link index, page by page, and single items), writes
  // links and effect claims, drops a claim its own post lost to a Slack 429, and reads the worker
  // secret (bot token, REST key). It sends to the PagerDuty queue only: the confirmations it caught
  // up are re-rendered there by the pagerduty-worker, paced; it receives from no queue.
  resources[roleLogicalId(RECONCILER)] = role(stage, RECONCILER, secrets.worker, [
    ...itemStatements(RECONCILER, ['dynamodb:DeleteItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], ['dynamodb:GetItem']),
    { Sid: 'ListOpenLinks', Effect: 'Allow', Action: 'dynamodb:Query', Resource: indexArn(layout.table.openLinkIndex) },
    { Sid: 'QueueConfirmationRefreshes', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: arnOf(layout.queues.pagerduty.logicalId) },
  ]);
  return resources;
}

/**
 * What `npm run report -- --stage <s>` needs, as a managed policy to attach to the people or
 * roles that run it: Query on the history index and on the customer index (names and targets
 * only), nothing else. No Scan, no write, no item read: a report cannot see a link, a customer's
 * words or a routing key.
 */
function reportPolicyResource(stage) {
  const t = layout.table;
  return {
    ReportReadPolicy: {
      Type: 'AWS::IAM::ManagedPolicy',
      Properties: {
        ManagedPolicyName: `${layout.service}-${stage}-report`,
        Description: `pd-router ${stage}: read the escalation history for npm run report (Query only)`,
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            { Sid: 'ReadHistory', Effect: 'Allow', Action: 'dynamodb:Query', Resource: indexArn(t.historyIndex) },
            {
              Sid: 'ReadCustomerNamesAndTargets',
              Effect: 'Allow',
              Action: 'dynamodb:Query',
              Resource: indexArn(t.customerIndex),
              Condition: { StringEquals: { 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' }, 'ForAllValues:StringEquals': { 'dynamodb:Attributes': t.historyIndex.reportCustomerAttributes } },
            },
          ],
        },
      },
    },
  };
}

function alarm(description, metric, actions) {
  return {
    Type: 'AWS::CloudWatch::Alarm',
    Properties: {
      AlarmDescription: description,
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      EvaluationPeriods: 1,
      // No data means no messages and no invocations: nothing is wrong.
      TreatMissingData: 'notBreaching',
      ...metric,
      ...(actions.length ? { AlarmActions: actions, OKActions: actions } : {}),
    },
  };
}

/** The dimensions every pd-router metric carries (lib/runtime/metrics.ts): service, stage, function. */
function metricDimensions(stage, fn) {
  const values = { service: metrics.namespace, stage, function: fn };
  return metrics.dimensions.map((name) => ({ Name: name, Value: values[name] }));
}

/** Where a stage's operator looks first; every alarm description ends with it. */
function whatToRun(stage) {
  return `Run \`npm run doctor -- --stage ${stage} --region <region>\` and \`npm run dlq -- list --stage ${stage} --region <region>\` (docs/operating.md).`;
}

/**
 * The age at which a queue's oldest message means its worker is not draining it. A message's whole
 * retry path is five deliveries (maxReceiveCount), each up to a 60 s worker timeout, with backoffs
 * of 10 to 80 s between them (lib/queue/sqs-batch.ts): under 8 minutes before it succeeds or
 * goes to the DLQ, and a healthy queue's oldest message is seconds old. Fifteen minutes is well past
 * that, so the worker is stuck, throttled or not polling (its event source mapping disabled), and
 * every escalation or update behind that message is as late.
 */
const OLDEST_MESSAGE_ALARM_SECONDS = 15 * 60;

function alarmResources(stage, actions) {
  const resources = {};
  const run = whatToRun(stage);
  for (const q of Object.values(layout.queues)) {
    if (OLDEST_MESSAGE_ALARM_SECONDS <= q.maxReceiveCount * q.workerTimeoutSeconds + q.visibilityTimeoutSeconds) {
      throw new Error(`layout.json: queues of ${q.logicalId}: a message's retries outlast the oldest-message alarm (${OLDEST_MESSAGE_ALARM_SECONDS} s); raise the alarm's threshold`);
    }
    resources[`${q.logicalId}OldestMessageAlarm`] = alarm(
      `pd-router ${stage}: the oldest message in ${q.logicalId} is over ${OLDEST_MESSAGE_ALARM_SECONDS / 60} minutes old. A message's retries take under 8 minutes before it succeeds or goes to the DLQ, so ${q.worker} is not draining the queue (throttled, failing without reaching the DLQ, or its event source mapping disabled), and every ${q.worker === 'slack-worker' ? 'escalation' : 'update'} behind it is that late. Check the function's throttles and errors on the dashboard and its event source mapping. ${run}`,
      {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [q.logicalId, 'QueueName'] } }],
        Statistic: 'Maximum',
        Period: 300,
        Threshold: OLDEST_MESSAGE_ALARM_SECONDS,
      },
      actions,
    );
    resources[`${q.dlqLogicalId}DepthAlarm`] = alarm(
      `pd-router ${stage}: messages in ${q.dlqLogicalId}. Each one is an event that was not delivered. \`npm run dlq -- list --stage ${stage} --region <region>\` shows why; fix the cause, then \`npm run dlq -- redrive --all\` (same options). ${run}`,
      {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [q.dlqLogicalId, 'QueueName'] } }],
        Statistic: 'Maximum',
        Period: 300,
      },
      actions,
    );
    const workerId = roleLogicalId(q.worker).replace(/Role$/, '');
    resources[`${workerId}ErrorsAlarm`] = alarm(
      `pd-router ${stage}: ${q.worker} invocations failed (crash or timeout), so whole batches went back to the queue. Read the function's error logs. ${run}`,
      {
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: functionName(stage, q.worker) }],
        Statistic: 'Sum',
        Period: 300,
      },
      actions,
    );
  }
  resources.HttpApi5xxAlarm = alarm(
    `pd-router ${stage}: the ingress (HTTP API) answered 5xx. Slack and PagerDuty retry those, but their events are late or, after PagerDuty's retries, lost, and PagerDuty disables a webhook subscription that keeps failing. Read the ingress functions' error logs (a missing secret key is the usual cause). ${run}`,
    {
      Namespace: 'AWS/ApiGateway',
      MetricName: '5xx',
      Dimensions: [{ Name: 'ApiId', Value: { Ref: 'HttpApi' } }],
      Statistic: 'Sum',
      Period: 300,
    },
    actions,
  );
  resources.ReconcilerErrorsAlarm = alarm(
    `pd-router ${stage}: a reconciler run failed (crash or timeout). Until a run succeeds, nothing catches up on updates the webhooks did not deliver, nor tells a channel that its accepted escalation opened no incident. Read the reconciler's error logs. ${run}`,
    {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: functionName(stage, RECONCILER) }],
      Statistic: 'Sum',
      Period: 300,
    },
    actions,
  );
  resources.EscalationsFailedAlarm = alarm(
    `pd-router ${stage}: an escalation failed for good: every attempt to reach PagerDuty failed, and the customer's channel was told to contact support. Page on-call for that customer by hand (the channel is in the metric's log line and the DLQ message). ${run}`,
    { Namespace: metrics.namespace, MetricName: metrics.names.escalationsFailed, Dimensions: metricDimensions(stage, 'slack-worker'), Statistic: 'Sum', Period: 300 },
    actions,
  );
  resources.WebhooksQuietAlarm = alarm(
    `pd-router ${stage}: PagerDuty's webhooks went quiet: the reconciler found incident changes that no webhook delivered. PagerDuty disables a webhook subscription after repeated failed deliveries; the doctor checks it, and \`npm run pd:subscribe\` creates a new one. ${run}`,
    { Namespace: metrics.namespace, MetricName: metrics.names.reconcilerCatchUps, Dimensions: metricDimensions(stage, 'reconciler'), Statistic: 'Sum', Period: 900 },
    actions,
  );
  resources.EscalationsWithoutIncidentAlarm = alarm(
    `pd-router ${stage}: PagerDuty accepted an escalation but opened no incident for it (a maintenance window, an event rule or orchestration that suppresses it, a disabled service), and the customer's channel was told to contact support. Page on-call for that customer by hand (the channel is in the reconciler's error log line) and check the service's maintenance windows and rules. ${run}`,
    { Namespace: metrics.namespace, MetricName: metrics.names.escalationsWithoutIncident, Dimensions: metricDimensions(stage, 'reconciler'), Statistic: 'Sum', Period: 300 },
    actions,
  );
  return resources;
}

const WORKERS = Object.values(layout.queues).map((q) => q.worker);
const FUNCTIONS = [...Object.values(INGRESS_BY_QUEUE), ...WORKERS, RECONCILER];

/** A CloudWatch metric-widget line for one pd-router metric of one function. */
function ownMetric(stage, name, fn) {
  return [metrics.namespace, name, ...metrics.dimensions.flatMap((d) => [d, { service: metrics.namespace, stage, function: fn }[d]]), { label: `${name} (${fn})` }];
}

function widget(title, metricLines, extra = {}) {
  return { type: 'metric', width: 12, height: 6, properties: { title, region: '${AWS::Region}', stat: 'Sum', period: 300, view: 'timeSeries', metrics: metricLines, ...extra } };
}

/**
 * The stage's dashboard: pd-router's own counts, the queues' ages and DLQ depths, the functions'
 * errors and durations, and the HTTP API's 4xx/5xx. The body is JSON under Fn::Sub, so only
 * `${AWS::Region}` and `${HttpApi}` are substituted.
 */
function dashboardResource(stage) {
  const emitted = (fn) => metrics.emittedBy[fn] || [];
  const names = metrics.names;
  const escalations = [names.escalationsReceived, names.escalationsPaged, names.escalationsRejected, names.escalationsRefused, names.escalationsFolded, names.escalationsOverBudget, names.escalationsFailed];
  const trouble = [names.slackRateLimited, names.pagerDutyRateLimited, names.messagesParked, names.messagesExhausted, names.slackChannelUnavailable, names.unlinkedIncidentEvents, names.permanentlyRefusedEvents, names.sharedChannelPaused, names.deliveriesRefused, names.staleWebhooksRefused];
  const queues = Object.keys(layout.queues).map((name) => queueNames(stage, name));
  const widgets = [
    widget('Escalations', escalations.map((n) => ownMetric(stage, n, 'slack-worker'))),
    widget('Updates posted, by PagerDuty event type', Object.values(metrics.updatesPosted).map((n) => ownMetric(stage, n, 'pagerduty-worker'))),
    widget('429s, parked and failed messages', WORKERS.flatMap((fn) => trouble.filter((n) => emitted(fn).includes(n)).map((n) => ownMetric(stage, n, fn)))),
    widget('Reconciler: catch-ups (webhooks that never came), escalations with no incident, 429s', emitted('reconciler').map((n) => ownMetric(stage, n, 'reconciler'))),
    widget('Age of the oldest queued message (s)', queues.map((n) => ['AWS/SQS', 'ApproximateAgeOfOldestMessage', 'QueueName', n.queue]), { stat: 'Maximum', period: 60 }),
    widget('Messages waiting in the DLQs', queues.map((n) => ['AWS/SQS', 'ApproximateNumberOfMessagesVisible', 'QueueName', n.dlq]), { stat: 'Maximum', period: 60 }),
    widget('Function errors and throttles', FUNCTIONS.flatMap((fn) => ['Errors', 'Throttles'].map((m) => ['AWS/Lambda', m, 'FunctionName', functionName(stage, fn), { label: `${m} (${fn})` }]))),
    widget('Function duration, p99 (ms)', FUNCTIONS.map((fn) => ['AWS/Lambda', 'Duration', 'FunctionName', functionName(stage, fn), { label: fn }]), { stat: 'p99' }),
    widget('HTTP API requests, 4xx and 5xx', ['Count', '4xx', '5xx'].map((m) => ['AWS/ApiGateway', m, 'ApiId', '${HttpApi}'])),
  ];
  return {
    Dashboard: {
      Type: 'AWS::CloudWatch::Dashboard',
      Properties: { DashboardName: `${layout.service}-${stage}`, DashboardBody: sub(JSON.stringify({ widgets })) },
    },
  };
}

/** Where alarms go: an existing topic, a new topic mailing one address, or nowhere (console only). */
function alarmTarget(stage, topicArn, email) {
  if (topicArn) return { actions: [topicArn], resources: {} };
  if (!email) return { actions: [], resources: {} };
  return {
    actions: [{ Ref: 'AlarmTopic' }],
    resources: {
      AlarmTopic: { Type: 'AWS::SNS::Topic', Properties: { DisplayName: `pd-router ${stage} alarms` } },
      AlarmEmailSubscription: { Type: 'AWS::SNS::Subscription', Properties: { TopicArn: { Ref: 'AlarmTopic' }, Protocol: 'email', Endpoint: email } },
    },
  };
}

/** A param mistake: osls prints a rejection's stack, and a stack of our own frames says nothing more than the message. */
function paramError(message) {
  const error = new Error(message);
  error.stack = message;
  return error;
}

async function optionalParam(resolveVariable, name) {
  const value = await resolveVariable(`param:${name}, ''`);
  return value === undefined || value === null ? '' : String(value).trim();
}

/**
 * Which secret each side reads. By default one secret holds all five keys; with both
 * `signingSecretId` and `apiTokenSecretId` set, the ingress functions read only the signing
 * secrets and the workers only the API tokens, and IAM lets each read nothing else.
 */
async function secretLayout(resolveVariable) {
  const signing = await optionalParam(resolveVariable, 'signingSecretId');
  const apiTokens = await optionalParam(resolveVariable, 'apiTokenSecretId');
  if (Boolean(signing) !== Boolean(apiTokens)) throw paramError('split secrets need both params signingSecretId and apiTokenSecretId (or neither, for the single secretId)');
  if (signing) {
    if (signing === apiTokens) throw paramError('params signingSecretId and apiTokenSecretId must name two different secrets');
    return { split: true, ingress: signing, worker: apiTokens };
  }
  const secretId = await optionalParam(resolveVariable, 'secretId');
  if (!secretId) throw paramError('param secretId (the Secrets Manager secret name or ARN) is required');
  return { split: false, ingress: secretId, worker: secretId };
}

/** A whole number param within [min, max]; `none` (when allowed) turns the setting off. */
async function integerParam(resolveVariable, name, { min, max, allowNone = false }) {
  const raw = await optionalParam(resolveVariable, name);
  if (allowNone && raw === 'none') return undefined;
  const value = Number(raw);
  if (!raw || !Number.isInteger(value) || value < min || value > max) {
    throw paramError(`param ${name} must be a whole number from ${min} to ${max}${allowNone ? ", or 'none'" : ''} (got '${raw}')`);
  }
  return value;
}

/** `slack-ingress` → `SlackDashingressLambdaFunction`, the logical id the framework gives a function. */
function functionLogicalId(fn) {
  return `${fn[0].toUpperCase()}${fn.slice(1).replace(/-/g, 'Dash')}LambdaFunction`;
}

/** `/slack/events` → `HttpApiRoutePostSlackEvents`, the framework's logical id of a POST route. */
function routeLogicalId(path) {
  return `HttpApiRoutePost${path.split('/').filter(Boolean).map((part) => part[0].toUpperCase() + part.slice(1).replace(/-/g, 'Dash')).join('')}`;
}

/**
 * Changes to resources the framework generates: per-route throttling on the HTTP API's stage
 * (a flood on one route cannot starve the other) and, when the params ask for it, reserved
 * concurrency on the ingress functions (a flood cannot take the account's concurrency from the
 * workers, nor grow past it) and on the reconciler (one run at a time). None by default: AWS keeps
 * at least 100 of an account's concurrency unreserved, and a new account's limit may be 10, so any
 * reservation makes its first deploy fail (docs/operating.md, "Throttling and concurrency").
 */
async function throttlingExtensions(resolveVariable) {
  const rate = await integerParam(resolveVariable, 'routeRateLimit', { min: 1, max: 10000 });
  const burst = await integerParam(resolveVariable, 'routeBurstLimit', { min: 1, max: 5000 });
  const reserved = await integerParam(resolveVariable, 'ingressReservedConcurrency', { min: 1, max: 1000, allowNone: true });
  const reconcilerReserved = await integerParam(resolveVariable, 'reconcilerReservedConcurrency', { min: 1, max: 1, allowNone: true });
  const paths = [await resolveVariable('self:custom.routes.slack'), await resolveVariable('self:custom.routes.pagerDuty')];
  const limits = { ThrottlingRateLimit: rate, ThrottlingBurstLimit: burst };
  const extensions = {
    HttpApiStage: {
      Properties: {
        DefaultRouteSettings: { DetailedMetricsEnabled: false, ...limits },
        RouteSettings: Object.fromEntries(paths.map((path) => [`POST ${path}`, limits])),
      },
      // Route settings name routes that must exist before the stage is updated.
      DependsOn: paths.map(routeLogicalId),
    },
  };
  if (reserved !== undefined) {
    for (const fn of Object.values(INGRESS_BY_QUEUE)) extensions[functionLogicalId(fn)] = { Properties: { ReservedConcurrentExecutions: reserved } };
  }
  if (reconcilerReserved !== undefined) extensions[functionLogicalId('reconciler')] = { Properties: { ReservedConcurrentExecutions: reconcilerReserved } };
  return extensions;
}

/** The stage whose alarms must reach someone: its package or deploy needs a destination, or `alarms=none`. */
const PRODUCTION_STAGE = 'prod';

/**
 * The osls command this process runs (`package`, `deploy`, `info`, …): the words before the first
 * option. Only a command that builds or changes the stack needs an alarm destination; `osls logs`,
 * `info` or `remove` on production do not.
 */
function oslsCommand() {
  const args = process.argv.slice(2);
  const firstOption = args.findIndex((arg) => arg.startsWith('-'));
  return args.slice(0, firstOption === -1 ? args.length : firstOption).join(' ');
}

/**
 * Where the alarms go, from params alarmTopicArn and alarmEmail. Production refuses to package or
 * deploy with neither (its alarms would notify nobody) unless `alarms=none` says so on purpose.
 */
async function alarmDestination(resolveVariable, stage) {
  const topicArn = await optionalParam(resolveVariable, 'alarmTopicArn');
  const email = await optionalParam(resolveVariable, 'alarmEmail');
  const alarms = await optionalParam(resolveVariable, 'alarms');
  if (alarms !== '' && alarms !== 'none') throw paramError(`param alarms takes only 'none' (alarms that notify nobody, on purpose), not '${alarms}'`);
  if (alarms === 'none' && (topicArn || email)) throw paramError('param alarms=none says the alarms notify nobody, but alarmEmail or alarmTopicArn gives them a destination: drop one');
  const buildsTheStack = /^(package|deploy)\b/.test(oslsCommand());
  if (stage === PRODUCTION_STAGE && buildsTheStack && !topicArn && !email && alarms !== 'none') {
    throw paramError(`stage ${stage} needs an alarm destination: --param alarmEmail=you@example.com or --param alarmTopicArn=arn:aws:sns:<region>:<account>:<topic> (or --param alarms=none to deploy alarms that notify nobody, on purpose)`);
  }
  return alarmTarget(stage, topicArn, email);
}

/** `${file(./deploy/cloudformation.js):resources}`: everything above, for the resolved stage and params. */
async function resources({ resolveVariable }) {
  const stage = await resolveVariable('sls:stage');
  const secrets = await secretLayout(resolveVariable);
  const protect = (await optionalParam(resolveVariable, 'deletionProtection')) === 'true';
  const target = await alarmDestination(resolveVariable, stage);
  return {
    Resources: {
      ...Object.assign({}, ...Object.keys(layout.queues).map((name) => queueResources(stage, name))),
      ...tableResource(stage, protect, await tableWarmThroughput(resolveVariable)),
      ...roleResources(stage, secrets),
      ...reportPolicyResource(stage),
      ...target.resources,
      ...alarmResources(stage, target.actions),
      ...dashboardResource(stage),
    },
    extensions: await throttlingExtensions(resolveVariable),
  };
}

/** `${file(./deploy/cloudformation.js):ingressSecretId}`: the secret the ingress functions read. */
async function ingressSecretId({ resolveVariable }) {
  return (await secretLayout(resolveVariable)).ingress;
}

/** `${file(./deploy/cloudformation.js):workerSecretId}`: the secret the workers read. */
async function workerSecretId({ resolveVariable }) {
  return (await secretLayout(resolveVariable)).worker;
}

/**
 * `${file(./deploy/cloudformation.js):reconcileRate}`: param reconcileEverySeconds as
 * EventBridge's rate expression (whole minutes, at least one).
 */
async function reconcileRate({ resolveVariable }) {
  const seconds = await integerParam(resolveVariable, 'reconcileEverySeconds', { min: 60, max: 86400 });
  if (seconds % 60 !== 0) throw paramError(`param reconcileEverySeconds must be a multiple of 60 (EventBridge schedules in whole minutes; got '${seconds}')`);
  const minutes = seconds / 60;
  return `rate(${minutes} ${minutes === 1 ? 'minute' : 'minutes'})`;
}

module.exports = { resources, ingressSecretId, workerSecretId, reconcileRate };
