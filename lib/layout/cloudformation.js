'use strict';

/**
 * The CloudFormation resources that lib/layout/layout.json defines (queues, DLQs, table), the four
 * least-privilege roles and the alarms. serverless.yml pulls them in with
 * `${file(./lib/layout/cloudformation.js):resources}`, so queue and table properties live only in
 * layout.json. CommonJS, because the Serverless Framework require()s it while it resolves
 * variables, before anything compiles TypeScript.
 */
const layout = require('./layout.json');

/** AWS's guidance for Lambda consumers of SQS: visibility at least 6 × the function timeout. */
const VISIBILITY_PER_TIMEOUT = 6;

/** The ingress function that feeds each queue; workers are named in layout.json. */
const INGRESS_BY_QUEUE = { slack: 'slack-ingress', pagerduty: 'pagerduty-ingress' };

const sub = (template) => ({ 'Fn::Sub': template });
const arnOf = (logicalId) => ({ 'Fn::GetAtt': [logicalId, 'Arn'] });

/** The customer index's ARN: Query on an index is granted on the index, not on its table. */
function customerIndexArn() {
  return { 'Fn::Join': ['/', [arnOf(layout.table.logicalId), 'index', layout.table.customerIndex.name]] };
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
        VisibilityTimeout: q.visibilityTimeoutSeconds,
        MessageRetentionPeriod: q.retentionSeconds,
        SqsManagedSseEnabled: true,
        RedrivePolicy: { deadLetterTargetArn: arnOf(q.dlqLogicalId), maxReceiveCount: q.maxReceiveCount },
      },
    },
  };
}

function tableResource(stage, protect) {
  const t = layout.table;
  const policy = protect ? 'Retain' : 'Delete';
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
        ],
        KeySchema: [{ AttributeName: t.partitionKey, KeyType: 'HASH' }],
        // Sparse: only customer items carry its key, so listing customers reads customers only.
        GlobalSecondaryIndexes: [
          {
            IndexName: t.customerIndex.name,
            KeySchema: [
              { AttributeName: t.customerIndex.partitionKey, KeyType: 'HASH' },
              { AttributeName: t.customerIndex.sortKey, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
        TimeToLiveSpecification: { AttributeName: t.ttlAttribute, Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: protect,
      },
    },
  };
}

function roleResources(stage, secretId) {
  const resources = {};
  for (const [name, q] of Object.entries(layout.queues)) {
    const ingress = INGRESS_BY_QUEUE[name];
    resources[roleLogicalId(ingress)] = role(stage, ingress, secretId, [
      { Sid: 'EnqueueOnOwnQueue', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: arnOf(q.logicalId) },
    ]);
    resources[roleLogicalId(q.worker)] = role(stage, q.worker, secretId, [
      // Receive, delete and attributes are what the event source mapping polls with; the
      // worker itself changes visibility to back a failed message off.
      {
        Sid: 'ConsumeOwnQueue',
        Effect: 'Allow',
        Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ChangeMessageVisibility'],
        Resource: arnOf(q.logicalId),
      },
      { Sid: 'ParkInOwnDlq', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: arnOf(q.dlqLogicalId) },
      {
        Sid: 'IncidentLinks',
        Effect: 'Allow',
        Action: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        Resource: arnOf(layout.table.logicalId),
      },
      {
        Sid: 'ListCustomers',
        Effect: 'Allow',
        Action: 'dynamodb:Query',
        Resource: customerIndexArn(),
      },
    ]);
  }
  return resources;
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

function alarmResources(stage, actions) {
  const resources = {};
  for (const q of Object.values(layout.queues)) {
    resources[`${q.dlqLogicalId}DepthAlarm`] = alarm(
      `pd-router ${stage}: messages in ${q.dlqLogicalId}. Each one is an event that was not delivered; read its reason attribute, fix, then redrive.`,
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
      `pd-router ${stage}: ${q.worker} invocations failed (crash or timeout), so whole batches went back to the queue.`,
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
    `pd-router ${stage}: the HTTP API answered 5xx. Slack and PagerDuty retry those, but their events are late or, after PagerDuty's retries, lost.`,
    {
      Namespace: 'AWS/ApiGateway',
      MetricName: '5xx',
      Dimensions: [{ Name: 'ApiId', Value: { Ref: 'HttpApi' } }],
      Statistic: 'Sum',
      Period: 300,
    },
    actions,
  );
  return resources;
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

async function optionalParam(resolveVariable, name) {
  const value = await resolveVariable(`param:${name}, ''`);
  return value === undefined || value === null ? '' : String(value).trim();
}

/** `${file(./lib/layout/cloudformation.js):resources}`: everything above, for the resolved stage and params. */
async function resources({ resolveVariable }) {
  const stage = await resolveVariable('sls:stage');
  const secretId = await optionalParam(resolveVariable, 'secretId');
  if (!secretId) throw new Error('param secretId (the Secrets Manager secret name or ARN) is required');
  const protect = (await optionalParam(resolveVariable, 'deletionProtection')) === 'true';
  const target = alarmTarget(stage, await optionalParam(resolveVariable, 'alarmTopicArn'), await optionalParam(resolveVariable, 'alarmEmail'));
  return {
    Resources: {
      ...Object.assign({}, ...Object.keys(layout.queues).map((name) => queueResources(stage, name))),
      ...tableResource(stage, protect),
      ...roleResources(stage, secretId),
      ...target.resources,
      ...alarmResources(stage, target.actions),
    },
  };
}

module.exports = { resources };
