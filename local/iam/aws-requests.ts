import type { Requirement } from './policy';

/**
 * What IAM authorizes for one AWS JSON-protocol request (DynamoDB, SQS, Secrets Manager), from
 * its `X-Amz-Target` header and body, as each service's authorization reference documents it:
 * batch calls are authorized as their single-item action, a Query or Scan on an index is
 * authorized on the index's ARN, a transaction item by its own action.
 */

export interface LocalArns {
  region: string;
  account: string;
}

/** The local account and region every emulator and every resolved policy uses. */
export const LOCAL_ARNS: LocalArns = { region: 'us-east-1', account: '000000000000' };

export const tableArn = (arns: LocalArns, table: string) => `arn:aws:dynamodb:${arns.region}:${arns.account}:table/${table}`;
export const queueArn = (arns: LocalArns, queue: string) => `arn:aws:sqs:${arns.region}:${arns.account}:${queue}`;

/** A queue URL's last path segment is the queue's name, whichever host the emulator puts in front. */
function queueNameOfUrl(url: unknown): string {
  if (typeof url !== 'string') return '*';
  return url.split('/').filter(Boolean).pop() ?? '*';
}

// SQS's authorization reference: the batch operations are allowed by the single-message actions.
const SQS_ACTION_OF: Record<string, string> = {
  SendMessageBatch: 'SendMessage',
  DeleteMessageBatch: 'DeleteMessage',
  ChangeMessageVisibilityBatch: 'ChangeMessageVisibility',
};

type Body = Record<string, unknown>;

function dynamoRequirements(operation: string, body: Body, arns: LocalArns): Requirement[] {
  const on = (action: string, table: unknown, index?: unknown): Requirement => ({
    action: `dynamodb:${action}`,
    resource: typeof table === 'string' ? `${tableArn(arns, table)}${typeof index === 'string' ? `/index/${index}` : ''}` : '*',
  });
  switch (operation) {
    case 'BatchGetItem':
    case 'BatchWriteItem':
      return Object.keys((body.RequestItems as Body | undefined) ?? {}).map((table) => on(operation, table));
    case 'TransactWriteItems':
      return ((body.TransactItems as Body[] | undefined) ?? []).map((item) => {
        const [kind, detail] = Object.entries(item)[0] ?? ['', {}];
        const action = { ConditionCheck: 'ConditionCheckItem', Put: 'PutItem', Update: 'UpdateItem', Delete: 'DeleteItem' }[kind] ?? kind;
        return on(action, (detail as Body).TableName);
      });
    case 'TransactGetItems':
      return ((body.TransactItems as { Get?: Body }[] | undefined) ?? []).map((item) => on('GetItem', item.Get?.TableName));
    case 'ListTables':
      return [{ action: 'dynamodb:ListTables', resource: '*' }];
    default:
      return [on(operation, body.TableName, body.IndexName)];
  }
}

function sqsRequirements(operation: string, body: Body, arns: LocalArns): Requirement[] {
  const action = `sqs:${SQS_ACTION_OF[operation] ?? operation}`;
  if (operation === 'ListQueues') return [{ action, resource: '*' }];
  const name = operation === 'GetQueueUrl' || operation === 'CreateQueue' ? (typeof body.QueueName === 'string' ? body.QueueName : '*') : queueNameOfUrl(body.QueueUrl);
  return [{ action, resource: queueArn(arns, name) }];
}

function secretsRequirements(operation: string, body: Body, arns: LocalArns): Requirement[] {
  const id = typeof body.SecretId === 'string' ? body.SecretId : '*';
  // IAM sees the secret's full ARN, which ends in six random characters the local stack does not
  // invent: a name is checked as its ARN with a fixed suffix, so `name-??????` patterns match.
  const resource = id.startsWith('arn:') ? id : `arn:aws:secretsmanager:${arns.region}:${arns.account}:secret:${id}-LOCAL0`;
  return [{ action: `secretsmanager:${operation}`, resource }];
}

/** The requirements of one request; undefined when the target names no service this check knows. */
export function requirementsOf(target: string | undefined, body: Body, arns: LocalArns = LOCAL_ARNS): { service: 'dynamodb' | 'sqs' | 'secretsmanager'; operation: string; requirements: Requirement[] } | undefined {
  const [prefix, operation] = (target ?? '').split('.');
  if (!prefix || !operation) return undefined;
  if (prefix.startsWith('DynamoDB_')) return { service: 'dynamodb', operation, requirements: dynamoRequirements(operation, body, arns) };
  if (prefix === 'AmazonSQS') return { service: 'sqs', operation, requirements: sqsRequirements(operation, body, arns) };
  if (prefix === 'secretsmanager') return { service: 'secretsmanager', operation, requirements: secretsRequirements(operation, body, arns) };
  return undefined;
}
