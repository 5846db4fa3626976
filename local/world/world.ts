import { randomBytes } from 'node:crypto';
import { dedupKeyFor, isDedupKey } from '../../lib/dedup-key';
import { signedWebhook, type Agent } from '../events/pagerduty';
import { post, type SignedRequest } from '../events/request';
import { checkStatusPayload, mentionEnvelope, signedClick, signedSlackForm, signedSlackJson, slashCommandForm } from '../events/slack';
import type { LocalStack } from '../stack';
import type { StandInIncident } from '../stand-ins/pagerduty';
import { STAND_IN_BOT_USER_ID } from '../stand-ins/slack';
import { ensureCustomer } from './customers';

/**
 * A world of customers and on-call played against a local stack, for the robustness tests and the
 * soak run: it sends what Slack and PagerDuty would send (with their retries) and remembers which
 * channel owns which escalation, so that `audit.ts` can check the end state against what the
 * stand-ins recorded.
 */

export const TEAM = 'T0PROVIDER';
export const SLASH_COMMAND = '/piiano-pd-trigger';

/** One escalation as the customer made it; `marker` is a unique word inside its description. */
export interface SentEscalation {
  dedupKey: string;
  channel: string;
  via: 'mention' | 'command';
  /** event_id (mention) or trigger_id (slash command). */
  id: string;
  /** The mention's ts: the thread every message about it goes to (absent for slash commands). */
  ts?: string;
  marker: string;
  description: string;
}

/** A Check Status click; each gets its own user id, so its answer can be told apart. */
export interface SentClick {
  channel: string;
  user: string;
  value: string;
  /** The channel that owns `value`, when it is one of ours. */
  owner?: string;
}

export interface HttpAnswer {
  status: number;
  body: string;
}

/** A word that appears nowhere else: found in a Slack call, it names the escalation it came from. */
export const newMarker = () => `mk${randomBytes(8).readBigUInt64BE().toString(36).padStart(10, '0').slice(-10)}`;
export const MARKER_PATTERN = /mk[a-z0-9]{10}/g;
/**
 * PagerDuty's numbers are account-wide and the test stacks start them here, far above any
 * channel's own references (1, 2, 3…): a `#1001` in a customer channel can only be a leak.
 */
export const FIRST_INCIDENT_NUMBER = 1001;

export class World {
  readonly escalations = new Map<string, SentEscalation>();
  readonly clicks: SentClick[] = [];
  /** Every answer the router gave, with what was sent: the secrets test scans these. */
  readonly answers: { route: string; status: number; body: string }[] = [];
  /** Webhooks sent by hand (not by the stand-in), by event id. */
  readonly handWebhooks = new Map<string, { incidentId: string; status: number; eventType: string }>();
  /**
   * Status updates on-call published, by their marker: the incident, and the one channel that may
   * read the text (the incident is its escalation's own and held no other alert when published),
   * if any. On a shared incident no channel may.
   */
  readonly statusUpdates = new Map<string, { eventId: string; incidentId: string; readableBy?: string; alerts: string[] }>();
  private readonly statusUpdateMarkers = new Map<string, string>();
  slackRequests = 0;
  webhookRequests = 0;

  /** How to send each escalation again, as Slack retries it. */
  private readonly requests = new Map<string, () => SignedRequest>();

  /** The router this world talks to (replaced when a test restarts it). */
  constructor(public stack: LocalStack) {}

  private get secret() {
    return this.stack.secrets.SLACK_SIGNING_SECRET;
  }

  private async sendSlack(request: () => SignedRequest, deliveries: number): Promise<HttpAnswer[]> {
    const answers: HttpAnswer[] = [];
    // Slack signs each delivery anew; a retry carries its number and reason.
    for (let n = 0; n < deliveries; n++) {
      const headers: Record<string, string> = n === 0 ? {} : { 'x-slack-retry-num': String(n), 'x-slack-retry-reason': 'http_timeout' };
      const answer = await post(`${this.stack.url}/slack/events`, request(), headers);
      this.slackRequests++;
      this.answers.push({ route: 'slack', ...answer });
      answers.push(answer);
    }
    return answers;
  }

  /** A customer escalates in `channel` (mention or slash command), delivered `deliveries` times. */
  async escalate(channel: string, options: { via?: 'mention' | 'command'; deliveries?: number; description?: string } = {}): Promise<SentEscalation & { answers: HttpAnswer[] }> {
    const via = options.via ?? 'mention';
    await ensureCustomer(this.stack, channel);
    const marker = newMarker();
    // Emoji and U+FFFF: text every queue and store on the way must carry unchanged.
    const description = `${options.description ?? 'the API answers 500 🔥\uFFFF'} ${marker}`;
    const deliveries = options.deliveries ?? 1;
    if (via === 'mention') {
      const customer = this.stack.slack!.recordCustomerMessage(channel, 'UCUSTOMER1', `<@${STAND_IN_BOT_USER_ID}> escalate ${description}`);
      const envelope = mentionEnvelope({ channel, text: `escalate ${description}`, ts: customer.ts, team: TEAM });
      const escalation: SentEscalation = { dedupKey: dedupKeyFor({ team: TEAM, channel, ts: customer.ts, id: envelope.event_id, via }), channel, via, id: envelope.event_id, ts: customer.ts, marker, description };
      return this.sendEscalation(escalation, () => signedSlackJson(this.secret, envelope), deliveries);
    }
    const triggerId = `trig-${randomBytes(8).toString('hex')}`;
    const form = slashCommandForm({ team: TEAM, channel, command: SLASH_COMMAND, text: `escalate ${description}`, triggerId });
    const escalation: SentEscalation = { dedupKey: dedupKeyFor({ team: TEAM, channel, id: triggerId, via }), channel, via, id: triggerId, marker, description };
    return this.sendEscalation(escalation, () => signedSlackForm(this.secret, form), deliveries);
  }

  /** Remember an escalation (and how to send it again, for {@link redeliver}), then send it. */
  private async sendEscalation(escalation: SentEscalation, request: () => SignedRequest, deliveries: number): Promise<SentEscalation & { answers: HttpAnswer[] }> {
    this.escalations.set(escalation.dedupKey, escalation);
    this.requests.set(escalation.dedupKey, request);
    return { ...escalation, answers: await this.sendSlack(request, deliveries) };
  }

  /** Slack delivers an earlier escalation once more (a retry, with its number). */
  async redeliver(escalation: SentEscalation, retryNum = 1): Promise<HttpAnswer> {
    const answer = await post(`${this.stack.url}/slack/events`, this.requests.get(escalation.dedupKey)!(), { 'x-slack-retry-num': String(retryNum), 'x-slack-retry-reason': 'http_timeout' });
    this.slackRequests++;
    this.answers.push({ route: 'slack', ...answer });
    return answer;
  }

  /** A Check Status click in `channel` carrying `value` (its own button's, another channel's, or forged). */
  async click(channel: string, value: string, deliveries = 1): Promise<SentClick> {
    const user = `UCLICK${randomBytes(5).toString('hex').toUpperCase()}`;
    const owner = this.escalations.get(value)?.channel;
    const click: SentClick = { channel, user, value, ...(owner ? { owner } : {}) };
    this.clicks.push(click);
    const payload = checkStatusPayload({ channel, value, user, team: TEAM });
    await this.sendSlack(() => signedClick(this.secret, payload), deliveries);
    return click;
  }

  /** PagerDuty's webhook for an incident event, sent by hand (order, time and duplicates chosen by the caller). */
  async webhook(incident: StandInIncident, eventType: string, occurredAt: string, eventId: string, options: { webhookId?: string; by?: Agent; withoutIncidentKey?: boolean } = {}): Promise<HttpAnswer> {
    const payload = this.stack.pagerDuty!.webhookBody(incident, eventType, options.by === undefined ? 'Dana Scully' : options.by, occurredAt, eventId);
    if (options.withoutIncidentKey) (payload.event.data as { incident_key: string | null }).incident_key = null;
    const answer = await post(`${this.stack.url}/pagerduty/webhooks`, signedWebhook(this.stack.secrets.PAGER_DUTY_SIGNING_KEY, payload, options.webhookId ?? `wh-${eventId}`));
    this.webhookRequests++;
    this.answers.push({ route: 'pagerduty', ...answer });
    if (answer.status >= 200 && answer.status < 300) this.handWebhooks.set(eventId, { incidentId: incident.id, status: answer.status, eventType });
    return answer;
  }

  /**
   * On-call publishes a status update on `incident` (PagerDuty's `incident.status_update_published`),
   * sent by hand like {@link webhook}; its copies (same event id) carry the same text. The text names
   * the customer whose incident it is (its words' marker), as on-call writing to "Acme" would.
   */
  async statusUpdate(incident: StandInIncident, occurredAt: string, eventId: string, options: { webhookId?: string; by?: Agent } = {}): Promise<HttpAnswer> {
    let marker = this.statusUpdateMarkers.get(eventId);
    if (!marker) {
      marker = `su${newMarker().slice(2)}`;
      this.statusUpdateMarkers.set(eventId, marker);
      const own = this.escalations.get(incident.incidentKey);
      // Alerts of the provider's own (an internal incident merged into it) are no customer's.
      const alone = !incident.mergedInto && incident.alertKeys.includes(incident.incidentKey) && incident.alertKeys.every((key) => key === incident.incidentKey || !isDedupKey(key));
      const alerts = incident.alertKeys.map((key) => this.escalations.get(key)?.channel ?? 'another alert');
      this.statusUpdates.set(marker, { eventId, incidentId: incident.id, alerts, ...(own && alone ? { readableBy: own.channel } : {}) });
    }
    const named = this.escalations.get(incident.incidentKey)?.marker ?? 'everyone';
    const payload = this.stack.pagerDuty!.statusUpdateBody(incident, `Update ${marker}: ${named} - we stopped the export, next update in 30 min`, options.by === undefined ? 'Dana Scully' : options.by, occurredAt, eventId);
    const answer = await post(`${this.stack.url}/pagerduty/webhooks`, signedWebhook(this.stack.secrets.PAGER_DUTY_SIGNING_KEY, payload, options.webhookId ?? `wh-${eventId}`));
    this.webhookRequests++;
    this.answers.push({ route: 'pagerduty', ...answer });
    if (answer.status >= 200 && answer.status < 300) this.handWebhooks.set(eventId, { incidentId: incident.id, status: answer.status, eventType: 'incident.status_update_published' });
    return answer;
  }

  private readonly incidentIndex = new Map<string, StandInIncident>();
  private indexed = 0;

  /** The stand-in's (first) incident for an escalation; indexed, so thousands of lookups stay cheap. */
  incidentOf(escalation: SentEscalation | string): StandInIncident | undefined {
    const incidents = this.stack.pagerDuty!.incidents;
    if (incidents.size !== this.indexed) {
      let n = 0;
      for (const incident of incidents.values()) {
        if (n++ < this.indexed) continue;
        for (const key of incident.alertKeys) if (!this.incidentIndex.has(key)) this.incidentIndex.set(key, incident);
      }
      this.indexed = incidents.size;
    }
    const key = typeof escalation === 'string' ? escalation : escalation.dedupKey;
    // A grouped alert joins an incident already indexed: look it up the slow way.
    return this.incidentIndex.get(key) ?? this.stack.pagerDuty!.byKey(key);
  }

  /** Wait until every escalation sent so far has its incident (or `timeoutMs` passes). */
  async waitForIncidents(keys: readonly string[] = [...this.escalations.keys()], timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (keys.some((key) => !this.incidentOf(key))) {
      if (Date.now() > deadline) throw new Error('escalations did not reach PagerDuty in time');
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
  }
}
