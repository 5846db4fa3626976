import { randomBytes } from 'node:crypto';
import { dedupKeyFor, isDedupKey } from '../../../lib/dedup-key';
import { refusalMessage } from '../../../lib/slack/messages';
import type { LocalStack } from '../../../local/stack';
import { ensureCustomer } from '../../helpers/customers';
import type { StandInIncident } from '../../../local/stand-ins/pagerduty';
import { STAND_IN_BOT_USER_ID, type RecordedMessage } from '../../../local/stand-ins/slack';
import { signedWebhook, type Agent } from '../../../local/events/pagerduty';
import { post, type SignedRequest } from '../../../local/events/request';
import { checkStatusPayload, mentionEnvelope, signedClick, signedSlackForm, signedSlackJson, slashCommandForm } from '../../../local/events/slack';

/**
 * A driver and an auditor for the robustness tests and the soak run: it sends what Slack and
 * PagerDuty would send (with their retries), remembers which channel owns which escalation, and
 * afterwards checks the end state against what the stand-ins recorded: nothing doubled, nothing
 * lost, nothing about one channel's incident in another channel.
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
/** A word in each status update on-call publishes: found in a Slack call, it names the update. */
const STATUS_UPDATE_PATTERN = /su[a-z0-9]{10}/g;
const DEDUP_KEY_PATTERN = /pdr-[0-9a-f]{32}/g;
/** The stand-in's incident ids (`Q` + 12 hex digits) also appear inside its incident URLs. */
const INCIDENT_ID_PATTERN = /Q[0-9A-F]{12}/g;
/** `#12` or `(#12)`, never a prefix of a longer number. */
const INCIDENT_NUMBER_PATTERN = /#(\d+)(?!\d)/g;
/**
 * PagerDuty's numbers are account-wide and the test stacks start them here, far above any
 * channel's own references (1, 2, 3…): a `#1001` in a customer channel can only be a leak.
 */
export const FIRST_INCIDENT_NUMBER = 1001;
/** PagerDuty event types that tell a customer nothing (a priority is the provider's business). */
const NOT_POSTED = new Set(['incident.priority_updated']);

/** Run `work` over `items` with at most `limit` in flight. */
export async function pool<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  });
  await Promise.all(runners);
  return results;
}

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
      this.escalations.set(escalation.dedupKey, escalation);
      this.requests.set(escalation.dedupKey, () => signedSlackJson(this.secret, envelope));
      const answers = await this.sendSlack(() => signedSlackJson(this.secret, envelope), deliveries);
      return { ...escalation, answers };
    }
    const triggerId = `trig-${randomBytes(8).toString('hex')}`;
    const form = slashCommandForm({ team: TEAM, channel, command: SLASH_COMMAND, text: `escalate ${description}`, triggerId });
    const escalation: SentEscalation = { dedupKey: dedupKeyFor({ team: TEAM, channel, id: triggerId, via }), channel, via, id: triggerId, marker, description };
    this.escalations.set(escalation.dedupKey, escalation);
    this.requests.set(escalation.dedupKey, () => signedSlackForm(this.secret, form));
    const answers = await this.sendSlack(() => signedSlackForm(this.secret, form), deliveries);
    return { ...escalation, answers };
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

export interface DlqEntry {
  body: string;
  reason?: string;
}

export interface AuditOptions {
  /** Messages already taken out of the DLQs (stack.dlq consumes them). */
  dlq?: { slack: DlqEntry[]; pagerduty: DlqEntry[] };
  /** Only Slack calls from this index on are checked for misroutes (a shared stack's earlier runs are skipped). */
  fromCall?: number;
  /** Only these escalations are checked for completeness (default: all the world knows). */
  escalations?: readonly SentEscalation[];
  /** Words of the provider's that no customer may ever read (internal service and integration names). */
  forbidden?: readonly string[];
}

export interface AuditReport {
  escalations: number;
  incidentsTriggered: number;
  pagerDutyEventsAccepted: number;
  messagesPerChannel: Map<string, number>;
  duplicates: string[];
  misroutes: string[];
  lost: string[];
  /** A refusal (or any answer to a click from a foreign channel) that carries data. */
  refusalLeaks: string[];
  /** Escalations that failed for good: the channel was told and the event is in the DLQ. */
  failedAndTold: string[];
  dlq: { slack: DlqEntry[]; pagerduty: DlqEntry[] };
}

const effectKeyOf = (m: RecordedMessage) => (typeof m.metadata?.event_payload?.key === 'string' ? m.metadata.event_payload.key : undefined);

/** Take `token`s out of a Slack call's arguments: the bot token is the credential, not content. */
function callContent(args: Record<string, unknown>): string {
  const { token: _token, ...rest } = args;
  return JSON.stringify(rest);
}

/**
 * Check the end state (call after stack.waitForIdle()).
 *
 * - duplicates: an effect key posted twice, a dedup_key with two incidents, a click answered twice;
 * - misroutes: a Slack call to channel X carrying a dedup_key or description marker of an
 *   escalation owned by another channel, or any of PagerDuty's internals: an incident id, URL,
 *   title or account-wide number, whoever's incident it is; or the text of a status update that
 *   was not published on X's own incident holding X's escalation alone (another customer's, or
 *   any on a shared incident);
 * - lost: an escalation with neither (incident + confirmation) nor (DLQ + failure told in its
 *   thread); a PagerDuty event accepted by the router for a linked incident with neither a post
 *   in its thread nor a DLQ entry; a click with no answer.
 */
export async function audit(world: World, options: AuditOptions = {}): Promise<AuditReport> {
  const { stack } = world;
  const slack = stack.slack!;
  const pagerDuty = stack.pagerDuty!;
  const dlq = options.dlq ?? { slack: await stack.dlq('slack'), pagerduty: await stack.dlq('pagerduty') };
  const escalations = options.escalations ?? [...world.escalations.values()];
  const channels = new Set([...escalations.map((e) => e.channel), ...world.clicks.map((c) => c.channel)]);
  const duplicates: string[] = [];
  const misroutes: string[] = [];
  const lost: string[] = [];
  const refusalLeaks: string[] = [];
  const failedAndTold: string[] = [];

  // Owners of every identifying token.
  const ownerByKey = new Map<string, string>();
  const ownerByMarker = new Map<string, string>();
  for (const e of world.escalations.values()) {
    ownerByKey.set(e.dedupKey, e.channel);
    ownerByMarker.set(e.marker, e.channel);
  }
  const incidentsByKey = new Map<string, StandInIncident[]>();
  const incidentNumbers = new Set<number>();
  const internalTitles = new Set<string>();
  for (const incident of pagerDuty.incidents.values()) {
    // Incidents are found by the key they were opened with: a merge moves alerts, it opens nothing.
    incidentsByKey.set(incident.incidentKey, [...(incidentsByKey.get(incident.incidentKey) ?? []), incident]);
    incidentNumbers.add(incident.number);
    // A title is PagerDuty's once it carries no customer's words (on-call retitled it, or opened it by hand).
    if (!incident.title.match(MARKER_PATTERN)) internalTitles.add(incident.title);
  }

  // Misroutes: every Slack call is checked against the owner of everything it carries, and for PagerDuty's internals.
  const calls = slack.calls.slice(options.fromCall ?? 0);
  for (const call of calls) {
    if (!call.channel) continue;
    const content = callContent(call.args);
    const foreign = (kind: string, token: string, owner: string | undefined) => {
      if (owner && owner !== call.channel) misroutes.push(`${call.method} to ${call.channel} carries ${kind} ${token} of ${owner}`);
    };
    for (const m of content.matchAll(DEDUP_KEY_PATTERN)) foreign('dedup_key', m[0], ownerByKey.get(m[0]));
    for (const m of content.matchAll(MARKER_PATTERN)) foreign('words', m[0], ownerByMarker.get(m[0]));
    // A status update's text: only in the channel whose own incident, holding nothing else, it was published on.
    for (const m of content.matchAll(STATUS_UPDATE_PATTERN)) {
      const update = world.statusUpdates.get(m[0]);
      if (update && update.readableBy !== call.channel) misroutes.push(`${call.method} to ${call.channel} carries the text of status update ${m[0]}, ${update.readableBy ? `which only ${update.readableBy} may read` : `published on a shared incident (alerts of ${update.alerts.join(', ')})`}`);
    }
    if (!call.method.startsWith('chat.')) continue;
    for (const m of content.matchAll(INCIDENT_ID_PATTERN)) misroutes.push(`${call.method} to ${call.channel} carries PagerDuty's incident id ${m[0]}`);
    if (content.includes(pagerDuty.url)) misroutes.push(`${call.method} to ${call.channel} carries a PagerDuty URL`);
    for (const m of content.matchAll(INCIDENT_NUMBER_PATTERN)) {
      const n = Number(m[1]);
      if (n >= FIRST_INCIDENT_NUMBER && incidentNumbers.has(n)) misroutes.push(`${call.method} to ${call.channel} carries PagerDuty's incident number ${m[0]}`);
    }
    for (const word of options.forbidden ?? []) if (content.includes(word)) misroutes.push(`${call.method} to ${call.channel} carries the provider's "${word}"`);
    for (const title of internalTitles) if (title.length >= 8 && content.includes(JSON.stringify(title).slice(1, -1))) misroutes.push(`${call.method} to ${call.channel} carries PagerDuty's title "${title}"`);
  }

  // Clicks: one answer each, to the clicking user in the clicking channel; a foreign one is the bare refusal.
  const refusal = refusalMessage();
  const ephemeralsByUser = new Map<string, (typeof slack.ephemerals)[number][]>();
  for (const e of slack.ephemerals) ephemeralsByUser.set(e.user, [...(ephemeralsByUser.get(e.user) ?? []), e]);
  for (const click of world.clicks.filter((c) => channels.has(c.channel))) {
    const answers = ephemeralsByUser.get(click.user) ?? [];
    if (answers.length === 0) lost.push(`click by ${click.user} in ${click.channel} got no answer`);
    if (answers.length > 1) duplicates.push(`click by ${click.user} answered ${answers.length} times`);
    for (const answer of answers) {
      if (answer.channel !== click.channel) misroutes.push(`answer to a click in ${click.channel} went to ${answer.channel}`);
      if (click.owner !== click.channel && (answer.text !== refusal.text || answer.blocks !== undefined)) {
        refusalLeaks.push(`click in ${click.channel} on ${click.owner ?? 'a forged value'}'s button was answered with data: ${answer.text.slice(0, 80)}`);
      }
    }
  }

  // Every message our bot posted in this world's channels, by effect key: each effect happens once.
  const posted = slack.messages.filter((m) => m.user === STAND_IN_BOT_USER_ID && channels.has(m.channel));
  const byEffect = new Map<string, RecordedMessage[]>();
  const messagesPerChannel = new Map<string, number>();
  for (const m of posted) {
    messagesPerChannel.set(m.channel, (messagesPerChannel.get(m.channel) ?? 0) + 1);
    const key = effectKeyOf(m);
    if (key) byEffect.set(key, [...(byEffect.get(key) ?? []), m]);
  }
  for (const [key, messages] of byEffect) if (messages.length > 1) duplicates.push(`${key} posted ${messages.length} times`);

  const triggersByKey = new Map<string, (typeof pagerDuty.triggers)[number][]>();
  for (const t of pagerDuty.triggers) triggersByKey.set(t.dedupKey, [...(triggersByKey.get(t.dedupKey) ?? []), t]);
  const dlqBodies = dlq.slack.map((d) => d.body);
  let incidentsTriggered = 0;
  const threadOf = new Map<string, string | undefined>();
  for (const e of escalations) {
    const incidents = incidentsByKey.get(e.dedupKey) ?? [];
    incidentsTriggered += incidents.length;
    if (incidents.length > 1) duplicates.push(`${e.dedupKey} (${e.channel}) has ${incidents.length} incidents`);
    for (const t of triggersByKey.get(e.dedupKey) ?? []) {
      const channel = (t.payload.custom_details as { channel_id?: string } | undefined)?.channel_id;
      if (channel !== e.channel) misroutes.push(`PagerDuty trigger for ${e.dedupKey} names channel ${channel}, not ${e.channel}`);
    }
    const confirmations = byEffect.get(`confirm:${e.dedupKey}`) ?? [];
    const confirmation = confirmations[0];
    threadOf.set(e.dedupKey, e.ts ?? confirmation?.ts);
    for (const c of confirmations) {
      if (c.channel !== e.channel) misroutes.push(`confirmation of ${e.dedupKey} went to ${c.channel}, not ${e.channel}`);
      if (e.ts && c.threadTs !== e.ts) misroutes.push(`confirmation of ${e.dedupKey} is not in the thread of its mention`);
    }
    if (incidents.length === 1 && confirmations.length === 1) continue;
    // Grouped: PagerDuty put its alert into another incident instead of opening one; it was still paged and confirmed.
    if (incidents.length === 0 && pagerDuty.byKey(e.dedupKey) && confirmations.length === 1) continue;
    // Accepted but no incident opened (maintenance, a suppressing rule): confirmed, then told so by the reconciler.
    if (incidents.length === 0 && confirmations.length === 1 && (byEffect.get(`noincident:${e.dedupKey}`) ?? []).length === 1) continue;
    const failure = byEffect.get(`failed:${e.dedupKey}`) ?? [];
    const parked = dlqBodies.some((body) => body.includes(`"id":${JSON.stringify(e.id)}`));
    if (incidents.length === 0 && failure.length === 1 && failure[0]!.channel === e.channel && parked) {
      failedAndTold.push(e.dedupKey);
      continue;
    }
    if (incidents.length === 1 && confirmations.length === 0) lost.push(`${e.dedupKey} (${e.channel}) triggered but never confirmed`);
    else if (incidents.length === 0) lost.push(`${e.dedupKey} (${e.channel}) never reached PagerDuty${parked ? ' (in the DLQ)' : ''}${failure.length ? '' : ' and the channel was not told'}`);
  }

  // Every post about an incident names the escalation it is for: it must be in that escalation's channel and thread.
  for (const [key, messages] of byEffect) {
    const [kind, , dedupKey] = key.split(':');
    const named = kind === 'pd' ? dedupKey : kind === 'joined' || kind === 'caught' || kind === 'noincident' ? key.split(':')[1] : undefined;
    const escalation = named ? world.escalations.get(named) : undefined;
    if (!named || !escalation) continue;
    for (const p of messages) {
      if (p.channel !== escalation.channel) misroutes.push(`${key} for ${escalation.channel} went to ${p.channel}`);
      else if (threadOf.has(escalation.dedupKey) && p.threadTs !== threadOf.get(escalation.dedupKey)) misroutes.push(`${key} is not in the thread of its escalation`);
    }
  }

  // PagerDuty events the router accepted: each reaches the escalation its incident was opened for, once.
  const accepted = new Map<string, { incidentId: string; eventType: string }>();
  for (const d of pagerDuty.deliveries) if (d.status >= 200 && d.status < 300) accepted.set(d.eventId, { incidentId: d.incidentId, eventType: d.eventType });
  for (const [eventId, h] of world.handWebhooks) accepted.set(eventId, h);
  const pdDlq = dlq.pagerduty.map((d) => d.body);
  const wanted = new Set(escalations.map((e) => e.dedupKey));
  let pagerDutyEventsAccepted = 0;
  for (const [eventId, { incidentId, eventType }] of accepted) {
    const incident = pagerDuty.incidents.get(incidentId);
    const escalation = incident ? world.escalations.get(incident.incidentKey) : undefined;
    if (!incident || !escalation || !wanted.has(escalation.dedupKey)) continue;
    pagerDutyEventsAccepted++;
    // Once merged away, the escalation follows the target: events of the merged incident that
    // arrive after the merge are rightly not told, and the merge itself is told as "together".
    if (incident.mergedInto) {
      // Told once the escalation is held elsewhere, by this merge or by a later hop of a chain of merges.
      const told = [...byEffect.keys()].some((key) => key.startsWith(`joined:${escalation.dedupKey}:`));
      if (eventType === 'incident.resolved' && !told && !failedAndTold.includes(escalation.dedupKey)) {
        lost.push(`the merge of ${escalation.channel}'s incident was never told`);
      }
      continue;
    }
    if (NOT_POSTED.has(eventType)) continue;
    const posts = byEffect.get(`pd:${eventId}:${escalation.dedupKey}`) ?? [];
    // The reconciler told the channel what the webhooks had not (a `caught:` post): a webhook of the
    // same change, or an older one, arriving later posts nothing (toldByReconciler).
    const caughtUp = [...byEffect.keys()].some((key) => key.startsWith(`caught:${escalation.dedupKey}:`));
    if (posts.length === 0 && !caughtUp && !pdDlq.some((body) => body.includes(`"id":${JSON.stringify(eventId)}`)) && !failedAndTold.includes(escalation.dedupKey)) {
      lost.push(`PagerDuty event ${eventId} for ${escalation.channel} was accepted but never posted`);
    }
  }

  return { escalations: escalations.length, incidentsTriggered, pagerDutyEventsAccepted, messagesPerChannel, duplicates, misroutes, lost, refusalLeaks, failedAndTold, dlq };
}

/** The shown status word of a rendered message (`*Status:* :emoji: Word`). */
export function shownStatus(message: { blocks?: unknown[] }): string | undefined {
  const match = /\*Status:\* :[a-z_]+: (Triggered|Acknowledged|Resolved)/.exec(JSON.stringify(message.blocks ?? []));
  return match ? match[1]!.toLowerCase() : undefined;
}

/** Capture everything written to stdout and stderr (log lines) until `restore()`. */
export function captureOutput(options: { passThrough?: boolean } = {}) {
  const lines: string[] = [];
  const originals = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
  const wrap = (original: typeof process.stdout.write) =>
    ((chunk: unknown, ...rest: unknown[]) => {
      lines.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      return options.passThrough ? (original as (...a: unknown[]) => boolean)(chunk, ...rest) : true;
    }) as typeof process.stdout.write;
  process.stdout.write = wrap(originals.out);
  process.stderr.write = wrap(originals.err);
  return {
    lines,
    /** Parsed JSON log lines (non-JSON output left out). */
    records(): Record<string, unknown>[] {
      return lines
        .join('')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            return {};
          }
        });
    },
    restore() {
      process.stdout.write = originals.out;
      process.stderr.write = originals.err;
    },
  };
}

/**
 * A worker crash schedule: `plan[step]` lists which arrivals at that step (1-based) throw, as a
 * crash right after the step would. Each throw fails one attempt of one message, so a plan with
 * fewer throws than maxReceiveCount can never push a message into the DLQ by itself.
 */
export function crashPlan(plan: Record<string, readonly number[]>) {
  const arrivals = new Map<string, number>();
  const crashes: string[] = [];
  return {
    crashes,
    hook(step: string): void {
      const n = (arrivals.get(step) ?? 0) + 1;
      arrivals.set(step, n);
      if (plan[step]?.includes(n)) {
        crashes.push(`${step}#${n}`);
        throw new Error(`injected crash after ${step}`);
      }
    },
  };
}
