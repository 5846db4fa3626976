import { STAND_IN_BOT_USER_ID } from '../stand-ins/slack';
import type { ChannelTranscript, TranscriptEntry } from '../sandbox-console/transcript';

/** What a message in a transcript is, told by how pd-router words it (lib/slack/messages.ts). */
export type MessageKind = 'escalation' | 'reply' | 'confirmation' | 'triggered' | 'acknowledged' | 'reassigned' | 'together' | 'update' | 'resolved' | 'status' | 'refusal' | 'other';

/** Thread updates start with the channel's own reference: "Escalation #2: Acknowledged by …". */
const UPDATE = String.raw`^(?:Escalation #\d+|Your escalation): `;
const BOT_KINDS: [RegExp, MessageKind][] = [
  [/^On-call has been paged/, 'confirmation'],
  [new RegExp(`${UPDATE}Incident opened`), 'triggered'],
  [new RegExp(`${UPDATE}Acknowledged by`), 'acknowledged'],
  [new RegExp(`${UPDATE}Reassigned to`), 'reassigned'],
  [new RegExp(`${UPDATE}Your escalation is now handled together`), 'together'],
  [new RegExp(`${UPDATE}status update from`), 'update'],
  // On a combined incident the channel is told that there was one, without its text.
  [new RegExp(`${UPDATE}On-call posted a status update on the combined incident`), 'update'],
  [new RegExp(`${UPDATE}Resolved by`), 'resolved'],
  [/^Status of /, 'status'],
  [/^Sorry, that status button doesn't belong to this channel/, 'refusal'],
];

export function classify(entry: TranscriptEntry): MessageKind {
  if (entry.user !== STAND_IN_BOT_USER_ID) return entry.text.includes(`<@${STAND_IN_BOT_USER_ID}> escalate `) ? 'escalation' : 'other';
  return BOT_KINDS.find(([pattern]) => pattern.test(entry.text))?.[1] ?? 'other';
}

/** Every message of a channel, thread replies included, in order. */
export function allEntries(channel: ChannelTranscript): TranscriptEntry[] {
  return channel.messages.flatMap((m) => [m, ...m.replies]);
}

export function countKinds(channel: ChannelTranscript): Partial<Record<MessageKind, number>> {
  const counts: Partial<Record<MessageKind, number>> = {};
  for (const message of channel.messages) {
    // A customer's message in a thread is a reply (it reaches on-call as a note); the bot's are what they say.
    for (const [entry, inThread] of [[message, false], ...message.replies.map((r) => [r, true] as const)] as const) {
      const kind = inThread && entry.user !== STAND_IN_BOT_USER_ID ? 'reply' : classify(entry);
      counts[kind] = (counts[kind] ?? 0) + 1;
    }
  }
  return counts;
}

/** What one customer's channel should hold at the end of the scenario. */
export interface TenantExpectation {
  channel: string;
  /** Strings that belong to this customer only (its description, dedup key, incident id): no other channel may show them. */
  markers: string[];
  /** Exactly this many messages of each kind; a kind left out is expected 0 times. */
  expected: Partial<Record<MessageKind, number>>;
  /** The status the confirmation must show last, e.g. `resolved`. */
  finalStatus?: string;
}

export interface Finding {
  channel: string;
  detail: string;
}

export interface Verdict {
  ok: boolean;
  messagesPerChannel: { channel: string; name: string; messages: number }[];
  crossed: Finding[];
  lost: Finding[];
  doubled: Finding[];
  line: string;
}

function crossings(channel: ChannelTranscript, tenants: TenantExpectation[]): Finding[] {
  const found: Finding[] = [];
  for (const entry of allEntries(channel)) {
    const content = `${entry.text}\n${JSON.stringify(entry.blocks ?? [])}`;
    for (const other of tenants.filter((t) => t.channel !== channel.id)) {
      const marker = other.markers.find((m) => m && content.includes(m));
      if (marker) found.push({ channel: channel.id, detail: `a message in #${channel.name} carries ${other.channel}'s "${marker}"` });
    }
  }
  return found;
}

/**
 * The demo's verdict on the transcripts: nothing crossed into another channel, nothing expected
 * is missing (lost), nothing came more often than it should (doubled or unexpected).
 */
export function judge(transcripts: ChannelTranscript[], tenants: TenantExpectation[]): Verdict {
  const crossed = transcripts.flatMap((channel) => crossings(channel, tenants));
  const lost: Finding[] = [];
  const doubled: Finding[] = [];
  for (const tenant of tenants) {
    const channel = transcripts.find((c) => c.id === tenant.channel) ?? { id: tenant.channel, name: tenant.channel, messages: [] };
    const counts = countKinds(channel);
    const kinds = new Set([...Object.keys(tenant.expected), ...Object.keys(counts)] as MessageKind[]);
    for (const kind of kinds) {
      const want = tenant.expected[kind] ?? 0;
      const saw = counts[kind] ?? 0;
      if (saw < want) lost.push({ channel: tenant.channel, detail: `#${channel.name}: ${want - saw} ${kind} message(s) missing` });
      if (saw > want) doubled.push({ channel: tenant.channel, detail: `#${channel.name}: ${saw} ${kind} message(s), expected ${want}` });
    }
    const confirmation = allEntries(channel).find((e) => classify(e) === 'confirmation');
    if (tenant.finalStatus && confirmation && !confirmation.text.includes(`(${tenant.finalStatus})`)) {
      lost.push({ channel: tenant.channel, detail: `#${channel.name}: the confirmation does not show "${tenant.finalStatus}" (${confirmation.text})` });
    }
  }
  const messagesPerChannel = transcripts.map((c) => ({ channel: c.id, name: c.name, messages: allEntries(c).length }));
  const ok = crossed.length === 0 && lost.length === 0 && doubled.length === 0;
  const line = [
    `VERDICT ${ok ? 'PASS' : 'FAIL'}`,
    `messages per channel: ${messagesPerChannel.map((c) => `#${c.name} ${c.messages}`).join(', ')}`,
    `crossed channels: ${crossed.length}`,
    `lost: ${lost.length}`,
    `doubled: ${doubled.length}`,
  ].join(' | ');
  return { ok, messagesPerChannel, crossed, lost, doubled, line };
}
