import { QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LAYOUT } from '../layout/layout';
import { storeCall } from './dynamo';
import { LISTED } from './customers';

/**
 * What a report reads of the customers: channel, name and response targets, projected from the
 * customer index so that nothing else of a customer item (its settings, an inline routing key an
 * earlier version stored) leaves the table. The stack's report policy allows exactly these
 * attributes (layout.json's historyIndex.reportCustomerAttributes, deploy/cloudformation.js).
 */
const REPORT_CUSTOMER_ATTRIBUTES = LAYOUT.table.historyIndex.reportCustomerAttributes;

export interface ReportCustomerItem {
  channel: string;
  name?: string;
  ackWithinMinutes?: number;
  resolveWithinMinutes?: number;
}

const INDEX = LAYOUT.table.customerIndex;

export async function readReportCustomers(db: DynamoDBDocumentClient, tableName: string): Promise<ReportCustomerItem[]> {
  const out: ReportCustomerItem[] = [];
  let cursor: Record<string, unknown> | undefined;
  do {
    const page = await storeCall('query', () =>
      db.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: INDEX.name,
          KeyConditionExpression: '#listed = :listed',
          ProjectionExpression: REPORT_CUSTOMER_ATTRIBUTES.map((a) => `#${a}`).join(', '),
          ExpressionAttributeNames: { '#listed': INDEX.partitionKey, ...Object.fromEntries(REPORT_CUSTOMER_ATTRIBUTES.map((a) => [`#${a}`, a])) },
          ExpressionAttributeValues: { ':listed': LISTED },
          ...(cursor ? { ExclusiveStartKey: cursor } : {}),
        }),
      ),
    );
    for (const item of page.Items ?? []) {
      if (typeof item.channel !== 'string') continue;
      out.push({
        channel: item.channel,
        ...(typeof item.name === 'string' ? { name: item.name } : {}),
        ...(typeof item.ackWithinMinutes === 'number' ? { ackWithinMinutes: item.ackWithinMinutes } : {}),
        ...(typeof item.resolveWithinMinutes === 'number' ? { resolveWithinMinutes: item.resolveWithinMinutes } : {}),
      });
    }
    cursor = page.LastEvaluatedKey;
  } while (cursor);
  return out;
}
