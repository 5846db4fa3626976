/** A request body with the headers its sender signed it with. */
export interface SignedRequest {
  body: string;
  headers: Record<string, string>;
}

/** POST a signed request (with any extra headers, such as Slack's retry headers) and read the answer. */
export async function post(url: string, request: SignedRequest, extraHeaders: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { method: 'POST', headers: { ...request.headers, ...extraHeaders }, body: request.body });
  return { status: response.status, body: await response.text() };
}
