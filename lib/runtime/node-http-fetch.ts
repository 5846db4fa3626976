import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

/**
 * `fetch` for the workers' calls to Slack and PagerDuty (small string bodies), through
 * `node:http(s)`, which the AWS SDK has already loaded. The runtime's own fetch is undici: its
 * first call loads and compiles it (~20 ms of CPU, more on a busy core), and both workers call
 * Slack or PagerDuty on every cold start. Anything this does not cover goes to the runtime's
 * fetch unchanged: a body that is not a string (a file upload), and a redirect to follow.
 */

/** Request headers as the callers pass them: a record, entries, or a Headers-like iterable. */
type HeaderInit = Record<string, string> | Iterable<readonly [string, string]>;

export interface NodeHttpFetchInit {
  method?: string;
  headers?: HeaderInit;
  body?: unknown;
  redirect?: 'error' | 'follow' | 'manual';
  signal?: AbortSignal | null;
}

/**
 * Headers with fetch's semantics for what the callers use: names are case-insensitive, and
 * repeated values are joined with ", ". Also what pdjs constructs (`lib/shims/pdjs-fetch.ts`):
 * the runtime's Headers would load undici.
 */
export class FetchHeaders implements Iterable<[string, string]> {
  private readonly values = new Map<string, string>();
  constructor(init?: HeaderInit) {
    if (!init) return;
    const entries = Symbol.iterator in init ? (init as Iterable<readonly [string, string]>) : Object.entries(init);
    for (const [name, value] of entries) this.append(name, value);
  }
  append(name: string, value: string): void {
    const key = name.toLowerCase();
    const previous = this.values.get(key);
    this.values.set(key, previous === undefined ? String(value) : `${previous}, ${value}`);
  }
  set(name: string, value: string): void {
    this.values.set(name.toLowerCase(), String(value));
  }
  get(name: string): string | null {
    return this.values.get(name.toLowerCase()) ?? null;
  }
  has(name: string): boolean {
    return this.values.has(name.toLowerCase());
  }
  delete(name: string): void {
    this.values.delete(name.toLowerCase());
  }
  forEach(callback: (value: string, name: string) => void): void {
    for (const [name, value] of this.entries()) callback(value, name);
  }
  entries(): IterableIterator<[string, string]> {
    return [...this.values].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))[Symbol.iterator]();
  }
  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
}

/** The part of a fetch Response that Slack's client, pdjs and pd-router read (the runtime's Response has it too). */
export interface NodeHttpFetchResponse {
  readonly ok: boolean;
  readonly status: number;
  readonly statusText: string;
  readonly url: string;
  readonly headers: Pick<FetchHeaders, 'get' | 'has' | 'forEach' | 'entries'>;
  text(): Promise<string>;
  json(): Promise<unknown>;
  arrayBuffer(): Promise<ArrayBuffer>;
}

function responseHeaders(headers: IncomingHttpHeaders): FetchHeaders {
  const result = new FetchHeaders();
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) result.append(name, one);
  }
  return result;
}

/** The runtime's fetch, for what this one leaves to it; its Response has all of the above (Headers.entries included, though this project's types leave it out). */
const runtimeFetch = (input: string | URL, init: NodeHttpFetchInit) => globalThis.fetch(input, init as RequestInit) as Promise<unknown> as Promise<NodeHttpFetchResponse>;

/** What the runtime's fetch rejects with when a request is redirected and `redirect` is "error". */
const redirected = () => new TypeError('fetch failed', { cause: new Error('unexpected redirect') });

export function nodeHttpFetch(input: string | URL, init: NodeHttpFetchInit = {}): Promise<NodeHttpFetchResponse> {
  if (init.body !== undefined && init.body !== null && typeof init.body !== 'string') return runtimeFetch(input, init);
  const url = new URL(input);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return runtimeFetch(input, init);
  const signal = init.signal ?? undefined;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const body = init.body === undefined || init.body === null ? undefined : Buffer.from(init.body, 'utf8');
  const headers: Record<string, string> = Object.fromEntries(new FetchHeaders(init.headers));
  if (body) headers['content-length'] = String(body.length);
  const send = url.protocol === 'http:' ? httpRequest : httpsRequest;

  return new Promise<NodeHttpFetchResponse>((resolve, reject) => {
    let settled = false;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      reject(error);
    };
    // As fetch does: an abort rejects with the signal's reason (a TimeoutError for AbortSignal.timeout).
    const onAbort = () => {
      request.destroy();
      fail(signal!.reason);
    };
    const request = send(url, { method: init.method ?? 'GET', headers }, (response) => {
      const status = response.statusCode ?? 0;
      if (status >= 300 && status < 400 && response.headers.location && init.redirect !== 'manual') {
        response.resume();
        if (init.redirect === 'error') return fail(redirected());
        // Following a redirect is the runtime's fetch's business (method and body rules, hop limit).
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        return resolve(runtimeFetch(input, init));
      }
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', fail);
      response.on('end', () => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        const bytes = Buffer.concat(chunks);
        const text = async () => bytes.toString('utf8');
        resolve({
          ok: status >= 200 && status < 300,
          status,
          statusText: response.statusMessage ?? '',
          url: url.toString(),
          headers: responseHeaders(response.headers),
          text,
          json: async () => JSON.parse(await text()) as unknown,
          arrayBuffer: async () => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
        });
      });
    });
    request.on('error', (error) => fail(new TypeError('fetch failed', { cause: error })));
    signal?.addEventListener('abort', onAbort, { once: true });
    request.end(body);
  });
}
