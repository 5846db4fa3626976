import { PdRouterError } from '../lib/errors';
import { SUBSCRIBED_EVENT_TYPES } from '../lib/pagerduty/subscription';
import { parseCommandLine, usageError } from './cli';
import { PAGERDUTY_WEBHOOK_PATH, type StageKeys } from './webhook-coverage';

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
  // A local stack (npm start) listens on plain http on this machine: its stand-in PagerDuty delivers there.
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) throw new SubscriptionError('--url must be https: PagerDuty delivers webhooks over TLS only');
  if (url.pathname.replace(/\/$/, '') !== PAGERDUTY_WEBHOOK_PATH) {
    throw new SubscriptionError(`--url must end in ${PAGERDUTY_WEBHOOK_PATH} (the stack's PagerDutyWebhookUrl output), not ${url.pathname}`);
  }
  return url.toString().replace(/\/$/, '');
}

async function call(input: Pick<CreateSubscriptionInput, 'apiUrl' | 'token' | 'timeoutMs'>, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
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

const USAGE = `usage: PAGER_DUTY_REST_API_KEY=<full-access-key> npm run pd:subscribe [-- --stage <stage> --region <region>]
       PAGER_DUTY_REST_API_KEY=<full-access-key> npm run pd:subscribe -- --url <PagerDutyWebhookUrl> (--service <id>... | --team <id>)

Every service whose incidents pd-router must hear gets a PagerDuty v3 webhook subscription of its
own, to the stack's /pagerduty/webhooks, for the incident events the workers handle.

Without --service or --team it finds them itself: it reads the stage's routing keys (each registered
customer's own key, and PAGER_DUTY_EVENTS_API_KEY), finds the service each key is an integration
key of (GET /services?include[]=integrations), and creates a subscription for every one of those
services that no subscription to the stack's URL takes in yet. With --stage and --region it works on
that deployed stage (your AWS credentials read its stack, secret and customers); without them, on
the local stack \`npm start\` runs. Run it again after registering a customer with its own key.

Each new subscription's signing secret is printed on stdout, one per line (PagerDuty shows it only
now): add each to PAGER_DUTY_SIGNING_KEY, which lists the secrets comma-separated
(npm run secrets:put). Everything else goes to stderr. Exit 1 when a key is on no service of the
account or a service could not be covered.

  --stage <s> --region <r>  a deployed stage (default: the local stack, found by PD_ROUTER_URL or PORT)
  --url <url>               the stack's PagerDutyWebhookUrl output; with --service or --team only
  --service <id>            subscribe this service (repeat for several: one subscription each)
  --team <id>               subscribe a team's services with one subscription
  --description <text>      the subscriptions' description in PagerDuty

PAGER_DUTY_API_URL overrides the REST API base (default https://api.pagerduty.com).`;

export interface CliIo {
  env: Record<string, string | undefined>;
  stdout: (line: string) => void;
  stderr: (line: string) => void;
  /**
   * The stage's webhook URL, routing keys and customers (the local stack, or a deployed stage):
   * the doctor's view of it. Tests pass their own.
   */
  stage?: (target: { stage?: string; region?: string }) => Promise<StageKeys>;
}


/**
 * Cover every routing key's service: create a subscription for each service no working
 * subscription to the URL takes in. Returns the exit code.
 */
async function coverStage(io: CliIo, keys: StageKeys, rest: { apiUrl: string; token: string }, description: string | undefined): Promise<number> {
  const { coverageOf, holderName, keyHolders, listServiceKeys, listSubscriptions } = await import('./webhook-coverage');
  const get = (path: string) => call(rest, 'GET', path);
  const holders = keyHolders(keys.defaultKey, keys.customers);
  if (!holders.length) {
    io.stderr(`${keys.label}: no routing key to trace (no default PAGER_DUTY_EVENTS_API_KEY, no customer with its own key)`);
    return 1;
  }
  const names = Object.fromEntries(keys.customers.filter((c) => c.name).map((c) => [c.channel, c.name!]));
  const results = coverageOf(holders, await listServiceKeys(get), await listSubscriptions(get), keys.webhookUrl);
  io.stderr(`pd:subscribe: ${keys.label}, webhooks to ${keys.webhookUrl}`);
  let failed = false;
  const created = new Map<string, string>();
  for (const result of results) {
    const who = holderName(result.holder, names);
    if (result.state === 'unknown') {
      failed = true;
      io.stderr(`✗ ${who}: its routing key is the integration key of no service this REST key can see (mistyped, deleted, or another PagerDuty account's): nothing to subscribe`);
      continue;
    }
    const service = `${result.service.name} (${result.service.id})`;
    if (result.state === 'covered') {
      io.stderr(`✓ ${who}: service ${service} is covered by ${result.subscription.id}`);
      continue;
    }
    if (created.has(result.service.id)) {
      io.stderr(`✓ ${who}: service ${service} is covered by ${created.get(result.service.id)} (created now)`);
      continue;
    }
    if (!result.why.startsWith('no webhook subscription')) {
      // A subscription exists but does not work: a second one would double every event once it is fixed.
      failed = true;
      io.stderr(`✗ ${who}: service ${service}: ${result.why}; enable it (or fix its events) in PagerDuty → Integrations → Generic Webhooks (v3), rather than adding another`);
      continue;
    }
    const subscription = await createWebhookSubscription({
      url: keys.webhookUrl,
      filter: { type: 'service_reference', id: result.service.id },
      ...rest,
      ...(description ? { description } : {}),
    });
    created.set(result.service.id, subscription.id);
    io.stderr(`+ ${who}: service ${service}: created ${subscription.id}; its signing secret is on stdout`);
    io.stdout(subscription.secret);
  }
  if (created.size) {
    io.stderr(`Add the ${created.size} secret${created.size === 1 ? '' : 's'} above to PAGER_DUTY_SIGNING_KEY, after the ones it holds, comma-separated (npm run secrets:put). PagerDuty will not show ${created.size === 1 ? 'it' : 'them'} again.`);
    io.stderr('Until the functions read the new value (at once after npm run secrets:put on a new cold start, at most 15 minutes), those services\' webhooks are refused and the reconciler catches up their status changes.');
  } else if (!failed) io.stderr('Every routing key\'s service is covered: nothing to create.');
  return failed ? 1 : 0;
}

/** The command line: parse, create, print. Returns the exit code. */
export async function runCreateWebhookSubscription(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseCommandLine<{ url?: string; service?: string[]; team?: string; description?: string; stage?: string; region?: string }>(
    argv,
    { url: { type: 'string' }, service: { type: 'string', multiple: true }, team: { type: 'string' }, description: { type: 'string' }, stage: { type: 'string' }, region: { type: 'string' } },
    USAGE,
    io,
  );
  if ('exitCode' in parsed) return parsed.exitCode;
  const { values } = parsed;
  const services = values.service ?? [];
  const explicit = services.length > 0 || values.team !== undefined;
  if (services.some((s) => !s.trim()) || values.team?.trim() === '') return usageError(io, USAGE, '--service and --team need an id');
  if (explicit && (values.stage !== undefined || values.region !== undefined)) return usageError(io, USAGE, '--service and --team go with --url; --stage and --region find the services themselves');
  if (services.length && values.team) return usageError(io, USAGE, 'give --service <id> (one or more) or --team <id>, not both');
  if (explicit && !values.url?.trim()) return usageError(io, USAGE, '--url is required with --service or --team (the stack\'s PagerDutyWebhookUrl output)');
  if (!explicit && values.url !== undefined) return usageError(io, USAGE, '--url goes with --service or --team; without them pd:subscribe finds the stack\'s URL itself');
  if (values.region !== undefined && values.stage === undefined) return usageError(io, USAGE, '--region goes with --stage (a deployed stage)');
  const region = values.region?.trim() || io.env.AWS_REGION?.trim();
  if (values.stage !== undefined) {
    if (!/^[A-Za-z0-9-]+$/.test(values.stage.trim())) return usageError(io, USAGE, '--stage must be a stage name (letters, digits, dashes)');
    if (!region) return usageError(io, USAGE, '--stage needs --region (or AWS_REGION)');
  }
  const envToken = io.env.PAGER_DUTY_REST_API_KEY?.trim();
  const apiUrl = io.env.PAGER_DUTY_API_URL?.trim() || 'https://api.pagerduty.com';
  try {
    if (!explicit) {
      const keys = await (io.stage ?? stageKeys)({ ...(values.stage ? { stage: values.stage.trim(), region: region! } : {}) });
      const token = envToken || keys.restKey;
      if (!token) {
        io.stderr('PAGER_DUTY_REST_API_KEY is not set (it is read from the environment, never from the command line)');
        return 2;
      }
      return await coverStage(io, keys, { apiUrl: envToken ? apiUrl : keys.apiUrl ?? apiUrl, token }, values.description);
    }
    if (!envToken) {
      io.stderr('PAGER_DUTY_REST_API_KEY is not set (it is read from the environment, never from the command line)');
      return 2;
    }
    const filters: SubscriptionFilter[] = values.team ? [{ type: 'team_reference', id: values.team }] : services.map((id) => ({ type: 'service_reference', id }));
    let failed = false;
    for (const filter of filters) {
      try {
        const created = await createWebhookSubscription({ url: values.url!, filter, apiUrl, token: envToken, ...(values.description ? { description: values.description } : {}) });
        io.stderr(`Created webhook subscription ${created.id} for ${filter.type} ${filter.id} (${created.events.join(', ')}).`);
        io.stdout(created.secret);
      } catch (error) {
        if (!(error instanceof SubscriptionError) || filters.length === 1) throw error;
        failed = true;
        io.stderr(error.message);
      }
    }
    io.stderr(
      filters.length === 1
        ? 'Its signing secret is on stdout. PagerDuty will not show it again: store it as PAGER_DUTY_SIGNING_KEY, or add it to the secrets that key lists, comma-separated (npm run secrets:put).'
        : 'Their signing secrets are on stdout, one per line. PagerDuty will not show them again: add each to PAGER_DUTY_SIGNING_KEY, comma-separated (npm run secrets:put).',
    );
    return failed ? 1 : 0;
  } catch (error) {
    io.stderr(error instanceof PdRouterError ? error.message : `unexpected failure: ${(error as Error).message}`);
    return 1;
  }
}

/** The stage as the doctor finds it (its secret, customers and webhook URL). */
async function stageKeys(target: { stage?: string; region?: string }): Promise<StageKeys> {
  const { stageView } = await import('./doctor');
  return stageView(target);
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
