import type { ChannelTranscript, CustomerCard, IncidentView, ServiceSwitches, TranscriptEntry } from '../transcript';
import type { RecentSummary } from '../../../lib/report/report';
import { formatSeconds } from '../../../lib/report/format';

/** HTML for the console, as strings: Slack's mrkdwn and Block Kit drawn roughly as Slack draws them. */

export function escapeHtml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** The emoji pd-router writes, and a few a customer may type. */
const EMOJI: Record<string, string> = {
  red_circle: '🔴',
  large_yellow_circle: '🟡',
  large_green_circle: '🟢',
  rotating_light: '🚨',
  warning: '⚠️',
  wave: '👋',
  fire: '🔥',
  white_check_mark: '✅',
  eyes: '👀',
  pray: '🙏',
  question: '❓',
  no_entry_sign: '🚫',
  hourglass: '⌛',
};

type Users = Record<string, string>;

/** `!date^<epoch>^<format>`: shown in the reader's time zone, as Slack does (the format itself is approximated). */
function formatSlackDate(target: string): string | undefined {
  const epoch = Number(target.split('^')[1]);
  if (!Number.isFinite(epoch)) return undefined;
  return new Date(epoch * 1000).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** One `<…>` token of Slack markup: a mention, a channel, a special, a date or a link. */
function renderToken(token: string, users: Users): string {
  // Inside a token Slack keeps `&<>` escaped as in the rest of the text: decode once, escape once.
  const [target = '', label] = decodeEntities(token).split('|', 2) as [string, string | undefined];
  if (target.startsWith('@')) return `<span class="mention">@${escapeHtml(label ?? users[target.slice(1)] ?? target.slice(1))}</span>`;
  if (target.startsWith('#')) return `<span class="mention">#${escapeHtml(label ?? target.slice(1))}</span>`;
  if (target.startsWith('!date^')) return escapeHtml(formatSlackDate(target) ?? label ?? '');
  if (target.startsWith('!')) return `<span class="mention">@${escapeHtml(target.slice(1).split('^')[0] ?? '')}</span>`;
  if (/^(https?:|mailto:)/.test(target)) return `<a href="${escapeHtml(target)}" target="_blank" rel="noopener noreferrer">${escapeHtml(label ?? target)}</a>`;
  return escapeHtml(`<${decodeEntities(token)}>`);
}

function decodeEntities(value: string): string {
  return value.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** Bold, italic, strike, code and emoji within one line whose tokens are already placeholders. */
function formatLine(line: string): string {
  return escapeHtml(decodeEntities(line))
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/(^|[\s(>])\*([^*\n]+)\*/g, '$1<strong>$2</strong>')
    .replace(/(^|[\s(>])_([^_\n]+)_/g, '$1<em>$2</em>')
    .replace(/(^|[\s(>])~([^~\n]+)~/g, '$1<del>$2</del>')
    .replace(/:([a-z0-9_+-]+):/g, (whole, name: string) => EMOJI[name] ?? whole);
}

/** Slack mrkdwn → HTML. Tokens are swapped out first so that formatting may wrap them (`*<url|title>*`). */
export function renderMrkdwn(text: string, users: Users): string {
  const tokens: string[] = [];
  const marked = text.replace(/<([^<>]+)>/g, (_m, token: string) => `\u0000${tokens.push(renderToken(token, users)) - 1}\u0000`);
  const html: string[] = [];
  let quote: string[] = [];
  const flush = () => {
    if (quote.length) html.push(`<blockquote>${quote.join('<br>')}</blockquote>`);
    quote = [];
  };
  const lines = marked.split('\n');
  lines.forEach((line, index) => {
    // A quote is a line starting with a literal '>'; an escaped '&gt;' is just text.
    if (line.startsWith('>')) return void quote.push(formatLine(line.slice(1)));
    flush();
    html.push(formatLine(line) + (index < lines.length - 1 ? '<br>' : ''));
  });
  flush();
  // NUL cannot occur in escaped text, so it delimits the placeholders of links kept aside.
  // eslint-disable-next-line no-control-regex
  return html.join('').replace(/\u0000(\d+)\u0000/g, (_m, n: string) => tokens[Number(n)] ?? '');
}

interface TextObject {
  type?: string;
  text?: string;
}

function renderText(object: TextObject | undefined, users: Users): string {
  if (!object?.text) return '';
  return object.type === 'plain_text' ? escapeHtml(object.text) : renderMrkdwn(object.text, users);
}

/** Where a button sits, so a click can say which message it came from. */
export interface ButtonContext {
  channel: string;
  messageTs: string;
}

type Block = { type?: string; text?: TextObject; fields?: TextObject[]; elements?: (TextObject & { action_id?: string; value?: string; style?: string; alt_text?: string })[] };

function renderBlock(block: Block, users: Users, at: ButtonContext): string {
  switch (block.type) {
    case 'section':
      return `<div class="block-section">${renderText(block.text, users)}${(block.fields ?? []).map((f) => `<div class="block-field">${renderText(f, users)}</div>`).join('')}</div>`;
    case 'header':
      return `<div class="block-header">${renderText(block.text, users)}</div>`;
    case 'context':
      return `<div class="block-context">${(block.elements ?? []).map((e) => `<span>${renderText(e, users)}</span>`).join('')}</div>`;
    case 'divider':
      return '<hr class="block-divider">';
    case 'actions':
      return `<div class="block-actions">${(block.elements ?? [])
        .filter((e) => e.type === 'button')
        .map(
          (e) =>
            `<button type="button" class="block-button${e.style === 'danger' || e.style === 'primary' ? ` ${e.style}` : ''}" data-click="${escapeHtml(e.action_id ?? '')}" data-value="${escapeHtml(e.value ?? '')}" ` +
            `data-channel="${escapeHtml(at.channel)}" data-message-ts="${escapeHtml(at.messageTs)}">${renderText(e.text as TextObject, users)}</button>`,
        )
        .join('')}</div>`;
    default:
      return '';
  }
}

function clock(ts: string): string {
  return new Date(Number(ts) * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

function initials(name: string): string {
  return name
    .split(/\s+/)
    .map((w) => w.charAt(0))
    .join('')
    .slice(0, 2)
    .toUpperCase();
}

function renderEntry(entry: TranscriptEntry, channel: string, users: Users, botUserId: string, reply: boolean): string {
  const name = users[entry.user] ?? entry.user;
  const bot = entry.user === botUserId;
  const body = entry.blocks?.length
    ? (entry.blocks as Block[]).map((b) => renderBlock(b, users, { channel, messageTs: entry.ts })).join('')
    : `<div class="block-section">${renderMrkdwn(entry.text, users)}</div>`;
  const classes = ['message', reply ? 'reply' : '', bot ? 'from-bot' : 'from-customer', entry.onlyVisibleTo ? 'ephemeral' : ''].filter(Boolean).join(' ');
  return `
    <article class="${classes}" data-ts="${escapeHtml(entry.ts)}">
      <div class="avatar ${bot ? 'avatar-bot' : ''}">${bot ? 'PD' : escapeHtml(initials(name))}</div>
      <div class="message-main">
        <header>
          <span class="author">${escapeHtml(name)}</span>${bot ? '<span class="app-badge">APP</span>' : ''}
          <time>${clock(entry.ts)}</time>${entry.edits ? '<span class="edited">(edited)</span>' : ''}
        </header>
        ${entry.onlyVisibleTo ? '<div class="only-you">Only visible to you</div>' : ''}
        <div class="message-body">${body}</div>
      </div>
    </article>`;
}

/** The message list of a channel column: top-level messages, each followed by its thread. */
export function renderChannelMessages(channel: ChannelTranscript, users: Users, botUserId: string): string {
  if (!channel.messages.length) return `<p class="empty">No messages yet. Try <code>@bot escalate the API is down</code> below.</p>`;
  return channel.messages
    .map((entry) => {
      const replies = entry.replies.length
        ? `<div class="thread"><div class="thread-label">${entry.replies.length} ${entry.replies.length === 1 ? 'reply' : 'replies'}</div>${entry.replies
            .map((r) => renderEntry(r, channel.id, users, botUserId, true))
            .join('')}</div>`
        : '';
      return renderEntry(entry, channel.id, users, botUserId, false) + replies;
    })
    .join('');
}

const STATUS_LABEL: Record<IncidentView['status'], string> = { triggered: 'Triggered', acknowledged: 'Acknowledged', resolved: 'Resolved' };

/**
 * One incident card in the on-call panel, with the buttons that make sense for its status; an
 * open one can be retitled, and merged into one of `others` (the other open incidents).
 */
export function renderIncident(incident: IncidentView, others: IncidentView[] = []): string {
  const open = incident.status !== 'resolved';
  const button = (action: string, label: string, enabled: boolean) =>
    `<button type="button" class="incident-button ${action}" data-incident="${escapeHtml(incident.id)}" data-action="${action}" ${enabled ? '' : 'disabled'}>${label}</button>`;
  return `
    <article class="incident status-${incident.status}" data-incident-id="${escapeHtml(incident.id)}">
      <header><span class="number">#${incident.number}</span><span class="pill">${STATUS_LABEL[incident.status]}</span></header>
      <h3>${escapeHtml(incident.title)}</h3>
      <dl>
        ${incident.source ? `<dt>Source</dt><dd>${escapeHtml(incident.source)}</dd>` : ''}
        <dt>Assigned</dt><dd>${escapeHtml(incident.assignees.join(', '))}</dd>
        ${(incident.notes ?? []).map((note) => `<dt>Note</dt><dd class="note">${escapeHtml(note)}</dd>`).join('')}
      </dl>
      <div class="incident-actions">
        ${button('acknowledge', 'Acknowledge', incident.status === 'triggered')}
        ${button('reassign', 'Reassign', open)}
        ${button('resolve', 'Resolve', open)}
        ${button('status-update', 'Status update', open)}
      </div>
      ${
        open
          ? `<div class="incident-edit">
        <label><span>Merge into</span><select name="into" aria-label="Merge #${incident.number} into">${others
          .filter((o) => o.id !== incident.id && o.status !== 'resolved')
          .map((o) => `<option value="${escapeHtml(o.id)}">#${o.number} ${escapeHtml(o.title.slice(0, 60))}</option>`)
          .join('')}</select></label>
        ${button('merge', 'Merge', others.some((o) => o.id !== incident.id && o.status !== 'resolved'))}
        <label><span>Title</span><input name="title" aria-label="New title for #${incident.number}" placeholder="New title"></label>
        ${button('retitle', 'Retitle', true)}
      </div>`
          : ''
      }
    </article>`;
}

/** The sandbox service's two switches, each a button that flips it. */
export function renderServiceSwitches(service: ServiceSwitches | undefined): string {
  if (!service) return '';
  const webhooks = service.webhooks === 'on' ? 'Webhooks on' : `Webhooks OFF (${service.lostWebhooks} lost)`;
  const maintenance = service.maintenance ? `Maintenance ON (${service.suppressedAlerts} without incident)` : 'Maintenance off';
  return (
    `<button type="button" class="service-switch${service.webhooks === 'off' ? ' tripped' : ''}" data-switch="webhooks" data-on="${service.webhooks === 'off'}">${webhooks}</button>` +
    `<button type="button" class="service-switch${service.maintenance ? ' tripped' : ''}" data-switch="maintenance" data-on="${!service.maintenance}">${maintenance}</button>`
  );
}

/** A customer's last days: the counts, the median time to acknowledge, and a bar per day. */
export function renderRecent(recent: RecentSummary | undefined): string {
  if (!recent) return '';
  const answered = recent.medianAckSeconds !== undefined ? `, acknowledged in ${formatSeconds(recent.medianAckSeconds)} (median)` : '';
  const text = `last ${recent.days} days: ${recent.asked} asked${recent.asked ? `, ${recent.paged} paged${answered}` : ''}`;
  const most = Math.max(1, ...recent.perDay);
  const bars = recent.perDay.map((n, i) => (n ? `<rect x="${i * 3}" y="${12 - Math.max(1, Math.round((n / most) * 12))}" width="2" height="${Math.max(1, Math.round((n / most) * 12))}"><title>${n}</title></rect>` : '')).join('');
  return `<span class="customer-recent">${text}</span><svg class="customer-spark" role="img" aria-label="escalations per day, last ${recent.days} days" width="${recent.days * 3}" height="12" viewBox="0 0 ${recent.days * 3} 12">${bars}</svg>`;
}

/** The customer card in a channel's header: who the customer is, pages left this hour, confirmation. */
export function renderCustomerCard(card: CustomerCard | undefined): string {
  if (!card) return '<div class="customer-card not-customer">Not a customer: escalations from here are refused</div>';
  const left = `${card.budgetLeft} of ${card.pagesPerHour} ${card.pagesPerHour === 1 ? 'page' : 'pages'} left this hour`;
  return (
    `<div class="customer-card${card.budgetLeft === 0 ? ' over-budget' : ''}"><span class="customer-name">${escapeHtml(card.name)}</span>` +
    `<span class="customer-budget">${left}</span><span class="customer-confirm">confirmation ${card.confirm ? 'on' : 'off'}</span>${renderRecent(card.recent)}</div>`
  );
}
