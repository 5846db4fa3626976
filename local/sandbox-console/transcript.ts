import type { RecordedEphemeral, RecordedMessage } from '../stand-ins/slack';
import { STAND_IN_BOT_USER_ID } from '../stand-ins/slack';
import type { StandInIncident } from '../stand-ins/pagerduty';
import type { RecentSummary } from '../../lib/report/report';

/**
 * What a channel's members see, built from the Slack stand-in's records: the console renders it,
 * the demo prints and judges it. One model for both, so the demo checks what the page shows.
 */

export interface ChannelInfo {
  id: string;
  name: string;
}

export interface TranscriptEntry {
  ts: string;
  user: string;
  /** The current text and blocks (after every chat.update). */
  text: string;
  blocks?: unknown[];
  /** How many times chat.update changed it. */
  edits: number;
  /** Set on ephemeral messages: the one user who sees it. */
  onlyVisibleTo?: string;
  replies: TranscriptEntry[];
}

export interface ChannelTranscript extends ChannelInfo {
  /** Top-level messages in order, each with its thread replies. */
  messages: TranscriptEntry[];
}

/** An incident as the console's on-call panel shows it. */
export interface IncidentView {
  id: string;
  number: number;
  title: string;
  status: StandInIncident['status'];
  assignees: string[];
  source?: string;
  /** Notes on the incident (customers' replies from their threads reach on-call as these). */
  notes?: string[];
}

/** A channel's customer, as its console column's card shows it. */
export interface CustomerCard {
  name: string;
  pagesPerHour: number;
  /** Pages left in the rolling hour. */
  budgetLeft: number;
  confirm: boolean;
  /** Its last 30 days, from the escalation history (lib/report/report.ts). */
  recent?: RecentSummary;
}

/** Everything the console page draws, sent on each change. */
export interface ConsoleSnapshot {
  botUserId: string;
  users: Record<string, string>;
  channels: ChannelTranscript[];
  incidents: IncidentView[];
  /** The registered customers by channel id (a channel absent here is not a customer). */
  customers?: Record<string, CustomerCard>;
  /** The sandbox PagerDuty service's switches: webhook delivery and a maintenance window. */
  service?: ServiceSwitches;
}

export interface ServiceSwitches {
  webhooks: 'on' | 'off';
  lostWebhooks: number;
  maintenance: boolean;
  suppressedAlerts: number;
}

export interface StandInRecords {
  messages: RecordedMessage[];
  ephemerals: RecordedEphemeral[];
}

/** The customer user the console and the demo type as, in a channel. */
export function customerUserId(channelId: string): string {
  return `U${channelId.replace(/^C/, '')}`;
}

function customerName(channel: ChannelInfo): string {
  const short = channel.name.replace(/^customer-/, '');
  return `${short.charAt(0).toUpperCase()}${short.slice(1)} customer`;
}

const byTs = (a: { ts: string }, b: { ts: string }) => Number(a.ts) - Number(b.ts);

/** Per-channel transcripts; channels not listed but seen in the records get a column too. */
export function buildTranscripts(records: StandInRecords, channels: ChannelInfo[]): ChannelTranscript[] {
  const all = [...channels];
  for (const record of [...records.messages, ...records.ephemerals]) {
    if (!all.some((c) => c.id === record.channel)) all.push({ id: record.channel, name: record.channel.toLowerCase() });
  }
  return all.map((channel) => {
    const entries: (TranscriptEntry & { threadTs?: string })[] = [
      ...records.messages
        .filter((m) => m.channel === channel.id)
        .map((m) => ({ ts: m.ts, user: m.user, text: m.text, edits: m.history.length, replies: [], ...(m.blocks ? { blocks: m.blocks } : {}), ...(m.threadTs ? { threadTs: m.threadTs } : {}) })),
      ...records.ephemerals
        .filter((e) => e.channel === channel.id)
        .map((e) => ({ ts: e.ts, user: STAND_IN_BOT_USER_ID, text: e.text, edits: 0, onlyVisibleTo: e.user, replies: [], ...(e.blocks ? { blocks: e.blocks } : {}), ...(e.threadTs ? { threadTs: e.threadTs } : {}) })),
    ].sort(byTs);
    const top = new Map<string, TranscriptEntry>();
    const messages: TranscriptEntry[] = [];
    for (const { threadTs, ...entry } of entries) {
      // A reply whose parent is not in this channel stays visible at the top level rather than vanish.
      const parent = threadTs && threadTs !== entry.ts ? top.get(threadTs) : undefined;
      if (parent) parent.replies.push(entry);
      else {
        top.set(entry.ts, entry);
        messages.push(entry);
      }
    }
    return { ...channel, messages };
  });
}

/** Display names: the bot, and one customer per known channel. */
export function userNames(channels: ChannelInfo[]): Record<string, string> {
  return { [STAND_IN_BOT_USER_ID]: 'pd-router', ...Object.fromEntries(channels.map((c) => [customerUserId(c.id), customerName(c)])) };
}

export function incidentViews(incidents: StandInIncident[], notes: readonly { incidentId: string; content: string }[] = []): IncidentView[] {
  return incidents.map((i) => ({
    id: i.id,
    number: i.number,
    title: i.title,
    status: i.status,
    assignees: i.assignees,
    ...(typeof i.payload.source === 'string' ? { source: i.payload.source } : {}),
    ...(notes.some((n) => n.incidentId === i.id) ? { notes: notes.filter((n) => n.incidentId === i.id).map((n) => n.content) } : {}),
  }));
}

/** Slack markup as a terminal shows it: mentions by name, links as their label, entities decoded. */
function plain(text: string, users: Record<string, string>): string {
  return text
    .replace(/<@([A-Z0-9]+)(?:\|[^>]*)?>/g, (_m, id: string) => `@${users[id] ?? id}`)
    .replace(/<[^|>]+\|([^>]*)>/g, '$1')
    .replace(/<([^>]*)>/g, '$1')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/\s*\n\s*/g, ' · ');
}

/** A channel's transcript as lines of text, threads indented (what `npm run demo` prints). */
export function formatTranscript(channel: ChannelTranscript, users: Record<string, string>): string[] {
  const line = (entry: TranscriptEntry, indent: string) => {
    const who = users[entry.user] ?? entry.user;
    const only = entry.onlyVisibleTo ? ` (only ${users[entry.onlyVisibleTo] ?? entry.onlyVisibleTo} sees this)` : '';
    const edited = entry.edits ? ` [edited ${entry.edits}x]` : '';
    return `${indent}${who}${only}: ${plain(entry.text, users)}${edited}`;
  };
  const lines = [`#${channel.name}`];
  for (const entry of channel.messages) {
    lines.push(line(entry, '  '));
    for (const reply of entry.replies) lines.push(line(reply, '    └ '));
  }
  if (!channel.messages.length) lines.push('  (no messages)');
  return lines;
}
