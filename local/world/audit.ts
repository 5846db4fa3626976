import { refusalMessage } from '../../lib/slack/messages';
import type { StandInIncident } from '../stand-ins/pagerduty';
import { STAND_IN_BOT_USER_ID, type RecordedMessage } from '../stand-ins/slack';
import { FIRST_INCIDENT_NUMBER, MARKER_PATTERN, type SentEscalation, type World } from './world';

/**
 * The auditor of a {@link World}: after the run, the end state against what the stand-ins
 * recorded: nothing doubled, nothing lost, nothing about one channel's incident in another channel.
 */

/** A word in each status update on-call publishes: found in a Slack call, it names the update. */
const STATUS_UPDATE_PATTERN = /su[a-z0-9]{10}/g;
const DEDUP_KEY_PATTERN = /pdr-[0-9a-f]{32}/g;
/** The stand-in's incident ids (`Q` + 12 hex digits) also appear inside its incident URLs. */
const INCIDENT_ID_PATTERN = /Q[0-9A-F]{12}/g;
/** `#12` or `(#12)`, never a prefix of a longer number. */
const INCIDENT_NUMBER_PATTERN = /#(\d+)(?!\d)/g;
/** PagerDuty event types that tell a customer nothing (a priority is the provider's business). */
const NOT_POSTED = new Set(['incident.priority_updated']);

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
    // The escalation's own incident opening is what its confirmation says ("paged", Triggered):
    // posted only after the reconciler told the channel no incident held it.
    if (eventType === 'incident.triggered' && !(byEffect.get(`noincident:${escalation.dedupKey}`) ?? []).length) {
      if (posts.length) duplicates.push(`PagerDuty event ${eventId} (its own incident opened) was posted in ${escalation.channel}, where the confirmation already says it`);
      continue;
    }
    // The reconciler told the channel what the webhooks had not (a `caught:` post): a webhook of the
    // same change, or an older one, arriving later posts nothing (toldByReconciler).
    const caughtUp = [...byEffect.keys()].some((key) => key.startsWith(`caught:${escalation.dedupKey}:`));
    if (posts.length === 0 && !caughtUp && !pdDlq.some((body) => body.includes(`"id":${JSON.stringify(eventId)}`)) && !failedAndTold.includes(escalation.dedupKey)) {
      lost.push(`PagerDuty event ${eventId} for ${escalation.channel} was accepted but never posted`);
    }
  }

  return { escalations: escalations.length, incidentsTriggered, pagerDutyEventsAccepted, messagesPerChannel, duplicates, misroutes, lost, refusalLeaks, failedAndTold, dlq };
}
