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
 * URLs inside a link's label, defanged (`https://pagerduty.com/reset` → `hxxps://pagerduty[.]com/reset`):
 * a label names where a link seems to go, and shown as plain text beside the real address it
 * must not become a second, clickable address of its own.
 */
export function defangUrls(label: string): string {
  return label.replace(/\b(?:(https?)|([a-z][a-z0-9+.-]*)):\/\/([^\s/?#]*)/gi, (_m, http: string | undefined, scheme: string | undefined, host: string) =>
    `${http ? `${http.replace(/tt/i, 'xx')}:` : `${scheme}[:]`}//${host.replace(/\./g, '[.]')}`,
  ).replace(/\bwww\.([^\s/?#]+)/gi, (_m, rest: string) => `www[.]${rest.replace(/\./g, '[.]')}`);
}

/**
 * Slack's markup made readable for PagerDuty, where it is shown as plain text:
 * `<@U1>` → `@U1`, `<#C1|ops>` → `#ops`, `<https://x|label>` → `label (https://x)` (URLs in the
 * label defanged). Typed angle brackets come back as `<` and `>`: what goes to PagerDuty passes
 * through {@link pagerDutyText} as well.
 */
export function slackMarkupToPlainText(text: string): string {
  return text
    .replace(/<@([A-Z0-9]+)(?:\|([^>]*))?>/g, (_m, id: string, name?: string) => `@${name || id}`)
    .replace(/<#([A-Z0-9]+)(?:\|([^>]*))?>/g, (_m, id: string, name?: string) => `#${name || id}`)
    .replace(/<!(here|channel|everyone)(?:\|[^>]*)?>/g, '@$1')
    .replace(/<!subteam\^[A-Z0-9]+(?:\|([^>]*))?>/g, (_m, name?: string) => name || '@group')
    .replace(/<((?:https?|mailto):[^|>]+)\|([^>]*)>/g, (_m, url: string, label: string) => (label && label !== url ? `${defangUrls(label)} (${url})` : url))
    .replace(/<((?:https?|mailto):[^>]+)>/g, '$1')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/**
 * What a person typed, as PagerDuty carries it (an incident's title, `custom_details`, notes):
 * plain text that none of PagerDuty's readers turns into markup. PagerDuty's own Slack
 * integration posts titles and notes into the provider's channels, where a typed `<!channel>`,
 * `<@U…>` or `<https://evil.example|PagerDuty: reset your password>` would be live: typed angle
 * brackets stay escaped as Slack sent them (`&lt;`, `&gt;`, which every reader shows as text and
 * Slack shows as `<`, `>`), and a Markdown link `[label](url)` is written out as `label (url)`
 * with URLs in its label defanged, as Slack's own links are by {@link slackMarkupToPlainText}.
 * Escaped entities rather than look-alike characters: nothing on PagerDuty's side can read them
 * as the real thing, and the provider sees exactly which characters were typed.
 */
export function pagerDutyText(plain: string): string {
  return plain
    .replace(/\[([^\]\n]*)\]\(([^)\s]*)\)/g, (_m, label: string, url: string) => (label && label !== url ? `${defangUrls(label)} (${url})` : url))
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
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
