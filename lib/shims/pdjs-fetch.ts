import { FetchHeaders, nodeHttpFetch } from '../runtime/node-http-fetch';

/**
 * `cross-fetch` as `@pagerduty/pdjs` imports it, answered through `node:http(s)` like the workers'
 * other outbound calls (`lib/runtime/node-http-fetch.ts`): one HTTP stack instead of a second one
 * (node-fetch, whatwg-url, tr46: 45% of a worker bundle), and not undici either (its first call
 * loads it, ~20 ms of CPU on the pagerduty-worker's cold start, whose ownership check reads
 * PagerDuty). The deploy aliases `cross-fetch` to this module (serverless.yml
 * `custom.esbuild.alias`); the tests and the local stack do the same, so every run exercises this code.
 *
 * One difference from a plain fetch: a 429 rejects. pdjs retries a 429 itself after a fixed pause
 * (`retryTimeout`), whatever PagerDuty asked for; rejecting hands the 429 and its headers to
 * `lib/pagerduty/api.ts`, which turns them into a retry no earlier than PagerDuty's wait.
 */

/** What a 429 rejects with: the status and headers pdjs would otherwise have swallowed. */
export class RateLimitedResponse extends Error {
  override name = 'RateLimitedResponse';
  readonly status = 429;
  constructor(readonly headers: { get(name: string): string | null }) {
    super('answered 429 Too Many Requests');
  }
}

/** fetch, with a 429 turned into a rejection (see the module comment). */
export async function pdjsFetch(input: string | URL, init?: Parameters<typeof nodeHttpFetch>[1]): ReturnType<typeof nodeHttpFetch> {
  const response = await nodeHttpFetch(input, init);
  if (response.status !== 429) return response;
  await response.arrayBuffer().catch(() => undefined);
  throw new RateLimitedResponse(response.headers);
}

export default pdjsFetch;
export { pdjsFetch as fetch };

/** What pdjs builds its request headers with: the runtime's Headers would load undici. */
export { FetchHeaders as Headers };

// Constructors that reach for the runtime's classes only when called: reading them from
// `globalThis` at load would load undici on every cold start. `new` on a function that returns
// an object yields that object.
/** The runtime's Request, looked up when first constructed. */
export function Request(input: string | URL | Request, init?: RequestInit): Request {
  return new globalThis.Request(input, init);
}
/** The runtime's Response, looked up when first constructed. */
export function Response(body?: BodyInit | null, init?: ResponseInit): Response {
  return new globalThis.Response(body, init);
}
