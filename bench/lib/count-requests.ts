import { Server, type IncomingMessage } from 'node:http';
import { FORWARDED_HEADER } from '../../local/iam/enforcing-proxy';

export type Counts = Record<string, number>;

/**
 * Counts AWS API calls as the local emulators receive them (dynalite and fauxqs both speak the
 * JSON protocols, which name the operation in X-Amz-Target), without touching either: every
 * HTTP server in this process reports its requests through Server#emit. A call that passed the
 * local IAM check arrives twice (at the check, then at the emulator); it is counted at its first
 * hop only.
 */
export function countAwsRequests(): { snapshot(): Counts; stop(): void } {
  const counts: Counts = {};
  const original = Server.prototype.emit;
  Server.prototype.emit = function emit(this: Server, event: string | symbol, ...args: unknown[]) {
    if (event === 'request') {
      const { headers } = args[0] as IncomingMessage;
      const target = headers['x-amz-target'];
      if (typeof target === 'string' && headers[FORWARDED_HEADER] === undefined) {
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
