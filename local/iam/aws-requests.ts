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
type AttributeValue = { S?: string; N?: string; B?: string };

/** The partition key's attribute name of a table, or of one of its indexes. */
export type PartitionKeyOf = (table: string, index?: string) => string | undefined;

/** `#name` placeholders resolved: the top-level attribute names an expression touches. */
function expressionNames(expression: unknown, names: unknown): string[] {
  if (typeof expression !== 'string') return [];
  const lookup = (names ?? {}) as Record<string, string>;
  const found = new Set<string>();
  // Paths start with a name or a #placeholder; `:values`, functions and keywords are not attributes.
  const withoutValues = expression.replace(/:[A-Za-z0-9_]+/g, ' ');
  for (const match of withoutValues.matchAll(/(#[A-Za-z0-9_]+|[A-Za-z_][A-Za-z0-9_]*)(?=\s*(?:[.[,=<>)]|$|\s))/g)) {
    const token = match[1]!;
    if (token.startsWith('#')) found.add(lookup[token] ?? token);
    else if (!/^(SET|REMOVE|ADD|DELETE|AND|OR|NOT|BETWEEN|IN|if_not_exists|list_append|attribute_exists|attribute_not_exists|attribute_type|begins_with|contains|size)$/i.test(token)) found.add(token);
  }
  return [...found];
}

const keyValue = (item: unknown, attribute: string | undefined): string[] => {
  const value = attribute ? ((item ?? {}) as Record<string, AttributeValue>)[attribute] : undefined;
  const text = value?.S ?? value?.N ?? value?.B;
  return text === undefined ? [] : [text];
};

/** The partition key value a Query's key condition names (`#k = :v` or `k = :v`). */
function queriedPartition(body: Body, attribute: string | undefined): string[] {
  if (!attribute || typeof body.KeyConditionExpression !== 'string') return [];
  const names = (body.ExpressionAttributeNames ?? {}) as Record<string, string>;
  const values = (body.ExpressionAttributeValues ?? {}) as Record<string, AttributeValue>;
  for (const match of body.KeyConditionExpression.matchAll(/(#?[A-Za-z0-9_]+)\s*=\s*(:[A-Za-z0-9_]+)/g)) {
    const name = match[1]!.startsWith('#') ? names[match[1]!] : match[1];
    if (name === attribute) return keyValue({ v: values[match[2]!] }, 'v');
  }
  return [];
}

/** The DynamoDB condition keys of one request, as IAM fills them (the ones this check knows). */
function dynamoContext(operation: string, body: Body, table: string | undefined, partitionKeyOf: PartitionKeyOf): Record<string, string[]> {
  const context: Record<string, string[]> = {};
  const index = typeof body.IndexName === 'string' ? body.IndexName : undefined;
  const partition = table ? partitionKeyOf(table, index) : undefined;
  const leading =
    operation === 'PutItem' ? keyValue(body.Item, partition) : operation === 'Query' ? queriedPartition(body, partition) : operation === 'Scan' ? [] : keyValue(body.Key, partition);
  if (leading.length) context['dynamodb:LeadingKeys'] = leading;
  const attributes =
    operation === 'PutItem'
      ? Object.keys((body.Item ?? {}) as Body)
      : operation === 'UpdateItem'
        ? [...Object.keys((body.Key ?? {}) as Body), ...expressionNames(body.UpdateExpression, body.ExpressionAttributeNames)]
        : expressionNames(body.ProjectionExpression, body.ExpressionAttributeNames);
  if (attributes.length) context['dynamodb:Attributes'] = attributes;
  if (operation === 'Query' || operation === 'Scan') context['dynamodb:Select'] = [typeof body.Select === 'string' ? body.Select : body.ProjectionExpression ? 'SPECIFIC_ATTRIBUTES' : 'ALL_ATTRIBUTES'];
  if (['PutItem', 'UpdateItem', 'DeleteItem'].includes(operation)) context['dynamodb:ReturnValues'] = [typeof body.ReturnValues === 'string' ? body.ReturnValues : 'NONE'];
  return context;
}

function dynamoRequirements(operation: string, body: Body, arns: LocalArns, partitionKeyOf: PartitionKeyOf): Requirement[] {
  const on = (action: string, table: unknown, detail: Body = body): Requirement => {
    const index = typeof detail.IndexName === 'string' ? detail.IndexName : undefined;
    const context = typeof table === 'string' ? dynamoContext(action, detail, table, partitionKeyOf) : {};
    return {
      action: `dynamodb:${action}`,
      resource: typeof table === 'string' ? `${tableArn(arns, table)}${index ? `/index/${index}` : ''}` : '*',
      ...(Object.keys(context).length ? { context } : {}),
    };
  };
  switch (operation) {
    case 'BatchGetItem':
      // One requirement per table, with every key it reads as the leading keys.
      return Object.entries((body.RequestItems as Record<string, Body> | undefined) ?? {}).map(([table, request]) => {
        const partition = partitionKeyOf(table);
        const leading = ((request.Keys as unknown[] | undefined) ?? []).flatMap((key) => keyValue(key, partition));
        const attributes = expressionNames(request.ProjectionExpression, request.ExpressionAttributeNames);
        const context: Record<string, string[]> = { ...(leading.length ? { 'dynamodb:LeadingKeys': leading } : {}), ...(attributes.length ? { 'dynamodb:Attributes': attributes } : {}) };
        return { action: 'dynamodb:BatchGetItem', resource: tableArn(arns, table), ...(Object.keys(context).length ? { context } : {}) };
      });
    case 'BatchWriteItem':
      return Object.keys((body.RequestItems as Body | undefined) ?? {}).map((table) => ({ action: 'dynamodb:BatchWriteItem', resource: tableArn(arns, table) }));
    case 'TransactWriteItems':
      return ((body.TransactItems as Body[] | undefined) ?? []).map((item) => {
        const [kind, detail] = Object.entries(item)[0] ?? ['', {}];
        const action = { ConditionCheck: 'ConditionCheckItem', Put: 'PutItem', Update: 'UpdateItem', Delete: 'DeleteItem' }[kind] ?? kind;
        return on(action, (detail as Body).TableName, detail as Body);
      });
    case 'TransactGetItems':
      return ((body.TransactItems as { Get?: Body }[] | undefined) ?? []).map((item) => on('GetItem', item.Get?.TableName, item.Get ?? {}));
    case 'ListTables':
      return [{ action: 'dynamodb:ListTables', resource: '*' }];
    default:
      return [on(operation, body.TableName)];
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
export function requirementsOf(
  target: string | undefined,
  body: Body,
  options: { arns?: LocalArns; partitionKeyOf?: PartitionKeyOf } = {},
): { service: 'dynamodb' | 'sqs' | 'secretsmanager'; operation: string; requirements: Requirement[] } | undefined {
  const arns = options.arns ?? LOCAL_ARNS;
  const [prefix, operation] = (target ?? '').split('.');
  if (!prefix || !operation) return undefined;
  if (prefix.startsWith('DynamoDB_')) return { service: 'dynamodb', operation, requirements: dynamoRequirements(operation, body, arns, options.partitionKeyOf ?? (() => undefined)) };
  if (prefix === 'AmazonSQS') return { service: 'sqs', operation, requirements: sqsRequirements(operation, body, arns) };
  if (prefix === 'secretsmanager') return { service: 'secretsmanager', operation, requirements: secretsRequirements(operation, body, arns) };
  return undefined;
}
