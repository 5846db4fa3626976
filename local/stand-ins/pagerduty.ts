import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { signPagerDutyWebhook } from '../../lib/pagerduty/signature';
import { FaultPlan, listen, readBody, sendJson, sleep, type RunningServer } from './http-util';
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
  /** The trigger's payload as it arrived, for assertions about what PagerDuty was told. */
  payload: Record<string, unknown>;
}

export interface PagerDutyStandInOptions {
  routingKey: string;
  restToken: string;
  port?: number;
  latencyMs?: number;
  /** Where incident changes are delivered as signed v3 webhooks; none when absent. */
  webhook?: { url: string; signingKey: string };
  /** Deliver every webhook twice (PagerDuty's at-least-once). */
  duplicateWebhooks?: boolean;
  /** Leave incident_key out of webhooks, as for incidents with several alerts. */
  omitIncidentKey?: boolean;
  onCall?: string;
  print?: (line: string) => void;
  /** Enforce PagerDuty's rate limits (`./rate-limits.ts`): off by default. */
  rateLimits?: RateLimitSetting;
}

export interface WebhookDelivery {
  webhookId: string;
  eventId: string;
  eventType: string;
  incidentId: string;
  status: number;
}

/**
 * A local stand-in for PagerDuty: the Events API creates an incident per new dedup_key (a
 * trigger for an open one merges into it), the REST API answers for those incidents, and every
 * change is sent as a signed v3 webhook. It can be told to fail.
 */
export class PagerDutyStandIn {
  readonly incidents = new Map<string, StandInIncident>();
  /** Every accepted Events API call, merged or not. */
  readonly triggers: { dedupKey: string; payload: Record<string, unknown> }[] = [];
  readonly eventsCalls: { status: number; body: unknown }[] = [];
  readonly restCalls: { path: string; status: number }[] = [];
  readonly deliveries: WebhookDelivery[] = [];
  readonly subscriptions: Record<string, unknown>[] = [];
  readonly faults = new FaultPlan();
  /** PagerDuty's rate limits, when enforced; its counts say how many calls got a 429. */
  readonly rateLimits: RateLimiter | undefined;
  latencyMs: number;
  private server?: RunningServer;
  private nextNumber = 1;
  private pendingDeliveries = new Set<Promise<void>>();
  private readonly listeners = new Set<() => void>();

  constructor(private readonly options: PagerDutyStandInOptions) {
    this.latencyMs = options.latencyMs ?? 0;
    this.rateLimits = rateLimiterFor(options.rateLimits);
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

  byKey(dedupKey: string): StandInIncident | undefined {
    return [...this.incidents.values()].find((i) => i.alertKeys.includes(dedupKey));
  }

  acknowledge(id: string, by = 'Sandbox On-Call'): StandInIncident {
    return this.change(id, 'incident.acknowledged', by, (i) => (i.status = 'acknowledged'));
  }

  reassign(id: string, to: string, by = 'Sandbox On-Call'): StandInIncident {
    return this.change(id, 'incident.reassigned', by, (i) => {
      i.assignees = [to];
      i.status = 'triggered';
    });
  }

  resolve(id: string, by = 'Sandbox On-Call'): StandInIncident {
    return this.change(id, 'incident.resolved', by, (i) => (i.status = 'resolved'));
  }

  /** A v3 webhook body for an incident, as PagerDuty would send it. */
  webhookBody(incident: StandInIncident, eventType: string, by: string | null, occurredAt = new Date().toISOString(), eventId = `E${randomBytes(8).toString('hex').toUpperCase()}`) {
    return {
      event: {
        id: eventId,
        event_type: eventType,
        resource_type: 'incident',
        occurred_at: occurredAt,
        agent: by ? { id: 'PUSER01', type: 'user_reference', summary: by, html_url: `${this.url}/users/PUSER01` } : null,
        client: null,
        data: {
          id: incident.id,
          type: 'incident',
          self: `${this.url}/incidents/${incident.id}`,
          html_url: `${this.url}/incidents/${incident.id}`,
          number: incident.number,
          status: incident.status,
          incident_key: this.options.omitIncidentKey ? null : incident.incidentKey,
          created_at: incident.createdAt,
          title: incident.title,
          service: { id: 'PSERVICE', type: 'service_reference', summary: 'Customer Escalations' },
          assignees: incident.assignees.map((name, i) => ({ id: `PUSER${i}`, type: 'user_reference', summary: name })),
          escalation_policy: { id: 'PPOLICY', type: 'escalation_policy_reference', summary: 'Default' },
          teams: [],
          priority: null,
          urgency: incident.urgency,
          conference_bridge: null,
          resolve_reason: null,
        },
      },
    };
  }

  private change(id: string, eventType: string, by: string, apply: (incident: StandInIncident) => void): StandInIncident {
    const incident = this.incidents.get(id);
    if (!incident) throw new Error(`no sandbox incident ${id}`);
    apply(incident);
    incident.lastStatusChangeAt = new Date().toISOString();
    this.options.print?.(`[pagerduty] #${incident.number} ${eventType.replace('incident.', '')} by ${by}`);
    this.emit(incident, eventType, by);
    return incident;
  }

  private emit(incident: StandInIncident, eventType: string, by: string | null) {
    for (const listener of this.listeners) listener();
    const target = this.options.webhook;
    if (!target) return;
    const body = JSON.stringify(this.webhookBody(incident, eventType, by));
    const copies = this.options.duplicateWebhooks ? 2 : 1;
    const webhookId = randomBytes(12).toString('hex');
    for (let i = 0; i < copies; i++) {
      const delivery = this.deliver(target, body, webhookId, eventType, incident.id);
      this.pendingDeliveries.add(delivery);
      void delivery.finally(() => this.pendingDeliveries.delete(delivery));
    }
  }

  /** Deliver like PagerDuty: retry timeouts, 429 and 5xx a few times; give up on other 4xx. */
  private async deliver(target: { url: string; signingKey: string }, body: string, webhookId: string, eventType: string, incidentId: string) {
    const eventId = (JSON.parse(body) as { event: { id: string } }).event.id;
    for (let attempt = 0; attempt < 5; attempt++) {
      let status = 0;
      try {
        const response = await fetch(target.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-webhook-id': webhookId, 'user-agent': 'PagerDuty-Webhook/V3.0', ...signPagerDutyWebhook(body, target.signingKey) },
          body,
          signal: AbortSignal.timeout(5000),
        });
        status = response.status;
        await response.arrayBuffer();
      } catch {
        status = 0;
      }
      this.deliveries.push({ webhookId, eventId, eventType, incidentId, status });
      if (status >= 200 && status < 300) return;
      if (status >= 400 && status < 500 && status !== 429) return;
      await sleep(100 * 2 ** attempt);
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const raw = (await readBody(req)).toString('utf8');
    if (this.latencyMs) await sleep(this.latencyMs);
    if (req.method === 'POST' && url.pathname === '/v2/enqueue') return this.enqueue(raw, res);
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

  private async enqueue(raw: string, res: ServerResponse) {
    if (await this.applyFault('events', res)) return void this.eventsCalls.push({ status: res.statusCode, body: raw });
    if (pagerDutyLimited(this.rateLimits, 'events', raw, res)) return void this.eventsCalls.push({ status: 429, body: raw });
    const reject = (message: string) => {
      this.eventsCalls.push({ status: 400, body: raw });
      sendJson(res, 400, { status: 'invalid event', message: 'Event object is invalid', errors: [message] });
    };
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return reject('Invalid JSON');
    }
    if (body.routing_key !== this.options.routingKey) return reject('Invalid routing key');
    const payload = body.payload as Record<string, unknown> | undefined;
    if (body.event_action !== 'trigger') return reject("'event_action' must be trigger");
    if (!payload || typeof payload.summary !== 'string' || !payload.summary || payload.summary.length > 1024) return reject("'payload.summary' is missing or too long");
    if (typeof payload.source !== 'string' || !payload.source) return reject("'payload.source' is missing");
    if (!['critical', 'error', 'warning', 'info'].includes(String(payload.severity))) return reject("'payload.severity' is invalid");
    if (payload.custom_details !== undefined && (typeof payload.custom_details !== 'object' || payload.custom_details === null)) {
      return reject("'payload.custom_details' must be an object");
    }
    const dedupKey = typeof body.dedup_key === 'string' && body.dedup_key ? body.dedup_key : randomBytes(16).toString('hex');
    this.triggers.push({ dedupKey, payload });
    this.eventsCalls.push({ status: 202, body });
    const open = [...this.incidents.values()].find((i) => i.alertKeys.includes(dedupKey) && i.status !== 'resolved');
    if (!open) {
      const now = new Date().toISOString();
      const incident: StandInIncident = {
        id: `Q${randomBytes(6).toString('hex').toUpperCase()}`,
        number: this.nextNumber++,
        title: payload.summary,
        status: 'triggered',
        urgency: payload.severity === 'critical' || payload.severity === 'error' ? 'high' : 'low',
        incidentKey: dedupKey,
        assignees: [this.options.onCall ?? 'Sandbox On-Call'],
        createdAt: now,
        lastStatusChangeAt: now,
        alertKeys: [dedupKey],
        payload,
      };
      this.incidents.set(incident.id, incident);
      this.options.print?.(`[pagerduty] #${incident.number} triggered: ${incident.title}`);
      this.emit(incident, 'incident.triggered', null);
    }
    sendJson(res, 202, { status: 'success', message: 'Event processed', dedup_key: dedupKey });
  }

  private async rest(req: IncomingMessage, url: URL, raw: string, res: ServerResponse) {
    const record = (status: number) => this.restCalls.push({ path: url.pathname + url.search, status });
    if (req.headers.authorization !== `Token token=${this.options.restToken}`) {
      record(401);
      return sendJson(res, 401, { error: { message: 'Unauthorized', code: 2006 } });
    }
    if (await this.applyFault('rest', res)) return record(res.statusCode);
    if (pagerDutyLimited(this.rateLimits, 'rest', this.options.restToken, res)) return record(429);
    const parts = url.pathname.split('/').filter(Boolean);
    if (req.method === 'GET' && parts[0] === 'incidents' && parts.length === 1) {
      const key = url.searchParams.get('incident_key');
      const found = [...this.incidents.values()].filter((i) => !key || i.incidentKey === key);
      record(200);
      return sendJson(res, 200, { incidents: found.map((i) => this.restIncident(i)), limit: 25, offset: 0, more: false });
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
      return sendJson(res, 200, { alerts: incident.alertKeys.map((key, n) => ({ id: `A${n}${incident.id}`, type: 'alert', alert_key: key, status: incident.status })) });
    }
    if (req.method === 'POST' && url.pathname === '/webhook_subscriptions') {
      const body = JSON.parse(raw || '{}') as { webhook_subscription?: Record<string, unknown> };
      const subscription: Record<string, unknown> = { ...(body.webhook_subscription ?? {}), id: `PSUB${this.subscriptions.length + 1}` };
      const delivery = { ...((subscription.delivery_method as Record<string, unknown>) ?? {}), secret: randomBytes(24).toString('base64') };
      this.subscriptions.push({ ...subscription, delivery_method: delivery });
      record(201);
      return sendJson(res, 201, { webhook_subscription: { ...subscription, delivery_method: delivery } });
    }
    if (req.method === 'GET' && url.pathname === '/webhook_subscriptions') {
      const type = url.searchParams.get('filter_type');
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
      assignments: i.assignees.map((name, n) => ({ at: i.lastStatusChangeAt, assignee: { id: `PUSER${n}`, type: 'user_reference', summary: name, email: `${name.replace(/\W+/g, '.').toLowerCase()}@provider.test` } })),
    };
  }

  /** The sandbox's own controls: POST /sandbox/incidents/{id}/{acknowledge|reassign|resolve}. */
  private sandboxAction(method: string, pathname: string, raw: string, res: ServerResponse) {
    const [, , id, action] = pathname.split('/').filter(Boolean).length === 4 ? pathname.split('/').filter(Boolean) : [];
    if (method === 'GET' && pathname === '/sandbox/incidents') return sendJson(res, 200, { incidents: [...this.incidents.values()] });
    if (method !== 'POST' || !id || !action) return sendJson(res, 404, { error: 'unknown sandbox action' });
    const body = raw ? (JSON.parse(raw) as { by?: string; to?: string }) : {};
    if (!this.incidents.has(id)) return sendJson(res, 404, { error: `no sandbox incident ${id}` });
    if (action === 'acknowledge') return sendJson(res, 200, { incident: this.acknowledge(id, body.by) });
    if (action === 'resolve') return sendJson(res, 200, { incident: this.resolve(id, body.by) });
    if (action === 'reassign') return sendJson(res, 200, { incident: this.reassign(id, body.to ?? 'Second On-Call', body.by) });
    return sendJson(res, 404, { error: `unknown sandbox action ${action}` });
  }
}
