import { createHash } from 'node:crypto';
import type { SlackMessageEvent } from './events';

const DEDUP_KEY = /^pdr-[0-9a-f]{32}$/;

/**
 * The PagerDuty dedup_key of an escalation, derived from the Slack message itself (team,
 * channel and message ts; for a slash command, its trigger id), so every retry of the same
 * request maps to the same incident. It is opaque: a button carrying it says nothing about
 * the channel or customer it belongs to.
 */
export function dedupKeyFor(event: Pick<SlackMessageEvent, 'team' | 'channel' | 'ts' | 'id' | 'via'>): string {
  const origin = event.via === 'mention' && event.ts ? `mention/${event.team}/${event.channel}/${event.ts}` : `command/${event.team}/${event.channel}/${event.id}`;
  return `pdr-${createHash('sha256').update(origin).digest('hex').slice(0, 32)}`;
}

export function isDedupKey(value: string): boolean {
  return DEDUP_KEY.test(value);
}
