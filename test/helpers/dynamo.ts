import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LOCAL_AWS_ENV, startLocalDynamo, type LocalDynamo } from '../../local/aws';
import { makeDocumentClient } from '../../lib/store/dynamo';

/** dynalite with the stack's table, and a document client on it, for the store's own tests. */
export async function startTestDynamo(): Promise<{ dynamo: LocalDynamo; db: DynamoDBDocumentClient; stop: () => Promise<void> }> {
  for (const [name, value] of Object.entries(LOCAL_AWS_ENV)) process.env[name] ??= value;
  const dynamo = await startLocalDynamo({ stage: 'test' });
  const db = makeDocumentClient({ AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint });
  return {
    dynamo,
    db,
    stop: async () => {
      db.destroy();
      await dynamo.stop();
    },
  };
}
