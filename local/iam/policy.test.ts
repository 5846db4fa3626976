import { requirementsOf } from './aws-requests';
import { assertEvaluable, decide, type PolicyStatement } from './policy';

const TABLE = 'arn:aws:dynamodb:us-east-1:000000000000:table/pd-router-local-incident-links';
const QUEUE = 'arn:aws:sqs:us-east-1:000000000000:pd-router-local-slack-events.fifo';

describe('IAM decisions for a function role', () => {
  const statements: PolicyStatement[] = [
    { Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:PutItem'], Resource: TABLE },
    { Effect: 'Allow', Action: 'dynamodb:Query', Resource: `${TABLE}/index/customers` },
    { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: 'arn:aws:sqs:us-east-1:000000000000:pd-router-local-*-dlq.fifo' },
  ];

  it('allows an action on the resource a statement names, and nothing else', () => {
    expect(decide(statements, { action: 'dynamodb:GetItem', resource: TABLE })).toEqual({ allowed: true });
    expect(decide(statements, { action: 'dynamodb:DeleteItem', resource: TABLE })).toEqual({ allowed: false, reason: 'no allow' });
    expect(decide(statements, { action: 'dynamodb:GetItem', resource: `${TABLE}-other` })).toEqual({ allowed: false, reason: 'no allow' });
  });

  it('matches actions case-insensitively and resources with IAM wildcards, case-sensitively', () => {
    expect(decide(statements, { action: 'DynamoDB:getitem', resource: TABLE }).allowed).toBe(true);
    expect(decide(statements, { action: 'sqs:SendMessage', resource: 'arn:aws:sqs:us-east-1:000000000000:pd-router-local-slack-events-dlq.fifo' }).allowed).toBe(true);
    expect(decide(statements, { action: 'sqs:SendMessage', resource: QUEUE }).allowed).toBe(false);
    expect(decide(statements, { action: 'dynamodb:GetItem', resource: TABLE.toUpperCase() }).allowed).toBe(false);
  });

  it('grants a Query on an index only through the index, not through its table', () => {
    expect(decide(statements, { action: 'dynamodb:Query', resource: `${TABLE}/index/customers` }).allowed).toBe(true);
    expect(decide(statements, { action: 'dynamodb:Query', resource: `${TABLE}/index/open-links` }).allowed).toBe(false);
    expect(decide(statements, { action: 'dynamodb:Query', resource: TABLE }).allowed).toBe(false);
  });

  it('lets an explicit Deny win over any Allow, and NotAction allow everything but what it names', () => {
    const withDeny: PolicyStatement[] = [...statements, { Sid: 'NoWrites', Effect: 'Deny', Action: 'dynamodb:Put*', Resource: '*' }];
    expect(decide(withDeny, { action: 'dynamodb:PutItem', resource: TABLE })).toEqual({ allowed: false, reason: 'explicit deny', statement: 'NoWrites' });
    const notAction: PolicyStatement[] = [{ Effect: 'Allow', NotAction: 'dynamodb:DeleteItem', Resource: TABLE }];
    expect(decide(notAction, { action: 'dynamodb:UpdateItem', resource: TABLE }).allowed).toBe(true);
    expect(decide(notAction, { action: 'dynamodb:DeleteItem', resource: TABLE }).allowed).toBe(false);
  });

  it('refuses to judge a statement with a Condition rather than guess', () => {
    expect(() => assertEvaluable([{ Sid: 'Leading', Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: TABLE, Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['customer#*'] } } }], 'SlackWorkerRole')).toThrow(
      /SlackWorkerRole: statement Leading has a Condition/,
    );
  });
});

describe('what IAM authorizes for each request', () => {
  it('authorizes batch SQS calls as their single-message actions, on the queue the URL names', () => {
    expect(requirementsOf('AmazonSQS.SendMessageBatch', { QueueUrl: 'http://sqs.us-east-1.localhost:4566/000000000000/pd-router-local-slack-events.fifo' })).toEqual({
      service: 'sqs',
      operation: 'SendMessageBatch',
      requirements: [{ action: 'sqs:SendMessage', resource: QUEUE }],
    });
    expect(requirementsOf('AmazonSQS.DeleteMessageBatch', { QueueUrl: 'http://127.0.0.1:1/000000000000/q.fifo' })?.requirements[0]?.action).toBe('sqs:DeleteMessage');
    expect(requirementsOf('AmazonSQS.ChangeMessageVisibilityBatch', { QueueUrl: 'x/q' })?.requirements[0]?.action).toBe('sqs:ChangeMessageVisibility');
  });

  it('authorizes a Query on an index against the index, and a BatchGetItem against every table it reads', () => {
    expect(requirementsOf('DynamoDB_20120810.Query', { TableName: 'pd-router-local-incident-links', IndexName: 'customers' })?.requirements).toEqual([
      { action: 'dynamodb:Query', resource: `${TABLE}/index/customers` },
    ]);
    expect(requirementsOf('DynamoDB_20120810.BatchGetItem', { RequestItems: { 'pd-router-local-incident-links': {}, other: {} } })?.requirements).toEqual([
      { action: 'dynamodb:BatchGetItem', resource: TABLE },
      { action: 'dynamodb:BatchGetItem', resource: 'arn:aws:dynamodb:us-east-1:000000000000:table/other' },
    ]);
  });

  it('authorizes each item of a transaction by its own action', () => {
    expect(
      requirementsOf('DynamoDB_20120810.TransactWriteItems', { TransactItems: [{ ConditionCheck: { TableName: 't' } }, { Delete: { TableName: 't' } }] })?.requirements.map((r) => r.action),
    ).toEqual(['dynamodb:ConditionCheckItem', 'dynamodb:DeleteItem']);
  });

  it('knows no service behind an unknown target', () => {
    expect(requirementsOf('Kinesis_20131202.PutRecord', {})).toBeUndefined();
    expect(requirementsOf(undefined, {})).toBeUndefined();
  });
});
