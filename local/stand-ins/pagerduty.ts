import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { signPagerDutyWebhook } from '../../lib/pagerduty/signature';
import { incidentWebhookBody, noteWebhookBody, statusUpdateWebhookBody, type Agent } from '../events/pagerduty';
import { SUBSCRIBED_EVENT_TYPES } from '../../lib/pagerduty/subscription';
import { FaultPlan, listen, readBody, sendJson, sleep, type RunningServer } from './http-util';
import { eventsInvalid, eventsRefusals, restInvalid, restRefusals } from './pagerduty-api';
import { pagerDutyLimited, rateLimiterFor, type RateLimiter, type RateLimitSetting } from './rate-limits';

export interface StandInIncident {
  id: string;
  number: number;
  title: string;
  status: 'triggered' | 'acknowledged' | 'resolved';
  urgency: 'high' | 'low';
  incidentKey: string;
  assignees: string[];
  createdAt: string;
  lastStatusChangeAt: string;
  alertKeys: string[];
  /** The trigger's payload as it arrived (none for an incident on-call opened by hand). */
  payload: Record<string, unknown>;
  /** Set when on-call merged this incident into another one. */
  mergedInto?: string;
  /** When it was resolved (PagerDuty's `resolved_at`); resolved is final, a new trigger opens a new incident. */
  resolvedAt?: string;
  /** The service whose integration opened it (the default service when absent: kept from an older sandbox). */
  serviceId?: string;
}

/** The sandbox account's default service: the one `PAGER_DUTY_EVENTS_API_KEY` is an integration of. */
export const DEFAULT_SERVICE_ID = 'PSERVICE';

/** A service of the stand-in's account, with the Events API v2 integration whose key pages it. */
export interface StandInService {
  id: string;
  name: string;
  routingKey: string;
}

/** The id the stand-in gives the service behind a routing key: stable, so a restarted sandbox names it the same. */
export function standInServiceId(routingKey: string): string {
  return `PS${createHash('sha256').update(routingKey).digest('hex').slice(0, 8).toUpperCase()}`;
}


/** The sandbox account's on-call user: the `From` the sandbox gives notes (PAGER_DUTY_FROM_EMAIL). */
export const SANDBOX_ONCALL_EMAIL = 'oncall@provider.test';

/** What PagerDuty refuses (acknowledging or resolving a resolved incident), as the REST API's 400. */
export class StandInRefusal extends Error {}

export interface PagerDutyStandInOptions {
  routingKey: string;
  restToken: string;
  port?: number;
  latencyMs?: number;
  /**
   * Where incident changes are delivered as signed v3 webhooks; none when absent. Only the event
   * types of the URL's subscription are delivered: those of a subscription made with
   * {@link PagerDutyStandIn.subscribe} or POST /webhook_subscriptions for the URL, else the ones
   * `npm run pd:subscribe` asks for.
   */
  webhook?: { url: string; signingKey: string };
  /** Deliver every webhook twice (PagerDuty's at-least-once). */
  duplicateWebhooks?: boolean;
  /** Leave incident_key out of webhooks, as for incidents with several alerts. */
  omitIncidentKey?: boolean;
  onCall?: string;
  /**
   * Content-based alert grouping on the service: a new alert joins the newest open incident
   * instead of opening its own (PD_SANDBOX_GROUPING=on in the local stack).
   */
  grouping?: boolean;
  /** The first incident number (PagerDuty's numbers are account-wide: a new account does not start at 1). */
  firstNumber?: number;
  print?: (line: string) => void;
  /** Enforce PagerDuty's rate limits (`./rate-limits.ts`): off by default. */
  rateLimits?: RateLimitSetting;
}

/** The stand-in's state as the sandbox keeps it on disk. */
export interface PagerDutyStandInSnapshot {
  incidents: StandInIncident[];
  nextNumber: number;
  routingKeys?: string[];
  serviceNames?: Record<string, string>;
}

export interface WebhookDelivery {
  webhookId: string;
  eventId: string;
  eventType: string;
  incidentId: string;
  status: number;
  /** The listed subscription it was delivered for (none: the URL's implicit one). */
  subscriptionId?: string;
}

/** A webhook subscription as the stand-in keeps it. */
interface StandInSubscription {
  id: string;
  active?: boolean;
  events?: string[];
  filter?: { type?: string; id?: string };
  delivery_method: { url?: string; temporarily_disabled?: boolean; secret?: string | null };
}

/**
 * A local stand-in for PagerDuty: the Events API creates an incident per new dedup_key (a
 * trigger for an open one merges into it), the REST API answers for those incidents, and every
 * change is sent as a signed v3 webhook. It can be told to fail.
 */
export class PagerDutyStandIn {
  readonly incidents = new Map<string, StandInIncident>();
  /** Every accepted Events API call, merged or not. */
  readonly triggers: { dedupKey: string; payload: Record<string, unknown>; arrivedAt: number }[] = [];
  readonly eventsCalls: { status: number; body: unknown }[] = [];
  /** Every REST call; `arrivedAt` (performance.now(), as the Slack stand-in's calls) orders it against other stand-ins' calls. */
  readonly restCalls: { path: string; status: number; arrivedAt: number }[] = [];
  readonly deliveries: WebhookDelivery[] = [];
  /** Changes whose event type the subscription does not ask for: PagerDuty sends nothing for them. */
  readonly unsubscribed: { eventType: string; incidentId: string }[] = [];
  /** Changes on a service no subscription of the webhook URL takes in: PagerDuty sends nothing for them either. */
  readonly uncovered: { eventType: string; incidentId: string; serviceId: string }[] = [];
  readonly subscriptions: Record<string, unknown>[] = [];
  /** Dropped deliveries in a row, per URL: PagerDuty disables a subscription after three. */
  private readonly drops = new Map<string, number>();
  readonly faults = new FaultPlan();
  /** PagerDuty's rate limits, when enforced; its counts say how many calls got a 429. */
  readonly rateLimits: RateLimiter | undefined;
  latencyMs: number;
  private server?: RunningServer;
  private nextNumber: number;
  private pendingDeliveries = new Set<Promise<void>>();
  /** `webhooks off`: changes are accepted and nothing is delivered (a subscription disabled, an endpoint down). */
  webhooksOff = false;
  /** Webhooks that were not delivered while off, in order: `redeliverLost()` sends them late. */
  readonly lostWebhooks: { body: string; webhookId: string; eventType: string; incidentId: string }[] = [];
  /**
   * The service is in a maintenance window: the Events API still answers 202, but PagerDuty opens
   * no incident (the same as an event rule or orchestration that suppresses the alert).
   */
  maintenance = false;
  /** Triggers accepted during maintenance, by dedup key: no incident holds them. */
  readonly suppressed = new Map<string, Record<string, unknown>>();
  /** Status updates on-call published, by incident id. */
  readonly statusUpdates: { incidentId: string; message: string; at: string }[] = [];
  /** Notes added through the REST API, in order. */
  readonly notes: { id: string; incidentId: string; content: string; from: string; at: string }[] = [];
  /** The emails of the account's users: a note's `From` must be one of them, as PagerDuty requires. */
  readonly userEmails = new Set([SANDBOX_ONCALL_EMAIL]);
  /**
   * Incidents the `incident_key` search also lists, first, for a key, although none of their alerts
   * holds it: a search result is a candidate, never proof (PagerDuty's filter matches more than
   * the incident's own key, and its index may lag a merge), which the router must check.
   */
  readonly searchAlsoReturns = new Map<string, string[]>();
  private readonly listeners = new Set<() => void>();

  constructor(private readonly options: PagerDutyStandInOptions) {
    this.latencyMs = options.latencyMs ?? 0;
    this.nextNumber = options.firstNumber ?? 1;
    this.rateLimits = rateLimiterFor(options.rateLimits);
  }

  set grouping(on: boolean) {
    this.options.grouping = on;
  }

  get url(): string {
    if (!this.server) throw new Error('PagerDuty stand-in is not started');
    return this.server.url;
  }

  set webhook(target: { url: string; signingKey: string } | undefined) {
    this.options.webhook = target;
  }

  async start(): Promise<this> {
    this.server = await listen(async (req, res) => void (await this.handle(req, res)), this.options.port);
    return this;
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.pendingDeliveries]);
    await this.server?.close();
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once every webhook sent so far has been answered (or given up on). */
  async deliveriesSettled(): Promise<void> {
    while (this.pendingDeliveries.size) await Promise.allSettled([...this.pendingDeliveries]);
  }

  /** The incident that holds an alert with this key now (after a merge, the target). */
  byKey(dedupKey: string): StandInIncident | undefined {
    return [...this.incidents.values()].find((i) => i.alertKeys.includes(dedupKey));
  }

  /** What the sandbox keeps across a restart (PD_ROUTER_DATA_DIR): its incidents and numbering. */
  snapshot(): PagerDutyStandInSnapshot {
    return { incidents: [...this.incidents.values()], nextNumber: this.nextNumber, routingKeys: [...this.routingKeys], serviceNames: Object.fromEntries(this.serviceNames) };
  }

  /** Take back what {@link snapshot} kept; numbering goes on where it stopped. */
  restore(kept: PagerDutyStandInSnapshot): void {
    this.incidents.clear();
    for (const incident of kept.incidents) this.incidents.set(incident.id, incident);
    this.nextNumber = Math.max(this.nextNumber, kept.nextNumber);
    for (const key of kept.routingKeys ?? []) this.routingKeys.add(key);
    for (const [id, name] of Object.entries(kept.serviceNames ?? {})) this.serviceNames.set(id, name);
    for (const listener of this.listeners) listener();
  }

  /** An incident by id, by number or by `#number`, as on-call would name it. */
  find(reference: string): StandInIncident | undefined {
    const number = /^#?(\d+)$/.exec(reference.trim())?.[1];
    if (number) return [...this.incidents.values()].find((i) => i.number === Number(number));
    return this.incidents.get(reference.trim());
  }

  acknowledge(id: string, by: Agent = 'Sandbox On-Call'): StandInIncident {
    return this.change(id, 'incident.acknowledged', by, (i) => {
      if (i.status === 'resolved') throw new StandInRefusal(`#${i.number} is resolved; PagerDuty does not acknowledge a resolved incident`);
      i.status = 'acknowledged';
    });
  }

  reassign(id: string, to: string, by: Agent = 'Sandbox On-Call'): StandInIncident {
    return this.change(id, 'incident.reassigned', by, (i) => {
      if (i.status === 'resolved') throw new StandInRefusal(`#${i.number} is resolved; PagerDuty does not reassign a resolved incident`);
      i.assignees = [to];
      i.status = 'triggered';
    });
  }

  /** Move the incident to another escalation policy ("another team"). */
  delegate(id: string, by: Agent = 'Sandbox On-Call'): StandInIncident {
    return this.change(id, 'incident.delegated', by, (i) => {
      if (i.status === 'resolved') throw new StandInRefusal(`#${i.number} is resolved; PagerDuty does not delegate a resolved incident`);
      i.assignees = ['Second Team On-Call'];
      i.status = 'triggered';
    });
  }

  resolve(id: string, by: Agent = 'Sandbox On-Call'): StandInIncident {
    return this.change(id, 'incident.resolved', by, (i) => {
      if (i.status === 'resolved') throw new StandInRefusal(`#${i.number} is already resolved`);
      i.status = 'resolved';
    });
  }

  /** On-call edits the title; PagerDuty sends no webhook for it, later ones carry the new title. */
  retitle(id: string, title: string): StandInIncident {
    const incident = this.incidents.get(id);
    if (!incident) throw new StandInRefusal(`no sandbox incident ${id}`);
    incident.title = title;
    this.options.print?.(`[pagerduty] #${incident.number} retitled: ${title}`);
    for (const listener of this.listeners) listener();
    return incident;
  }

  /**
   * On-call merges `fromId` into `intoId`, as PagerDuty does: the alerts move to the target, and the
   * merged incident resolves with a merge `resolve_reason` naming the target.
   */
  merge(fromId: string, intoId: string, by: Agent = 'Sandbox On-Call'): StandInIncident {
    const from = this.incidents.get(fromId);
    const into = this.incidents.get(intoId);
    if (!from || !into) throw new StandInRefusal(`no sandbox incident ${from ? intoId : fromId}`);
    if (from === into) throw new StandInRefusal('an incident cannot be merged into itself');
    if (from.status === 'resolved' || into.status === 'resolved') throw new StandInRefusal('PagerDuty merges open incidents only');
    into.alertKeys.push(...from.alertKeys);
    from.alertKeys = [];
    from.mergedInto = into.id;
    this.change(from.id, 'incident.resolved', by, (i) => (i.status = 'resolved'));
    return into;
  }

  /**
   * On-call publishes a status update for stakeholders: PagerDuty's `incident.status_update_published`,
   * a note-type event whose incident is a reference in `data.incident` and whose text is `data.message`.
   */
  publishStatusUpdate(id: string, message: string, by: Agent = 'Sandbox On-Call'): StandInIncident {
    const incident = this.incidents.get(id);
    if (!incident) throw new StandInRefusal(`no sandbox incident ${id}`);
    if (!message.trim()) throw new StandInRefusal('a status update needs a message');
    const at = new Date().toISOString();
    this.statusUpdates.push({ incidentId: id, message, at });
    this.options.print?.(`[pagerduty] #${incident.number} status update published`);
    this.send(JSON.stringify(this.statusUpdateBody(incident, message, by, at)), 'incident.status_update_published', incident.id);
    return incident;
  }

  /** A status update's v3 webhook body, shaped like the real capture. */
  statusUpdateBody(incident: StandInIncident, message: string, by: Agent, occurredAt = new Date().toISOString(), eventId?: string) {
    return statusUpdateWebhookBody(incident, message, { by, baseUrl: this.url, occurredAt, ...(eventId ? { eventId } : {}) });
  }

  /** An `incident.annotated` webhook body (a note added). */
  noteBody(incident: StandInIncident, note: { id: string; content: string; from: string; at: string }) {
    return noteWebhookBody(incident, note, { by: note.from, baseUrl: this.url, occurredAt: note.at });
  }

  /** The service's switches and what they hold back, for the sandbox's tools. */
  serviceState(): { webhooks: 'on' | 'off'; lostWebhooks: number; maintenance: boolean; suppressedAlerts: number } {
    return { webhooks: this.webhooksOff ? 'off' : 'on', lostWebhooks: this.lostWebhooks.length, maintenance: this.maintenance, suppressedAlerts: this.suppressed.size };
  }

  /** Turn webhook delivery off (changes still happen, nothing is sent) or back on. */
  setWebhooks(on: boolean): void {
    this.webhooksOff = !on;
    this.options.print?.(`[pagerduty] webhooks ${on ? 'on' : 'off: changes are accepted, nothing is delivered'}`);
    for (const listener of this.listeners) listener();
  }

  /** Send the webhooks lost while delivery was off, late and in order, as a re-enabled subscription's backlog would come. */
  redeliverLost(): number {
    const lost = this.lostWebhooks.splice(0);
    for (const w of lost) this.send(w.body, w.eventType, w.incidentId, w.webhookId);
    return lost.length;
  }

  /** Put the service in maintenance (triggers are accepted with 202 and open nothing) or take it out. */
  setMaintenance(on: boolean): void {
    this.maintenance = on;
    this.options.print?.(`[pagerduty] service ${on ? 'in maintenance: events are accepted, no incident is opened' : 'out of maintenance'}`);
    for (const listener of this.listeners) listener();
  }

  /** On-call opens an incident for an alert suppressed during maintenance, as they may from PagerDuty's alert list. */
  openSuppressed(dedupKey: string, by: Agent = 'Sandbox On-Call'): StandInIncident {
    const payload = this.suppressed.get(dedupKey);
    if (!payload) throw new StandInRefusal(`no suppressed alert ${dedupKey}`);
    this.suppressed.delete(dedupKey);
    const incident = this.open(String(payload.summary ?? 'Suppressed alert'), dedupKey, payload, 'high');
    this.options.print?.(`[pagerduty] #${incident.number} opened from a suppressed alert`);
    this.emit(incident, 'incident.triggered', by);
    return incident;
  }

  /** An incident on-call opens by hand (no customer behind it), e.g. "INTERNAL: pg-shared-3 disk full". */
  openInternal(title: string, by: Agent = 'Sandbox On-Call'): StandInIncident {
    const incident = this.open(title, randomBytes(16).toString('hex'), {}, 'high');
    this.options.print?.(`[pagerduty] #${incident.number} opened by hand: ${incident.title}`);
    this.emit(incident, 'incident.triggered', by);
    return incident;
  }

  private open(title: string, alertKey: string, payload: Record<string, unknown>, urgency: 'high' | 'low', serviceId = DEFAULT_SERVICE_ID): StandInIncident {
    const now = new Date().toISOString();
    const incident: StandInIncident = {
      id: `Q${randomBytes(6).toString('hex').toUpperCase()}`,
      number: this.nextNumber++,
      title,
      status: 'triggered',
      urgency,
      incidentKey: alertKey,
      assignees: [this.options.onCall ?? 'Sandbox On-Call'],
      createdAt: now,
      lastStatusChangeAt: now,
      alertKeys: [alertKey],
      payload,
      serviceId,
    };
    this.incidents.set(incident.id, incident);
    return incident;
  }

  /**
   * A webhook subscription for `url`, as `npm run pd:subscribe` makes one: the sandbox's own
   * (account-wide unless `filter` says otherwise), so that its webhook URL is subscribed, active and
   * listed like a deployed stack's. Its deliveries are signed with `secret`, or without one with the
   * webhook target's key (the key the stack was given).
   */
  subscribe(url: string, events: readonly string[], options: { filter?: { type: 'account_reference' | 'service_reference' | 'team_reference'; id?: string }; secret?: string } = {}): Record<string, unknown> {
    const subscription = {
      id: `PSUB${this.subscriptions.length + 1}`,
      type: 'webhook_subscription',
      active: true,
      events: [...events],
      filter: options.filter ?? { type: 'account_reference' },
      delivery_method: { type: 'http_delivery_method', url, secret: null, temporarily_disabled: false },
    };
    if (options.secret) this.subscriptionSecrets.set(subscription.id, options.secret);
    this.subscriptions.push(subscription);
    return subscription;
  }

  /** Each subscription's signing secret, by id (PagerDuty shows it once; the stand-in signs with it). */
  private readonly subscriptionSecrets = new Map<string, string>();

  /** The listed subscriptions delivering to `url`. */
  private subscriptionsFor(url: string): StandInSubscription[] {
    return this.subscriptions.filter((s) => (s.delivery_method as { url?: string } | undefined)?.url === url) as unknown as StandInSubscription[];
  }

  /** Whether a subscription's filter takes in a service's incidents: the account, that service (the stand-in's services belong to no team). */
  private static covers(subscription: StandInSubscription, serviceId: string): boolean {
    const filter = subscription.filter ?? {};
    if (filter.type === undefined || filter.type === 'account_reference') return true;
    return filter.type === 'service_reference' && filter.id === serviceId;
  }

  /**
   * Where an incident event goes: one delivery per subscription of the webhook URL whose filter
   * takes in the incident's service and that asks for the event type, each signed with its own
   * secret. A URL nobody subscribed is served as if `npm run pd:subscribe` had subscribed it for
   * the whole account (the same event types), unlisted, signed with the target's key.
   */
  private routesFor(url: string, eventType: string, serviceId: string): { subscription?: StandInSubscription; signingKey?: string }[] {
    const listed = this.subscriptionsFor(url);
    if (!listed.length) return SUBSCRIBED_EVENT_TYPES.includes(eventType) ? [{}] : [];
    return listed
      .filter((s) => PagerDutyStandIn.covers(s, serviceId) && (s.events ?? []).includes(eventType))
      .map((subscription) => {
        const secret = this.subscriptionSecrets.get(subscription.id) ?? subscription.delivery_method.secret ?? undefined;
        return { subscription, ...(secret ? { signingKey: secret } : {}) };
      });
  }

  /** A v3 webhook body for an incident, as PagerDuty would send it. */
  webhookBody(incident: StandInIncident, eventType: string, by: Agent, occurredAt = new Date().toISOString(), eventId?: string) {
    const serviceId = incident.serviceId ?? DEFAULT_SERVICE_ID;
    const about = { ...incident, incidentKey: this.options.omitIncidentKey ? null : incident.incidentKey, service: { id: serviceId, name: this.serviceName(serviceId) } };
    return incidentWebhookBody(about, eventType, { by, baseUrl: this.url, occurredAt, ...(eventId ? { eventId } : {}) });
  }

  private change(id: string, eventType: string, by: Agent, apply: (incident: StandInIncident) => void): StandInIncident {
    const incident = this.incidents.get(id);
    if (!incident) throw new StandInRefusal(`no sandbox incident ${id}`);
    apply(incident);
    incident.lastStatusChangeAt = new Date().toISOString();
    if (incident.status === 'resolved') incident.resolvedAt ??= incident.lastStatusChangeAt;
    const who = by === null ? 'PagerDuty' : typeof by === 'string' ? by : 'service' in by ? by.service : by.integration;
    this.options.print?.(`[pagerduty] #${incident.number} ${eventType.replace('incident.', '')}${incident.mergedInto && eventType === 'incident.resolved' ? ' (merged)' : ''} by ${who}`);
    this.emit(incident, eventType, by);
    return incident;
  }

  private emit(incident: StandInIncident, eventType: string, by: Agent) {
    // PagerDuty stamps a change once: the webhook's occurred_at is the incident's last_status_change_at.
    this.send(JSON.stringify(this.webhookBody(incident, eventType, by, incident.lastStatusChangeAt)), eventType, incident.id);
  }

  private send(body: string, eventType: string, incidentId: string, webhookId = randomBytes(12).toString('hex')) {
    for (const listener of this.listeners) listener();
    const target = this.options.webhook;
    if (!target) return;
    const serviceId = this.incidents.get(incidentId)?.serviceId ?? DEFAULT_SERVICE_ID;
    const routes = this.routesFor(target.url, eventType, serviceId);
    if (!routes.length) {
      // Either the type is not asked for, or no subscription takes in this incident's service.
      const asked = this.subscriptionsFor(target.url).some((s) => (s.events ?? []).includes(eventType)) || (!this.subscriptionsFor(target.url).length && SUBSCRIBED_EVENT_TYPES.includes(eventType));
      if (asked) return void this.uncovered.push({ eventType, incidentId, serviceId });
      return void this.unsubscribed.push({ eventType, incidentId });
    }
    if (this.webhooksOff) return void this.lostWebhooks.push({ body, webhookId, eventType, incidentId });
    const copies = this.options.duplicateWebhooks ? 2 : 1;
    routes.forEach((route, n) => {
      // PagerDuty delivers to each subscription on its own, with its own webhook id.
      const id = n === 0 ? webhookId : `${webhookId}-${n}`;
      for (let i = 0; i < copies; i++) {
        const delivery = this.deliver(target.url, route.signingKey ?? target.signingKey, route.subscription, body, id, eventType, incidentId);
        this.pendingDeliveries.add(delivery);
        void delivery.finally(() => this.pendingDeliveries.delete(delivery));
      }
    });
  }

  /** Deliver like PagerDuty: retry timeouts, 429 and 5xx a few times; give up on other 4xx. */
  private async deliver(url: string, signingKey: string, subscription: StandInSubscription | undefined, body: string, webhookId: string, eventType: string, incidentId: string) {
    const eventId = (JSON.parse(body) as { event: { id: string } }).event.id;
    if (subscription && (subscription.active === false || subscription.delivery_method.temporarily_disabled)) return;
    const dropKey = subscription?.id ?? url;
    for (let attempt = 0; attempt < 5; attempt++) {
      let status = 0;
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-webhook-id': webhookId, 'user-agent': 'PagerDuty-Webhook/V3.0', ...signPagerDutyWebhook(body, signingKey) },
          body,
          signal: AbortSignal.timeout(5000),
        });
        status = response.status;
        await response.arrayBuffer();
      } catch {
        status = 0;
      }
      this.deliveries.push({ webhookId, eventId, eventType, incidentId, status, ...(subscription ? { subscriptionId: subscription.id } : {}) });
      if (status >= 200 && status < 300) return void this.drops.set(dropKey, 0);
      if (status >= 400 && status < 500 && status !== 429) {
        const drops = (this.drops.get(dropKey) ?? 0) + 1;
        this.drops.set(dropKey, drops);
        if (drops >= 3 && subscription) subscription.delivery_method.temporarily_disabled = true;
        return;
      }
      await sleep(100 * 2 ** attempt);
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const raw = (await readBody(req)).toString('utf8');
    if (this.latencyMs) await sleep(this.latencyMs);
    if (url.pathname.startsWith('/v2/')) return this.events(req, url, raw, res);
    if (url.pathname.startsWith('/sandbox/')) return this.sandboxAction(req.method ?? 'GET', url.pathname, raw, res);
    return this.rest(req, url, raw, res);
  }

  private applyFault(target: string, res: ServerResponse): Promise<boolean> | boolean {
    const fault = this.faults.take(target);
    if (!fault) return false;
    if (fault.kind === 'status') {
      sendJson(res, fault.status, { status: 'error', message: 'injected fault' }, fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {});
      return true;
    }
    if (fault.kind === 'timeout') return sleep(fault.ms).then(() => false);
    return false;
  }

  /**
   * Routing keys of other services (one service per key, as a real account has one service per
   * customer) that the Events API accepts besides the default.
   */
  readonly routingKeys = new Set<string>();
  /** Names given to services (by id); a service without one is named after its id. */
  private readonly serviceNames = new Map<string, string>();

  /**
   * A service of the account with an Events API v2 integration whose key is `routingKey` (the
   * sandbox adds one for every customer registered with its own key). Naming an existing one renames it.
   */
  addService(routingKey: string, name?: string): StandInService {
    if (routingKey !== this.options.routingKey) this.routingKeys.add(routingKey);
    const id = this.serviceIdOf(routingKey)!;
    if (name) this.serviceNames.set(id, name);
    for (const listener of this.listeners) listener();
    return { id, name: this.serviceName(id), routingKey };
  }

  /** The account's services: the default one, then one per other routing key. */
  services(): StandInService[] {
    return [this.options.routingKey, ...this.routingKeys].map((key) => {
      const id = this.serviceIdOf(key)!;
      return { id, name: this.serviceName(id), routingKey: key };
    });
  }

  /** The service a routing key pages; undefined for a key no service of the account has. */
  serviceIdOf(routingKey: string): string | undefined {
    if (routingKey === this.options.routingKey) return DEFAULT_SERVICE_ID;
    return this.routingKeys.has(routingKey) ? standInServiceId(routingKey) : undefined;
  }

  private serviceName(id: string): string {
    return this.serviceNames.get(id) ?? (id === DEFAULT_SERVICE_ID ? 'Customer Escalations' : `Customer service ${id}`);
  }

  private routingKeyOf(raw: string): string {
    try {
      return String((JSON.parse(raw) as { routing_key?: unknown }).routing_key ?? '');
    } catch {
      return '';
    }
  }

  /** The Events API v2 (`/v2/…`): each request is checked against PagerDuty's description first. */
  private async events(req: IncomingMessage, url: URL, raw: string, res: ServerResponse) {
    // Faults may target one routing key (`events:<key>`): PagerDuty limits each integration on its own.
    if ((await this.applyFault(`events:${this.routingKeyOf(raw)}`, res)) || (await this.applyFault('events', res))) return void this.eventsCalls.push({ status: res.statusCode, body: raw });
    if (pagerDutyLimited(this.rateLimits, 'events', raw, res)) return void this.eventsCalls.push({ status: 429, body: raw });
    const reject = (...errors: string[]) => {
      this.eventsCalls.push({ status: 400, body: raw });
      sendJson(res, 400, eventsInvalid(errors));
    };
    const refusals = await eventsRefusals({ method: req.method ?? 'GET', path: url.pathname.slice('/v2'.length), query: url.searchParams, headers: req.headers, raw });
    if (refusals.length) return reject(...refusals);
    if (url.pathname !== '/v2/enqueue') {
      this.eventsCalls.push({ status: 404, body: raw });
      return sendJson(res, 404, { status: 'error', message: `the stand-in does not implement ${url.pathname}` });
    }
    const body = JSON.parse(raw) as Record<string, unknown>;
    const serviceId = this.serviceIdOf(String(body.routing_key));
    if (!serviceId) return reject('Invalid routing key');
    // PagerDuty also takes acknowledge and resolve; pd-router only triggers, and so does the stand-in.
    if (body.event_action !== 'trigger') return reject(`the stand-in implements 'event_action' trigger only, not ${String(body.event_action)}`);
    const payload = body.payload as Record<string, unknown> & { summary: string };
    const dedupKey = typeof body.dedup_key === 'string' && body.dedup_key ? body.dedup_key : randomBytes(16).toString('hex');
    this.triggers.push({ dedupKey, payload, arrivedAt: performance.now() });
    this.eventsCalls.push({ status: 202, body });
    const open = [...this.incidents.values()].find((i) => i.alertKeys.includes(dedupKey) && i.status !== 'resolved');
    if (!open && this.maintenance) {
      this.suppressed.set(dedupKey, payload);
      this.options.print?.('[pagerduty] event accepted during maintenance; no incident opened');
      for (const listener of this.listeners) listener();
      return sendJson(res, 202, { status: 'success', message: 'Event processed', dedup_key: dedupKey });
    }
    // Alert grouping is a service's setting: an alert joins an open incident of its own service only.
    const groupInto = this.options.grouping ? [...this.incidents.values()].filter((i) => i.status !== 'resolved' && (i.serviceId ?? DEFAULT_SERVICE_ID) === serviceId).at(-1) : undefined;
    if (!open && groupInto) {
      // Grouped: the alert joins an open incident; PagerDuty sends no incident webhook for that.
      groupInto.alertKeys.push(dedupKey);
      this.options.print?.(`[pagerduty] alert grouped into #${groupInto.number}`);
      for (const listener of this.listeners) listener();
    } else if (!open) {
      const incident = this.open(payload.summary, dedupKey, payload, payload.severity === 'critical' || payload.severity === 'error' ? 'high' : 'low', serviceId);
      this.options.print?.(`[pagerduty] #${incident.number} triggered: ${incident.title}`);
      this.emit(incident, 'incident.triggered', null);
    }
    sendJson(res, 202, { status: 'success', message: 'Event processed', dedup_key: dedupKey });
  }

  private async rest(req: IncomingMessage, url: URL, raw: string, res: ServerResponse) {
    const arrivedAt = performance.now();
    const record = (status: number) => this.restCalls.push({ path: url.pathname + url.search, status, arrivedAt });
    if (req.headers.authorization !== `Token token=${this.options.restToken}`) {
      record(401);
      return sendJson(res, 401, { error: { message: 'Unauthorized', code: 2006 } });
    }
    // What PagerDuty's published description does not allow (an unknown path, method or query
    // parameter, a missing header, a body of the wrong shape) is refused before anything else.
    // (PagerDuty may answer an unknown path 404; a 400 keeps a wrong path from passing for a missing incident.)
    const refusals = await restRefusals({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, raw });
    if (refusals.length) return (record(400), sendJson(res, 400, restInvalid(refusals)));
    // A listing's fault may name the statuses it lists (`rest:/incidents?statuses[]=resolved`): one listing fails, not every one.
    const listing = url.pathname === '/incidents' && url.searchParams.has('statuses[]') ? `rest:/incidents?statuses[]=${url.searchParams.getAll('statuses[]').join(',')}` : undefined;
    if ((listing && (await this.applyFault(listing, res))) || (await this.applyFault(`rest:${url.pathname}`, res)) || (await this.applyFault('rest', res))) return record(res.statusCode);
    if (pagerDutyLimited(this.rateLimits, 'rest', this.options.restToken, res)) return record(429);
    const parts = url.pathname.split('/').filter(Boolean);
    if (req.method === 'GET' && parts[0] === 'incidents' && parts.length === 1) {
      const key = url.searchParams.get('incident_key');
      // Like PagerDuty: the filter matches alert keys as well as the incident's own key, and an
      // empty one is no filter at all.
      const matched = [...this.incidents.values()].filter((i) => !key || i.incidentKey === key || i.alertKeys.includes(key));
      // Incidents a test makes the search list first whatever their alerts (see searchAlsoReturns).
      const decoys = key ? (this.searchAlsoReturns.get(key) ?? []).flatMap((id) => this.incidents.get(id) ?? []) : [];
      const statuses = url.searchParams.getAll('statuses[]');
      // Without `date_range=all` (or since/until), PagerDuty lists the last month's incidents only.
      const monthAgo = Date.now() - 30 * 86_400_000;
      const inRange = (i: StandInIncident) => url.searchParams.get('date_range') === 'all' || url.searchParams.has('since') || Date.parse(i.createdAt) >= monthAgo;
      const order = incidentOrder(url.searchParams.get('sort_by'));
      if (typeof order === 'string') return (record(400), sendJson(res, 400, { error: { message: 'Invalid Input Provided', code: 2001, errors: [order] } }));
      const found = [...new Set([...decoys, ...matched])].filter((i) => (!statuses.length || statuses.includes(i.status)) && inRange(i)).sort(order);
      const limit = Math.min(Number(url.searchParams.get('limit') ?? 25) || 25, 100);
      const offset = Number(url.searchParams.get('offset') ?? 0) || 0;
      // Offset pagination reaches no further than 10,000 records.
      if (offset + limit > 10_000) return (record(400), sendJson(res, 400, { error: { message: 'Invalid Input Provided', code: 2001, errors: ['Offset plus limit must not exceed 10000'] } }));
      record(200);
      return sendJson(res, 200, { incidents: found.slice(offset, offset + limit).map((i) => this.restIncident(i)), limit, offset, more: offset + limit < found.length, total: null });
    }
    const incident = parts[0] === 'incidents' && parts[1] ? this.incidents.get(parts[1]) : undefined;
    if (req.method === 'GET' && parts[0] === 'incidents' && parts.length === 2) {
      if (!incident) return (record(404), sendJson(res, 404, { error: { message: 'Not Found', code: 2100 } }));
      record(200);
      return sendJson(res, 200, { incident: this.restIncident(incident) });
    }
    if (req.method === 'GET' && parts[0] === 'incidents' && parts[2] === 'alerts') {
      if (!incident) return (record(404), sendJson(res, 404, { error: { message: 'Not Found', code: 2100 } }));
      record(200);
      const limit = Math.min(Number(url.searchParams.get('limit') ?? 25) || 25, 100);
      const offset = Number(url.searchParams.get('offset') ?? 0) || 0;
      const alerts = incident.alertKeys.map((key, n) => ({ id: `A${n}${incident.id}`, type: 'alert', alert_key: key, status: incident.status }));
      return sendJson(res, 200, { alerts: alerts.slice(offset, offset + limit), limit, offset, more: offset + limit < alerts.length });
    }
    if (parts[0] === 'incidents' && parts[2] === 'notes' && parts.length === 3 && (req.method === 'POST' || req.method === 'GET')) {
      if (!incident) return (record(404), sendJson(res, 404, { error: { message: 'Not Found', code: 2100 } }));
      const noteOf = (n: (typeof this.notes)[number]) => ({ id: n.id, user: { id: 'PUSERNOTE', type: 'user_reference', summary: n.from }, content: n.content, created_at: n.at });
      if (req.method === 'GET') {
        record(200);
        return sendJson(res, 200, { notes: this.notes.filter((n) => n.incidentId === incident.id).map(noteOf) });
      }
      const from = [req.headers.from ?? ''].flat()[0]!.trim();
      const invalid = (why: string) => (record(400), sendJson(res, 400, { error: { message: 'Invalid Input Provided', code: 2001, errors: [why] } }));
      if (!this.userEmails.has(from.toLowerCase())) return invalid('Requester User Not Found');
      let content: unknown;
      try {
        content = (JSON.parse(raw || '{}') as { note?: { content?: unknown } }).note?.content;
      } catch {
        return invalid('Invalid JSON');
      }
      if (typeof content !== 'string' || !content.trim()) return invalid('Note content is required');
      if (content.length > 25_000) return invalid('Note content is too long (maximum is 25000 characters)');
      const note = { id: `PNOTE${this.notes.length + 1}`, incidentId: incident.id, content, from, at: new Date().toISOString() };
      this.notes.push(note);
      this.options.print?.(`[pagerduty] #${incident.number} note from ${from}: ${content.slice(0, 120)}`);
      // PagerDuty's `incident.annotated`, sent only to subscriptions that ask for it.
      this.send(JSON.stringify(this.noteBody(incident, note)), 'incident.annotated', incident.id);
      record(201);
      return sendJson(res, 201, { note: noteOf(note) });
    }
    if (req.method === 'POST' && url.pathname === '/webhook_subscriptions') {
      const body = JSON.parse(raw || '{}') as { webhook_subscription?: Record<string, unknown> };
      const subscription: Record<string, unknown> = { active: true, ...(body.webhook_subscription ?? {}), id: `PSUB${this.subscriptions.length + 1}` };
      const delivery = { temporarily_disabled: false, ...((subscription.delivery_method as Record<string, unknown>) ?? {}), secret: randomBytes(24).toString('base64') };
      this.subscriptionSecrets.set(subscription.id as string, delivery.secret);
      this.subscriptions.push({ ...subscription, delivery_method: delivery });
      record(201);
      return sendJson(res, 201, { webhook_subscription: { ...subscription, delivery_method: delivery } });
    }
    const subscriptionId = /^\/webhook_subscriptions\/([^/]+)$/.exec(url.pathname)?.[1];
    if (req.method === 'GET' && subscriptionId) {
      const found = this.subscriptions.find((s) => s.id === subscriptionId);
      if (!found) return (record(404), sendJson(res, 404, { error: { message: 'Not Found', code: 2100 } }));
      record(200);
      return sendJson(res, 200, { webhook_subscription: { ...found, delivery_method: { ...(found.delivery_method as Record<string, unknown>), secret: null } } });
    }
    if (req.method === 'GET' && url.pathname === '/webhook_subscriptions') {
      // The query names the filter's kind (`service`, `team`, `account`); a subscription stores its reference type.
      const type = url.searchParams.get('filter_type') && `${url.searchParams.get('filter_type')}_reference`;
      const id = url.searchParams.get('filter_id');
      const found = this.subscriptions.filter((s) => {
        const filter = (s.filter ?? {}) as { type?: string; id?: string };
        return (!type || filter.type === type) && (!id || filter.id === id);
      });
      record(200);
      // Like PagerDuty, a listing never shows a secret again.
      const listed = found.map((s) => ({ ...s, delivery_method: { ...(s.delivery_method as Record<string, unknown>), secret: null } }));
      return sendJson(res, 200, { webhook_subscriptions: listed, limit: 100, offset: 0, more: false, total: null });
    }
    if (req.method === 'GET' && url.pathname === '/services') {
      // With include[]=integrations each integration is a full object, and an Events API v2
      // integration carries its integration_key (the routing key): how a key is traced to its service.
      const full = url.searchParams.getAll('include[]').includes('integrations');
      const limit = Math.min(Number(url.searchParams.get('limit') ?? 25) || 25, 100);
      const offset = Number(url.searchParams.get('offset') ?? 0) || 0;
      const all = this.services().map((service) => {
        const integrationId = `PI${service.id.slice(1)}`;
        const integration = full
          ? { id: integrationId, type: 'events_api_v2_inbound_integration', summary: 'Events API V2', name: 'Events API V2', integration_key: service.routingKey, service: { id: service.id, type: 'service_reference' } }
          : { id: integrationId, type: 'events_api_v2_inbound_integration_reference', summary: 'Events API V2' };
        return { id: service.id, type: 'service', name: service.name, summary: service.name, status: 'active', self: `${this.url}/services/${service.id}`, html_url: `${this.url}/service-directory/${service.id}`, teams: [], integrations: [integration] };
      });
      record(200);
      return sendJson(res, 200, { services: all.slice(offset, offset + limit), limit, offset, more: offset + limit < all.length, total: null });
    }
    record(404);
    sendJson(res, 404, { error: { message: 'Not Found', code: 2100 } });
  }

  private restIncident(i: StandInIncident) {
    return {
      id: i.id,
      type: 'incident',
      incident_number: i.number,
      title: i.title,
      status: i.status,
      urgency: i.urgency,
      html_url: `${this.url}/incidents/${i.id}`,
      incident_key: i.incidentKey,
      created_at: i.createdAt,
      last_status_change_at: i.lastStatusChangeAt,
      resolved_at: i.resolvedAt ?? null,
      resolve_reason: i.mergedInto ? { type: 'merge_resolve_reason', incident: { id: i.mergedInto, type: 'incident_reference' } } : null,
      service: { id: i.serviceId ?? DEFAULT_SERVICE_ID, type: 'service_reference', summary: this.serviceName(i.serviceId ?? DEFAULT_SERVICE_ID) },
      assignments: i.assignees.map((name, n) => ({ at: i.lastStatusChangeAt, assignee: { id: `PUSER${n}`, type: 'user_reference', summary: name, email: `${name.replace(/\W+/g, '.').toLowerCase()}@provider.test` } })),
    };
  }

  /**
   * The sandbox's own controls, as on-call would act in PagerDuty: POST
   * /sandbox/incidents/{ref}/{acknowledge|reassign|delegate|resolve|retitle|merge|status-update} (ref: id, 4 or #4),
   * POST /sandbox/incidents to open an incident by hand, POST /sandbox/webhooks and
   * /sandbox/maintenance with {"on": boolean}, and GET /sandbox/service for those switches.
   */
  private sandboxAction(method: string, pathname: string, raw: string, res: ServerResponse) {
    const parts = pathname.split('/').filter(Boolean);
    if (method === 'GET' && pathname === '/sandbox/incidents') return sendJson(res, 200, { incidents: [...this.incidents.values()] });
    if (method === 'GET' && pathname === '/sandbox/service') return sendJson(res, 200, this.serviceState());
    let body: { by?: string; to?: string; title?: string; into?: string; message?: string; on?: unknown };
    try {
      body = raw ? (JSON.parse(raw) as typeof body) : {};
    } catch {
      return sendJson(res, 400, { error: 'the body is not JSON' });
    }
    try {
      if (method === 'POST' && pathname === '/sandbox/incidents') {
        if (!body.title?.trim()) return sendJson(res, 400, { error: 'a title is needed' });
        return sendJson(res, 201, { incident: this.openInternal(body.title.trim(), body.by) });
      }
      // The service's switches: webhook delivery, and a maintenance window.
      if (method === 'POST' && (pathname === '/sandbox/webhooks' || pathname === '/sandbox/maintenance')) {
        if (typeof body.on !== 'boolean') return sendJson(res, 400, { error: 'say {"on": true} or {"on": false}' });
        if (pathname === '/sandbox/webhooks') this.setWebhooks(body.on);
        else this.setMaintenance(body.on);
        return sendJson(res, 200, this.serviceState());
      }
      const [, , reference, action] = parts.length === 4 ? parts : [];
      if (method !== 'POST' || !reference || !action) return sendJson(res, 404, { error: 'unknown sandbox action' });
      const incident = this.find(decodeURIComponent(reference));
      if (!incident) return sendJson(res, 404, { error: `no sandbox incident ${decodeURIComponent(reference)}` });
      const id = incident.id;
      if (action === 'acknowledge') return sendJson(res, 200, { incident: this.acknowledge(id, body.by) });
      if (action === 'resolve') return sendJson(res, 200, { incident: this.resolve(id, body.by) });
      if (action === 'reassign') return sendJson(res, 200, { incident: this.reassign(id, body.to ?? 'Second On-Call', body.by) });
      if (action === 'delegate') return sendJson(res, 200, { incident: this.delegate(id, body.by) });
      if (action === 'retitle') {
        if (!body.title?.trim()) return sendJson(res, 400, { error: 'a title is needed' });
        return sendJson(res, 200, { incident: this.retitle(id, body.title.trim()) });
      }
      if (action === 'status-update') {
        if (!body.message?.trim()) return sendJson(res, 400, { error: 'a status update needs a message' });
        return sendJson(res, 200, { incident: this.publishStatusUpdate(id, body.message.trim(), body.by) });
      }
      if (action === 'merge') {
        const into = body.into ? this.find(body.into) : undefined;
        if (!into) return sendJson(res, 404, { error: `no sandbox incident ${body.into ?? '(none given)'} to merge into` });
        return sendJson(res, 200, { incident: this.merge(id, into.id, body.by) });
      }
      return sendJson(res, 404, { error: `unknown sandbox action ${action}` });
    } catch (error) {
      if (error instanceof StandInRefusal) return sendJson(res, 400, { error: error.message });
      throw error;
    }
  }
}

const SORTABLE: Record<string, (i: StandInIncident) => string | number> = {
  incident_number: (i) => i.number,
  created_at: (i) => i.createdAt,
  // Unresolved incidents have no resolved_at: they sort before any resolved one, as an empty value.
  resolved_at: (i) => i.resolvedAt ?? '',
  urgency: (i) => (i.urgency === 'high' ? 1 : 0),
};

/**
 * The listing's order for `sort_by` (`field[:asc|desc]`, at most two, comma-separated; ascending
 * by default), or PagerDuty's refusal of it. Without one, the order the incidents were opened in.
 */
function incidentOrder(sortBy: string | null): ((a: StandInIncident, b: StandInIncident) => number) | string {
  const keys = (sortBy ?? '').split(',').filter(Boolean).map((part) => {
    const [field = '', direction = 'asc'] = part.split(':');
    return { value: SORTABLE[field], sign: direction === 'desc' ? -1 : direction === 'asc' ? 1 : 0, part };
  });
  const wrong = keys.find((k) => !k.value || !k.sign);
  if (wrong) return `sort_by: ${wrong.part} is not a field and direction PagerDuty sorts incidents by`;
  if (keys.length > 2) return 'sort_by: at most two fields';
  return (a, b) => {
    for (const { value, sign } of keys) {
      const [x, y] = [value!(a), value!(b)];
      if (x !== y) return (x < y ? -1 : 1) * sign;
    }
    return a.number - b.number;
  };
}
