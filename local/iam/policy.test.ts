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

  it('refuses to judge a condition on a key or with an operator it cannot evaluate, rather than guess', () => {
    expect(() => assertEvaluable([{ Sid: 'Source', Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: TABLE, Condition: { StringEquals: { 'aws:SourceVpce': 'vpce-1' } } }], 'SlackWorkerRole')).toThrow(
      /SlackWorkerRole: statement Source has a condition on aws:SourceVpce/,
    );
    expect(() => assertEvaluable([{ Sid: 'Date', Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: TABLE, Condition: { DateGreaterThan: { 'dynamodb:LeadingKeys': 'x' } } }], 'R')).toThrow(/operator DateGreaterThan/);
    expect(() => assertEvaluable([{ Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: TABLE, Condition: { 'ForAllValues:StringNotLike': { 'dynamodb:LeadingKeys': ['customer#*'] } } }], 'R')).not.toThrow();
  });

  describe('conditions on the items a call touches (dynamodb:LeadingKeys)', () => {
    const writesOutsideCustomers: PolicyStatement[] = [
      { Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:BatchGetItem'], Resource: TABLE },
      { Effect: 'Allow', Action: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'], Resource: TABLE, Condition: { 'ForAllValues:StringNotLike': { 'dynamodb:LeadingKeys': ['customer#*'] } } },
    ];
    const call = (target: string, body: Record<string, unknown>) =>
      requirementsOf(`DynamoDB_20120810.${target}`, { TableName: 'pd-router-local-incident-links', ...body }, { partitionKeyOf: () => 'pk' })!.requirements[0]!;

    it('reads every item, writes only items whose partition key is not a customer record', () => {
      expect(decide(writesOutsideCustomers, call('GetItem', { Key: { pk: { S: 'customer#C1' } } })).allowed).toBe(true);
      expect(decide(writesOutsideCustomers, call('UpdateItem', { Key: { pk: { S: 'link#pdr-1' } }, UpdateExpression: 'SET #s = :s', ExpressionAttributeNames: { '#s': 'status' } })).allowed).toBe(true);
      expect(decide(writesOutsideCustomers, call('UpdateItem', { Key: { pk: { S: 'customer#C1' } }, UpdateExpression: 'SET paused = :p' })).allowed).toBe(false);
      expect(decide(writesOutsideCustomers, call('PutItem', { Item: { pk: { S: 'customer#C1' }, name: { S: 'x' } } })).allowed).toBe(false);
      expect(decide(writesOutsideCustomers, call('DeleteItem', { Key: { pk: { S: 'customer#C1' } } })).allowed).toBe(false);
    });

    it('fills the leading keys of a Query from its key condition, and of a BatchGetItem from every key', () => {
      const query = requirementsOf('DynamoDB_20120810.Query', { TableName: 't', IndexName: 'customers', KeyConditionExpression: '#partition = :value', ExpressionAttributeNames: { '#partition': 'customerList' }, ExpressionAttributeValues: { ':value': { S: 'customers' } } }, { partitionKeyOf: (_, index) => (index ? 'customerList' : 'pk') })!;
      expect(query.requirements[0]!.context?.['dynamodb:LeadingKeys']).toEqual(['customers']);
      const batch = requirementsOf('DynamoDB_20120810.BatchGetItem', { RequestItems: { t: { Keys: [{ pk: { S: 'a' } }, { pk: { S: 'customer#b' } }] } } }, { partitionKeyOf: () => 'pk' })!;
      expect(batch.requirements[0]!.context?.['dynamodb:LeadingKeys']).toEqual(['a', 'customer#b']);
      const onlyLinks: PolicyStatement[] = [{ Effect: 'Allow', Action: 'dynamodb:BatchGetItem', Resource: '*', Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['link#*', 'a'] } } }];
      expect(decide(onlyLinks, batch.requirements[0]!).allowed).toBe(false);
    });

    it('applies IAM\'s rules for a key the request does not carry: ForAllValues holds, ForAnyValue does not, IfExists holds', () => {
      const scan = call('Scan', {});
      expect(decide([{ Effect: 'Allow', Action: 'dynamodb:Scan', Resource: TABLE, Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['x'] } } }], scan).allowed).toBe(true);
      expect(decide([{ Effect: 'Allow', Action: 'dynamodb:Scan', Resource: TABLE, Condition: { 'ForAnyValue:StringLike': { 'dynamodb:LeadingKeys': ['x'] } } }], scan).allowed).toBe(false);
      expect(decide([{ Effect: 'Allow', Action: 'dynamodb:Scan', Resource: TABLE, Condition: { StringEqualsIfExists: { 'dynamodb:LeadingKeys': ['x'] } } }], scan).allowed).toBe(true);
      expect(decide([{ Effect: 'Allow', Action: 'dynamodb:Scan', Resource: TABLE, Condition: { StringEquals: { 'dynamodb:Select': ['SPECIFIC_ATTRIBUTES'] } } }], scan).allowed).toBe(false);
    });
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
      { action: 'dynamodb:Query', resource: `${TABLE}/index/customers`, context: { 'dynamodb:Select': ['ALL_ATTRIBUTES'] } },
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
