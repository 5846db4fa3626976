import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidInputError } from '../lib/errors';
import type { CustomerAdmin } from '../lib/store/customers';
import { readBody, sendJson } from './stand-ins/http-util';

/** The header the provider's tools send the stack's admin token in. */
export const ADMIN_TOKEN_HEADER = 'x-pd-router-admin-token';

function tokenMatches(given: string | string[] | undefined, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function readJson(request: IncomingMessage): Promise<Record<string, unknown>> {
  const raw = (await readBody(request, 64 * 1024)).toString('utf8');
  try {
    const parsed: unknown = raw ? JSON.parse(raw) : {};
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new InvalidInputError('the body must be a JSON object');
}

/**
 * `/admin/customers…` on the local stack, for `npm run customers`: the registry of the running
 * stack over HTTP. A local stack may be reachable from outside (a tunnel for Slack's events),
 * so every request must carry the stack's admin token. Customers leave only masked.
 *
 *   GET    /admin/customers                   every customer
 *   POST   /admin/customers                   add (body: the new customer)
 *   GET    /admin/customers/{channel}         one customer (null when it is not one)
 *   PATCH  /admin/customers/{channel}         update (body: the changes; null clears)
 *   DELETE /admin/customers/{channel}         remove
 *   POST   /admin/customers/{channel}/approve approve the organizations it is shared with now
 *
 * Returns false for paths it does not serve; errors are thrown with their HTTP status.
 */
export async function adminRoutes(request: IncomingMessage, response: ServerResponse, admin: { token: string; customers: CustomerAdmin }): Promise<boolean> {
  const parts = new URL(request.url ?? '/', 'http://localhost').pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] !== 'admin' || parts[1] !== 'customers') return false;
  if (!tokenMatches(request.headers[ADMIN_TOKEN_HEADER], admin.token)) {
    sendJson(response, 401, { error: 'the admin token is missing or wrong' });
    return true;
  }
  const [channel, action] = parts.slice(2);
  const route = `${request.method} ${channel === undefined ? '' : action === undefined ? ':channel' : `:channel/${action}`}`;
  switch (route) {
    case 'GET ':
      sendJson(response, 200, { customers: await admin.customers.all() });
      break;
    case 'POST ':
      sendJson(response, 201, { customer: await admin.customers.add((await readJson(request)) as never) });
      break;
    case 'GET :channel':
      // An unknown channel is an answer, not a missing route: null.
      sendJson(response, 200, { customer: (await admin.customers.get(channel!)) ?? null });
      break;
    case 'PATCH :channel':
      sendJson(response, 200, { customer: await admin.customers.update(channel!, (await readJson(request)) as never) });
      break;
    case 'DELETE :channel':
      sendJson(response, 200, { customer: await admin.customers.remove(channel!) });
      break;
    case 'POST :channel/approve':
      sendJson(response, 200, { customer: await admin.customers.approve(channel!) });
      break;
    default:
      sendJson(response, 404, { error: `no route for ${request.method} ${parts.join('/')}` });
  }
  return true;
}
