import { PAGERDUTY_HANDLED_EVENT_TYPES } from '../lib/events';

/** The path the deployed stack serves PagerDuty webhooks on (serverless.yml custom.routes). */
export const PAGERDUTY_WEBHOOK_PATH = '/pagerduty/webhooks';

/** What `npm run pd:subscribe` needs to know of a stage to cover it. */
export interface StageKeys {
  label: string;
  webhookUrl: string;
  defaultKey?: string;
  customers: { channel: string; name?: string; routingKey?: unknown }[];
  /**
   * The REST API base and the stage's own REST key (from its secret), used when
   * PAGER_DUTY_REST_API_KEY is not set: enough to read; creating a subscription needs a full-access key.
   */
  apiUrl?: string;
  restKey?: string;
}

/**
 * Which PagerDuty services must send pd-router their incidents, and whether a webhook subscription
 * does: `npm run pd:subscribe` (which creates what is missing), `npm run doctor` (which fails,
 * naming the customer, when a service is not covered) and `npm run customers -- add` (which says
 * so for the key it registers) all answer it the same way, from the REST API's own listings.
 *
 * A routing key is an Events API v2 integration key, and PagerDuty lists each service's
 * integrations, keys included, with `GET /services?include[]=integrations`: that is how a key is
 * traced to its service. A service is covered when a subscription delivering to the stack's
 * webhook URL is enabled, sends every event type the workers handle, and takes in the service:
 * filtered on it, on a team it belongs to, or on the whole account.
 */

/** A webhook subscription as the REST API lists it. */
export interface WebhookSubscription {
  id: string;
  active?: boolean;
  events?: string[];
  filter?: { type?: string; id?: string };
  delivery_method?: { url?: string; temporarily_disabled?: boolean };
}

/** A service of the account, and the integration keys that page it. */
export interface ServiceKeys {
  id: string;
  name: string;
  teams: string[];
  keys: string[];
}

/** Who pages with a routing key: a customer channel, or the stage's default key. */
export interface KeyHolder {
  /** A channel id, or `default` for PAGER_DUTY_EVENTS_API_KEY. */
  who: string;
  key: string;
}

export type KeyCoverage =
  | { holder: KeyHolder; state: 'covered'; service: ServiceKeys; subscription: WebhookSubscription }
  | { holder: KeyHolder; state: 'uncovered'; service: ServiceKeys; why: string }
  | { holder: KeyHolder; state: 'unknown' };

type Get = (path: string) => Promise<Record<string, unknown>>;

/** Every service of the account with its integration keys (paged through). */
export async function listServiceKeys(get: Get): Promise<ServiceKeys[]> {
  const services: ServiceKeys[] = [];
  for (let offset = 0; ; ) {
    const page = await get(`services?include[]=integrations&limit=100&offset=${offset}`);
    const items = Array.isArray(page.services) ? (page.services as Record<string, unknown>[]) : [];
    for (const item of items) {
      if (typeof item.id !== 'string') continue;
      const integrations = Array.isArray(item.integrations) ? (item.integrations as { integration_key?: unknown }[]) : [];
      const teams = Array.isArray(item.teams) ? (item.teams as { id?: unknown }[]) : [];
      services.push({
        id: item.id,
        name: typeof item.name === 'string' ? item.name : item.id,
        teams: teams.map((t) => t.id).filter((id): id is string => typeof id === 'string'),
        keys: integrations.map((i) => i.integration_key).filter((k): k is string => typeof k === 'string' && k.length > 0),
      });
    }
    if (page.more !== true || !items.length) return services;
    offset += items.length;
  }
}

/** Every webhook subscription of the account (paged through). */
export async function listSubscriptions(get: Get): Promise<WebhookSubscription[]> {
  const all: WebhookSubscription[] = [];
  for (let offset = 0; ; ) {
    const page = await get(`webhook_subscriptions?limit=100&offset=${offset}`);
    const items = (Array.isArray(page.webhook_subscriptions) ? page.webhook_subscriptions : []) as WebhookSubscription[];
    all.push(...items);
    if (page.more !== true || !items.length) return all;
    offset += items.length;
  }
}

const sameUrl = (a: string | undefined, b: string) => a !== undefined && a.replace(/\/$/, '') === b.replace(/\/$/, '');

/** What is wrong with a subscription that delivers to the URL (empty: nothing). */
export function subscriptionProblems(s: WebhookSubscription): string[] {
  const problems: string[] = [];
  if (s.active === false) problems.push('is disabled');
  if (s.delivery_method?.temporarily_disabled) problems.push('was disabled by PagerDuty after failed deliveries');
  const missing = PAGERDUTY_HANDLED_EVENT_TYPES.filter((type) => !(s.events ?? []).includes(type));
  if (missing.length) problems.push(`does not send ${missing.join(', ')}`);
  return problems;
}

/** Whether a subscription's filter takes in a service's incidents. */
export function takesIn(s: WebhookSubscription, service: ServiceKeys): boolean {
  const filter = s.filter ?? {};
  if (filter.type === undefined || filter.type === 'account_reference') return true;
  if (filter.type === 'service_reference') return filter.id === service.id;
  if (filter.type === 'team_reference') return filter.id !== undefined && service.teams.includes(filter.id);
  return false;
}

/** The service each holder's key pages, and whether a working subscription to `url` takes it in. */
export function coverageOf(holders: readonly KeyHolder[], services: readonly ServiceKeys[], subscriptions: readonly WebhookSubscription[], url: string): KeyCoverage[] {
  const mine = subscriptions.filter((s) => sameUrl(s.delivery_method?.url, url));
  return holders.map((holder): KeyCoverage => {
    const service = services.find((s) => s.keys.includes(holder.key));
    if (!service) return { holder, state: 'unknown' };
    const taking = mine.filter((s) => takesIn(s, service));
    const working = taking.find((s) => !subscriptionProblems(s).length);
    if (working) return { holder, state: 'covered', service, subscription: working };
    const why = taking.length ? `its subscription ${taking[0]!.id} ${subscriptionProblems(taking[0]!).join('; ')}` : `no webhook subscription to ${url} takes in service ${service.id}`;
    return { holder, state: 'uncovered', service, why };
  });
}

/** How a holder is named in a line: the channel, or the default key. */
export function holderName(holder: KeyHolder, names: Readonly<Record<string, string>> = {}): string {
  if (holder.who === 'default') return 'the default key (PAGER_DUTY_EVENTS_API_KEY)';
  return names[holder.who] ? `${holder.who} (${names[holder.who]})` : holder.who;
}

/** The key holders of a stage: the default key first, then each customer with its own key. */
export function keyHolders(defaultKey: string | undefined, customers: readonly { channel: string; routingKey?: unknown }[]): KeyHolder[] {
  return [
    ...(defaultKey ? [{ who: 'default', key: defaultKey }] : []),
    ...customers.filter((c) => typeof c.routingKey === 'string' && c.routingKey).map((c) => ({ who: c.channel, key: c.routingKey as string })),
  ];
}
