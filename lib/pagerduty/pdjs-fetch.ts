/**
 * `cross-fetch` as `@pagerduty/pdjs` imports it, answered by the runtime's own fetch: one HTTP
 * stack instead of a second one (node-fetch, whatwg-url, tr46: 45% of a worker bundle). The
 * deploy aliases `cross-fetch` to this module (serverless.yml `custom.esbuild.alias`); the tests
 * and the local stack do the same, so every run exercises this code.
 *
 * One difference from a plain fetch: a 429 rejects. pdjs retries a 429 itself after a fixed pause
 * (`retryTimeout`), whatever PagerDuty asked for; rejecting hands the 429 and its headers to
 * `lib/pagerduty/api.ts`, which turns them into a retry no earlier than PagerDuty's wait.
 */

/** What a 429 rejects with: the status and headers pdjs would otherwise have swallowed. */
export class RateLimitedResponse extends Error {
  override name = 'RateLimitedResponse';
  readonly status = 429;
  constructor(readonly headers: Headers) {
    super('answered 429 Too Many Requests');
  }
}

/** The runtime's fetch, with a 429 turned into a rejection (see the module comment). */
export async function runtimeFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const response = await globalThis.fetch(input, init);
  if (response.status !== 429) return response;
  await response.arrayBuffer().catch(() => undefined);
  throw new RateLimitedResponse(response.headers);
}

export default runtimeFetch;
export { runtimeFetch as fetch };
export const Headers = globalThis.Headers;
export const Request = globalThis.Request;
export const Response = globalThis.Response;
