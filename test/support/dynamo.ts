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

/** One call the recording client sent: its operation, the kind of the first item it names (`link`, `customer`…), when it started and answered. */
export interface RecordedCall {
  operation: string;
  kind: string;
  start: number;
  end: number;
}

/**
 * The same client, recording each operation it sends (`Get`, `BatchGet`, `Update`…) so a test can
 * count round trips (`calls`), and when each ran (`timeline`, for what ran beside what); every
 * call still goes to dynalite. `alter` may change what DynamoDB answered, for answers dynalite
 * never gives (keys left unprocessed under throttling).
 */
export function recordingClient(db: DynamoDBDocumentClient, alter?: (operation: string, input: any, output: any) => any): { db: DynamoDBDocumentClient; calls: string[]; timeline: RecordedCall[] } {
  const calls: string[] = [];
  const timeline: RecordedCall[] = [];
  const recording = new Proxy(db, {
    get(target, property, receiver) {
      if (property !== 'send') return Reflect.get(target, property, receiver);
      return async (command: { constructor: { name: string }; input: any }) => {
        const operation = command.constructor.name.replace(/Command$/, '');
        calls.push(operation);
        const { input } = command;
        const pk: string = input.Key?.pk ?? input.Item?.pk ?? (Object.values(input.RequestItems ?? {})[0] as { Keys?: { pk: string }[] } | undefined)?.Keys?.[0]?.pk ?? '?';
        const start = performance.now();
        try {
          const output = await target.send(command as never);
          return alter ? alter(operation, input, output) : output;
        } finally {
          timeline.push({ operation, kind: pk.split('#')[0]!, start, end: performance.now() });
        }
      };
    },
  });
  return { db: recording, calls, timeline };
}

/**
 * The longest chain of calls made one after another (each started after the one before it had
 * answered): the round trips in series, whatever ran beside them.
 */
export function roundTripsInSeries(calls: readonly { start: number; end: number }[]): number {
  const sorted = [...calls].sort((a, b) => a.start - b.start);
  const depth = sorted.map(() => 1);
  sorted.forEach((call, i) => {
    for (let j = 0; j < i; j++) if (sorted[j]!.end <= call.start) depth[i] = Math.max(depth[i]!, depth[j]! + 1);
  });
  return Math.max(0, ...depth);
}
