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

// Constructors that reach for the runtime's classes only when called: reading `globalThis.Headers`
// at load would load undici (~20 ms) on every cold start, even where pdjs is never called. `new`
// on a function that returns an object yields that object.
/** The runtime's Headers, looked up when first constructed. */
export function Headers(init?: HeadersInit): Headers {
  return new globalThis.Headers(init);
}
/** The runtime's Request, looked up when first constructed. */
export function Request(input: string | URL | Request, init?: RequestInit): Request {
  return new globalThis.Request(input, init);
}
/** The runtime's Response, looked up when first constructed. */
export function Response(body?: BodyInit | null, init?: ResponseInit): Response {
  return new globalThis.Response(body, init);
}
