/** What a customer asked the bot for. */
export type Command =
  | { type: 'escalate'; description: string }
  | { type: 'ping' }
  | { type: 'help' };

/** Slack's limit is ours too: PagerDuty's payload.summary holds at most 1024 characters. */
export const MAX_SUMMARY_LENGTH = 1024;

const MENTION = /<@([A-Z0-9]+)(?:\|[^>]*)?>/;

/**
 * The words after the first mention of the bot. Only that first mention is cut: the
 * description itself may mention people, channels and links.
 */
export function textAfterBotMention(text: string, botUserId?: string): string {
  if (botUserId) {
    const index = text.search(new RegExp(`<@${botUserId}(?:\\|[^>]*)?>`));
    if (index >= 0) return text.slice(index).replace(MENTION, '').trim();
  }
  const match = MENTION.exec(text);
  return (match ? text.slice(match.index + match[0].length) : text).trim();
}

/** Parse the command words: `escalate <description>`, the ping phrase, or anything else (help). */
export function parseCommand(words: string, pingPhrase: string): Command {
  const trimmed = words.trim();
  const [first = '', ...rest] = trimmed.split(/\s+/);
  if (first.toLowerCase() === 'escalate') {
    const description = trimmed.slice(first.length).trim();
    return description ? { type: 'escalate', description } : { type: 'help' };
  }
  if (first.toLowerCase() === pingPhrase.toLowerCase() && rest.length === 0) return { type: 'ping' };
  return { type: 'help' };
}

/**
 * The slash command's words: the command itself means "page on-call", so its text is the
 * description (`/piiano-pd-trigger database is down`). `escalate <desc>` still works as with a
 * mention; `help` or nothing gives help; the ping phrase pongs.
 */
export function parseSlashCommand(words: string, pingPhrase: string): Command {
  const trimmed = words.trim();
  if (!trimmed || trimmed.toLowerCase() === 'help') return { type: 'help' };
  const parsed = parseCommand(trimmed, pingPhrase);
  if (parsed.type !== 'help') return parsed;
  // `escalate` with nothing after it is a question, not a page.
  if (trimmed.toLowerCase() === 'escalate') return { type: 'help' };
  return { type: 'escalate', description: trimmed };
}

/**
 * Slack's markup made readable for PagerDuty, where it is shown as plain text:
 * `<@U1>` → `@U1`, `<#C1|ops>` → `#ops`, `<https://x|label>` → `label (https://x)`.
 */
export function slackMarkupToPlainText(text: string): string {
  return text
    .replace(/<@([A-Z0-9]+)(?:\|([^>]*))?>/g, (_m, id: string, name?: string) => `@${name || id}`)
    .replace(/<#([A-Z0-9]+)(?:\|([^>]*))?>/g, (_m, id: string, name?: string) => `#${name || id}`)
    .replace(/<!(here|channel|everyone)(?:\|[^>]*)?>/g, '@$1')
    .replace(/<!subteam\^[A-Z0-9]+(?:\|([^>]*))?>/g, (_m, name?: string) => name || '@group')
    .replace(/<((?:https?|mailto):[^|>]+)\|([^>]*)>/g, (_m, url: string, label: string) => (label && label !== url ? `${label} (${url})` : url))
    .replace(/<((?:https?|mailto):[^>]+)>/g, '$1')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** Trim to PagerDuty's limit without cutting a surrogate pair in half. */
export function trimSummary(text: string, limit = MAX_SUMMARY_LENGTH): string {
  const chars = Array.from(text);
  return chars.length <= limit ? text : `${chars.slice(0, limit - 1).join('')}…`;
}

/**
 * Bidirectional overrides and isolates reorder what a reader sees ("evil.com" shown as
 * "moc.live"); zero-width characters hide text in plain sight. Neither belongs in words we store
 * and show again.
 */
const INVISIBLE = /[\u061C\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/g;

/** Customer text without bidi controls and zero-width characters. */
export function stripInvisible(text: string): string {
  return text.replace(INVISIBLE, '');
}
