import type { ChannelTranscript, ConsoleSnapshot } from '../transcript';
import { escapeHtml, renderChannelMessages, renderCustomerCard, renderIncident, renderServiceSwitches } from './render';

/**
 * The sandbox console in the browser: draws each snapshot the server streams, and turns the
 * customer's typing and clicks into POSTs that the server sends through the router's real path.
 */

const columns = document.querySelector<HTMLElement>('#columns')!;
const incidents = document.querySelector<HTMLElement>('#incident-list')!;
const switches = document.querySelector<HTMLElement>('#service-switches')!;
const connection = document.querySelector<HTMLElement>('#connection')!;
const toast = document.querySelector<HTMLElement>('#toast')!;
const stackGone = document.querySelector<HTMLElement>('#stack-gone')!;
const openForm = document.querySelector<HTMLFormElement>('#open-incident')!;

/** The Check Status button's action id (lib/slack/normalize.ts: CHECK_STATUS_ACTION_ID), kept out of the page's bundle. */
const CHECK_STATUS = 'check_status';

/** What the page says when the stack stops answering; it clears itself when the stack is back. */
const STACK_GONE = 'The pd-router stack is not answering: is `npm start` still running? This page reconnects by itself when it is back.';
/** What each list last drew, so an unchanged column keeps its scroll position and selection. */
const drawn = new Map<string, string>();

/** Like Slack, a list shows its newest message unless the reader scrolled up. */
const scrolledUp = new WeakSet<HTMLElement>();
/** Where we last scrolled each list: a scroll event still at that spot is ours, not the reader's. */
const ourScroll = new WeakMap<HTMLElement, number>();
function followNewest(list: HTMLElement) {
  if (scrolledUp.has(list)) return;
  list.scrollTop = list.scrollHeight;
  ourScroll.set(list, list.scrollTop);
}

async function post(path: string, body: unknown): Promise<void> {
  // A fetch that reaches nothing rejects with the browser's own words ("Failed to fetch"): say what it means.
  const response = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).catch(() => {
    throw new Error(STACK_GONE);
  });
  if (!response.ok) throw new Error(((await response.json().catch(() => ({}))) as { error?: string }).error ?? `HTTP ${response.status}`);
}

function showError(message: string) {
  toast.textContent = message;
  toast.hidden = false;
  setTimeout(() => (toast.hidden = true), 6000);
}

function column(channel: ChannelTranscript): HTMLElement {
  const existing = columns.querySelector<HTMLElement>(`[data-channel="${CSS.escape(channel.id)}"]`);
  if (existing) return existing;
  const section = document.createElement('section');
  section.className = 'channel';
  section.dataset.channel = channel.id;
  section.innerHTML = `
    <header class="channel-header"><h2># ${escapeHtml(channel.name)}</h2><span class="channel-id">${escapeHtml(channel.id)}</span></header>
    <div class="customer"></div>
    <div class="messages"><div class="messages-inner" aria-live="polite"></div></div>
    <form class="composer">
      <input name="text" autocomplete="off" aria-label="Message #${escapeHtml(channel.name)}" placeholder="Message #${escapeHtml(channel.name)}">
      <button type="submit" aria-label="Send">Send</button>
      <p class="composer-error" role="alert"></p>
    </form>`;
  const list = section.querySelector<HTMLElement>('.messages')!;
  list.addEventListener('scroll', () => {
    if (ourScroll.get(list) === list.scrollTop) return;
    if (list.scrollHeight - list.scrollTop - list.clientHeight < 40) scrolledUp.delete(list);
    else scrolledUp.add(list);
  });
  // Content also grows after a draw (late fonts, wrapping): keep following it.
  new ResizeObserver(() => followNewest(list)).observe(list.firstElementChild!);
  const form = section.querySelector('form')!;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const input = form.elements.namedItem('text') as HTMLInputElement;
    const error = form.querySelector<HTMLElement>('.composer-error')!;
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    error.textContent = '';
    post(`/sandbox/channels/${encodeURIComponent(channel.id)}/messages`, { text }).catch((e: Error) => {
      input.value = text;
      error.textContent = `Not sent: ${e.message}`;
    });
  });
  columns.append(section);
  return section;
}

function draw(snapshot: ConsoleSnapshot) {
  // All columns first: their widths, and so each list's height, are final before anything is drawn.
  const sections = snapshot.channels.map(column);
  // In the snapshot's order (customers first): a customer registered later moves ahead of a channel that is not one.
  if (sections.some((section, i) => columns.children[i] !== section)) columns.append(...sections);
  for (const channel of snapshot.channels) {
    const card = renderCustomerCard(snapshot.customers?.[channel.id]);
    if (drawn.get(`card:${channel.id}`) !== card) {
      column(channel).querySelector<HTMLElement>('.customer')!.innerHTML = card;
      drawn.set(`card:${channel.id}`, card);
    }
    const list = column(channel).querySelector<HTMLElement>('.messages')!;
    const html = renderChannelMessages(channel, snapshot.users, snapshot.botUserId);
    if (drawn.get(channel.id) === html) continue;
    list.firstElementChild!.innerHTML = html;
    drawn.set(channel.id, html);
    followNewest(list);
  }
  const html = snapshot.incidents.length
    ? [...snapshot.incidents]
        .reverse()
        .map((incident) => renderIncident(incident, snapshot.incidents))
        .join('')
    : '<p class="empty">No incidents. When a customer escalates, PagerDuty’s incident shows up here.</p>';
  if (drawn.get('incidents') !== html) {
    incidents.innerHTML = html;
    drawn.set('incidents', html);
  }
  const service = renderServiceSwitches(snapshot.service);
  if (drawn.get('service') !== service) {
    switches.innerHTML = service;
    drawn.set('service', service);
  }
}

document.addEventListener('click', (event) => {
  const button = (event.target as HTMLElement).closest<HTMLButtonElement>('button[data-click], button[data-action], button[data-switch]');
  if (!button) return;
  const { click, value, channel, messageTs, incident, action } = button.dataset;
  const card = button.closest('.incident');
  // A status update needs its text: what on-call writes for the customers to read.
  const message = action === 'status-update' ? window.prompt('Status update (the linked customers read it in their threads):') : undefined;
  if (action === 'status-update' && !message?.trim()) return;
  // Merge names its target and retitle its title, from the card's own fields.
  const details =
    action === 'merge'
      ? { into: card?.querySelector<HTMLSelectElement>('select[name="into"]')?.value ?? '' }
      : action === 'retitle'
        ? { title: card?.querySelector<HTMLInputElement>('input[name="title"]')?.value.trim() ?? '' }
        : message
          ? { message }
          : {};
  button.disabled = true;
  const request = button.dataset.switch
    ? post('/sandbox/service', { [button.dataset.switch]: button.dataset.on === 'true' })
    : click
      ? post(`/sandbox/channels/${encodeURIComponent(channel ?? '')}/clicks`, { actionId: click, value, messageTs })
      : post(`/sandbox/incidents/${encodeURIComponent(incident ?? '')}/${action ?? ''}`, details);
  // A Check Status button stays usable; Page on-call and Cancel decide the prompt, which is
  // rewritten without them; an incident button is redrawn from the next snapshot.
  request.then(
    () => {
      if (click === CHECK_STATUS) button.disabled = false;
    },
    (e: Error) => {
      showError(e.message);
      if (click) button.disabled = false;
    },
  );
});

openForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const input = openForm.elements.namedItem('title') as HTMLInputElement;
  const title = input.value.trim();
  if (!title) return;
  post('/sandbox/incidents', { title }).then(
    () => (input.value = ''),
    (e: Error) => showError(e.message),
  );
});

/** Follow the stack's stream; when the stack is gone, say so and keep trying until it is back. */
function connect() {
  const events = new EventSource('/sandbox/events');
  events.onmessage = (message) => {
    connection.textContent = 'live';
    connection.className = 'connection live';
    stackGone.hidden = true;
    draw(JSON.parse(message.data as string) as ConsoleSnapshot);
  };
  events.onerror = () => {
    connection.textContent = 'reconnecting…';
    connection.className = 'connection down';
    stackGone.textContent = STACK_GONE;
    stackGone.hidden = false;
    // The browser retries by itself unless the answer was not a stream (then it gives up): retry here.
    if (events.readyState === EventSource.CLOSED) setTimeout(connect, 1000);
  };
}
connect();
