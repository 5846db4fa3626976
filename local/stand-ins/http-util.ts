import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export function readBody(request: IncomingMessage, limit = 1024 * 1024): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(Object.assign(new Error('body too large'), { status: 413 }));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface RunningServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1; `port` 0 picks a free one. */
export async function listen(handler: (request: IncomingMessage, response: ServerResponse) => void | Promise<void>, port = 0): Promise<RunningServer> {
  const server = createServer((request, response) => {
    Promise.resolve(handler(request, response)).catch((error: unknown) => {
      if (!response.headersSent) sendJson(response, (error as { status?: number }).status ?? 500, { error: String((error as Error).message ?? error) });
      else response.end();
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    server,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A fault the stand-ins can be told to answer with, for the next N calls. */
export type Fault =
  | { kind: 'status'; status: number; retryAfterSeconds?: number }
  | { kind: 'timeout'; ms: number }
  | { kind: 'slack-error'; error: string };

/** A queue of faults per target ('*' matches any), consumed one per call. */
export class FaultPlan {
  private readonly planned = new Map<string, Fault[]>();
  private rate = 0;
  private rateFault: Fault | undefined;
  private random: () => number = Math.random;

  failNext(target: string, count: number, fault: Fault): void {
    const list = this.planned.get(target) ?? [];
    for (let i = 0; i < count; i++) list.push(fault);
    this.planned.set(target, list);
  }

  /** Fail a fraction of all calls, at random (the soak run's background noise). */
  failRandomly(rate: number, fault: Fault, random: () => number = Math.random): void {
    this.rate = rate;
    this.rateFault = fault;
    this.random = random;
  }

  clear(): void {
    this.planned.clear();
    this.rate = 0;
  }

  take(target: string): Fault | undefined {
    for (const key of [target, '*']) {
      const list = this.planned.get(key);
      if (list?.length) return list.shift();
    }
    if (this.rate > 0 && this.rateFault && this.random() < this.rate) return this.rateFault;
    return undefined;
  }
}
