import { Server, type IncomingMessage } from 'node:http';

export type Counts = Record<string, number>;

/**
 * Counts AWS API calls as the local emulators receive them (dynalite and fauxqs both speak the
 * JSON protocols, which name the operation in X-Amz-Target), without touching either: every
 * HTTP server in this process reports its requests through Server#emit.
 */
export function countAwsRequests(): { snapshot(): Counts; stop(): void } {
  const counts: Counts = {};
  const original = Server.prototype.emit;
  Server.prototype.emit = function emit(this: Server, event: string | symbol, ...args: unknown[]) {
    if (event === 'request') {
      const target = (args[0] as IncomingMessage).headers['x-amz-target'];
      if (typeof target === 'string') {
        const name = target.replace(/^DynamoDB_\d+\./, 'DynamoDB.').replace(/^AmazonSQS\./, 'SQS.');
        counts[name] = (counts[name] ?? 0) + 1;
      }
    }
    return original.apply(this, [event, ...args] as Parameters<typeof original>);
  } as typeof Server.prototype.emit;
  return {
    snapshot: () => ({ ...counts }),
    stop: () => {
      Server.prototype.emit = original;
    },
  };
}

/** after − before, without the zeros. */
export function difference(after: Counts, before: Counts): Counts {
  return Object.fromEntries(
    Object.entries(after)
      .map(([key, value]) => [key, value - (before[key] ?? 0)] as const)
      .filter(([, value]) => value !== 0),
  );
}
