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

/**
 * The same client, recording each operation it sends (`Get`, `BatchGet`, `Update`…) so a test can
 * count round trips; every call still goes to dynalite. `alter` may change what DynamoDB answered,
 * for answers dynalite never gives (keys left unprocessed under throttling).
 */
export function recordingClient(db: DynamoDBDocumentClient, alter?: (operation: string, input: any, output: any) => any): { db: DynamoDBDocumentClient; calls: string[] } {
  const calls: string[] = [];
  const recording = new Proxy(db, {
    get(target, property, receiver) {
      if (property !== 'send') return Reflect.get(target, property, receiver);
      return async (command: { constructor: { name: string }; input: unknown }) => {
        const operation = command.constructor.name.replace(/Command$/, '');
        calls.push(operation);
        const output = await target.send(command as never);
        return alter ? alter(operation, command.input, output) : output;
      };
    },
  });
  return { db: recording, calls };
}
