import { PdRouterError } from '../lib/runtime/errors';
import { SUBSCRIBED_EVENT_TYPES } from '../lib/pagerduty/subscription';
import { parseCommandLine, usageError } from './cli';

/** The path the deployed stack serves PagerDuty webhooks on (serverless.yml custom.routes). */
export const PAGERDUTY_WEBHOOK_PATH = '/pagerduty/webhooks';

/** PagerDuty lets a subscription filter on exactly one service or one team. */
export interface SubscriptionFilter {
  type: 'service_reference' | 'team_reference';
  id: string;
}

export interface CreateSubscriptionInput {
  /** The stack's PagerDutyWebhookUrl output. */
  url: string;
  filter: SubscriptionFilter;
  /** REST API base, e.g. https://api.pagerduty.com */
  apiUrl: string;
  /** A REST API key allowed to manage webhook subscriptions. */
  token: string;
  description?: string;
  timeoutMs?: number;
}

export interface CreatedSubscription {
  id: string;
  /** PagerDuty shows it once, in this answer: it goes into the secret as PAGER_DUTY_SIGNING_KEY. */
  secret: string;
  events: readonly string[];
  filter: SubscriptionFilter;
}

/** A subscription that cannot or must not be created; the message says what to do. */
export class SubscriptionError extends PdRouterError {}

/** Refuse a URL that cannot be ours before PagerDuty is asked anything. */
export function checkWebhookUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new SubscriptionError(`--url is not a URL: ${raw}`);
  }
  if (url.protocol !== 'https:') throw new SubscriptionError('--url must be https: PagerDuty delivers webhooks over TLS only');
  if (url.pathname.replace(/\/$/, '') !== PAGERDUTY_WEBHOOK_PATH) {
    throw new SubscriptionError(`--url must end in ${PAGERDUTY_WEBHOOK_PATH} (the stack's PagerDutyWebhookUrl output), not ${url.pathname}`);
  }
  return url.toString().replace(/\/$/, '');
}

async function call(input: CreateSubscriptionInput, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const base = input.apiUrl.endsWith('/') ? input.apiUrl : `${input.apiUrl}/`;
  let response: Response;
  try {
    response = await fetch(new URL(path, base), {
      method,
      headers: {
        authorization: `Token token=${input.token}`,
        accept: 'application/vnd.pagerduty+json;version=2',
        'content-type': 'application/json',
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(input.timeoutMs ?? 15_000),
    });
  } catch (error) {
    throw new SubscriptionError(`PagerDuty could not be reached at ${base}: ${(error as Error).message}`);
  }
  const text = await response.text();
  let data: Record<string, unknown> = {};
  try {
    data = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    data = {};
  }
  if (response.status === 401 || response.status === 403) {
    throw new SubscriptionError(`PagerDuty refused the REST API key (HTTP ${response.status}); it needs a key that may manage webhook subscriptions`);
  }
  if (!response.ok) {
    const error = (data.error ?? {}) as { message?: string; errors?: string[] };
    const detail = [error.message, ...(error.errors ?? [])].filter(Boolean).join('; ');
    throw new SubscriptionError(`PagerDuty answered ${method} /${path} with HTTP ${response.status}${detail ? `: ${detail}` : ''}`);
  }
  return data;
}

/** Subscriptions already delivering to `url` with the same filter (a second one would double every event). */
async function existingSubscriptions(input: CreateSubscriptionInput, url: string): Promise<string[]> {
  const ids: string[] = [];
  for (let offset = 0; ; ) {
    // The listing filters by the kind of resource (`service`, `team`), not by the reference type
    // a subscription's own filter holds (`service_reference`): PagerDuty's REST API description,
    // listWebhookSubscriptions `filter_type`.
    const query = new URLSearchParams({ filter_type: input.filter.type.replace(/_reference$/, ''), filter_id: input.filter.id, limit: '100', offset: String(offset) });
    const page = await call(input, 'GET', `webhook_subscriptions?${query}`);
    const items = Array.isArray(page.webhook_subscriptions) ? (page.webhook_subscriptions as Record<string, unknown>[]) : [];
    for (const item of items) {
      const delivery = (item.delivery_method ?? {}) as { url?: string };
      if (typeof delivery.url === 'string' && delivery.url.replace(/\/$/, '') === url && typeof item.id === 'string') ids.push(item.id);
    }
    if (page.more !== true || items.length === 0) return ids;
    offset += items.length;
  }
}

/**
 * Create the v3 webhook subscription that sends the incident events pd-router's worker handles,
 * for one service or one team, to the deployed URL. Returns the signing secret PagerDuty shows
 * only in this answer.
 */
export async function createWebhookSubscription(input: CreateSubscriptionInput): Promise<CreatedSubscription> {
  const url = checkWebhookUrl(input.url);
  if (!input.filter.id.trim()) throw new SubscriptionError('a service or team id is required');
  const existing = await existingSubscriptions(input, url);
  if (existing.length) {
    throw new SubscriptionError(
      `a subscription to ${url} for ${input.filter.type} ${input.filter.id} already exists (${existing.join(', ')}). ` +
        'PagerDuty showed its secret only when it was created: keep using the stored one, or delete that subscription in PagerDuty and run this again.',
    );
  }
  const data = await call(input, 'POST', 'webhook_subscriptions', {
    webhook_subscription: {
      type: 'webhook_subscription',
      description: input.description ?? `pd-router: incident updates back to the customer's Slack channel`,
      delivery_method: { type: 'http_delivery_method', url },
      events: [...SUBSCRIBED_EVENT_TYPES],
      filter: input.filter,
      active: true,
    },
  });
  const created = (data.webhook_subscription ?? {}) as { id?: unknown; delivery_method?: { secret?: unknown } };
  const secret = created.delivery_method?.secret;
  if (typeof created.id !== 'string' || typeof secret !== 'string' || !secret) {
    throw new SubscriptionError('PagerDuty created no subscription with a signing secret; check the subscription in PagerDuty');
  }
  return { id: created.id, secret, events: SUBSCRIBED_EVENT_TYPES, filter: input.filter };
}

const USAGE = `usage: PAGER_DUTY_REST_API_KEY=… npm run pd:subscribe -- --url <PagerDutyWebhookUrl> (--service <id> | --team <id>)

Creates the PagerDuty v3 webhook subscription for one service or one team, and prints its signing
secret on stdout (alone on its line), to be stored as PAGER_DUTY_SIGNING_KEY with npm run secrets:put.
PAGER_DUTY_API_URL overrides the REST API base (default https://api.pagerduty.com).`;

export interface CliIo {
  env: Record<string, string | undefined>;
  stdout: (line: string) => void;
  stderr: (line: string) => void;
}

/** The command line: parse, create, print. Returns the exit code. */
export async function runCreateWebhookSubscription(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseCommandLine<{ url?: string; service?: string[]; team?: string; description?: string }>(
    argv,
    { url: { type: 'string' }, service: { type: 'string', multiple: true }, team: { type: 'string' }, description: { type: 'string' } },
    USAGE,
    io,
  );
  if ('exitCode' in parsed) return parsed.exitCode;
  const { values } = parsed;
  const services = values.service ?? [];
  if (!values.url?.trim()) return usageError(io, USAGE, '--url is required (the stack\'s PagerDutyWebhookUrl output)');
  if (services.some((s) => !s.trim()) || values.team?.trim() === '') return usageError(io, USAGE, '--service and --team need an id');
  if (services.length + (values.team ? 1 : 0) !== 1) {
    // Each subscription has its own signing secret and pd-router verifies with one key, so one
    // subscription it is: a team covers several services.
    const why = services.length > 1
      ? 'PagerDuty gives every subscription its own signing secret and pd-router verifies one key: subscribe the team that owns these services instead'
      : 'give exactly one of --service <id> or --team <id>';
    return usageError(io, USAGE, why);
  }
  const token = io.env.PAGER_DUTY_REST_API_KEY?.trim();
  if (!token) {
    io.stderr('PAGER_DUTY_REST_API_KEY is not set (it is read from the environment, never from the command line)');
    return 2;
  }
  const filter: SubscriptionFilter = values.team ? { type: 'team_reference', id: values.team } : { type: 'service_reference', id: services[0]! };
  try {
    const created = await createWebhookSubscription({
      url: values.url,
      filter,
      apiUrl: io.env.PAGER_DUTY_API_URL?.trim() || 'https://api.pagerduty.com',
      token,
      ...(values.description ? { description: values.description } : {}),
    });
    io.stderr(`Created webhook subscription ${created.id} for ${filter.type} ${filter.id} (${created.events.join(', ')}).`);
    io.stderr('Its signing secret follows. PagerDuty will not show it again: store it as PAGER_DUTY_SIGNING_KEY (npm run secrets:put).');
    io.stdout(created.secret);
    return 0;
  } catch (error) {
    io.stderr(error instanceof SubscriptionError ? error.message : `unexpected failure: ${(error as Error).message}`);
    return 1;
  }
}

if (require.main === module) {
  void runCreateWebhookSubscription(process.argv.slice(2), {
    env: process.env,
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
  }).then((code) => {
    process.exitCode = code;
  });
}
