import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { build } from 'esbuild';
import { CANCEL_PAGE_ACTION_ID, CHECK_STATUS_ACTION_ID, PAGE_ONCALL_ACTION_ID } from '../../lib/slack/normalize';
import type { Customer } from '../../lib/store/customers';
import { makeDocumentClient } from '../../lib/store/dynamo';
import { makeHistory, type History } from '../../lib/store/history';
import { recentSummary } from '../../lib/report/report';
import type { LocalStack, StackOptions } from '../stack';
import { readBody, sendJson } from '../stand-ins/http-util';
import { STAND_IN_BOT_USER_ID } from '../stand-ins/slack';
import { SandboxDriver, type IncidentAction, type SlackButton } from './driver';
import { buildTranscripts, customerUserId, incidentViews, userNames, type ChannelInfo, type ConsoleSnapshot, type CustomerCard } from './transcript';

const HERE = __dirname;
const ACTIONS: IncidentAction[] = ['acknowledge', 'reassign', 'resolve'];
/** The buttons pd-router puts in its messages: what a customer can click in the console. */
const CONSOLE_BUTTONS = new Set([CHECK_STATUS_ACTION_ID, PAGE_ONCALL_ACTION_ID, CANCEL_PAGE_ACTION_ID]);
/** Reassign hands the incident to the other sandbox responder. */
const RESPONDERS = ['Sandbox On-Call', 'Second On-Call'];

/** The console's script, bundled from TypeScript once per process: no build step to forget. */
async function buildScript(): Promise<string> {
  const result = await build({
    entryPoints: [path.join(HERE, 'browser', 'app.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    target: 'es2020',
    sourcemap: 'inline',
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

/**
 * The console's channels: the sandbox's own, then every other registered customer's, so that a
 * customer registered while the console is open (`npm run customers -- add`) gets its column at
 * once, before anyone writes there. Channels only seen in the records follow (buildTranscripts).
 */
function consoleChannels(channels: ChannelInfo[], registered: readonly Customer[]): ChannelInfo[] {
  const known = new Set(channels.map((c) => c.id));
  // Named as the Slack stand-in names a channel it was given no name for.
  return [...channels, ...registered.filter((c) => !known.has(c.channel)).map((c) => ({ id: c.channel, name: c.channel.toLowerCase() }))];
}

async function snapshotOf(stack: LocalStack, channels: ChannelInfo[]): Promise<ConsoleSnapshot> {
  const registered = await stack.customers.all();
  const transcripts = buildTranscripts({ messages: stack.slack!.messages, ephemerals: stack.slack!.ephemerals }, consoleChannels(channels, registered));
  return {
    botUserId: STAND_IN_BOT_USER_ID,
    users: userNames(transcripts),
    channels: transcripts,
    incidents: incidentViews([...stack.pagerDuty!.incidents.values()], stack.pagerDuty!.notes),
    customers: await customerCards(stack, transcripts, registered),
    service: stack.pagerDuty!.serviceState(),
  };
}

const RECENT_DAYS = 30;
const histories = new WeakMap<LocalStack, History>();

/** A channel's last 30 days from the stack's escalation history, read as the report reads it (by Query). */
async function recentOf(stack: LocalStack, channel: string, now: number) {
  let history = histories.get(stack);
  if (!history) {
    // The TTL matters only to writes, and this only reads.
    history = makeHistory(makeDocumentClient({ AWS_ENDPOINT_URL_DYNAMODB: stack.dynamo.endpoint }), stack.dynamo.tableName, { ttlDays: 1 });
    histories.set(stack, history);
  }
  const to = new Date(now);
  const records = await history.query({ from: new Date(now - RECENT_DAYS * 86_400_000), to: new Date(now + 1), channel });
  return recentSummary(records, to, RECENT_DAYS);
}

/** Each console channel's customer card: name, pages left in the rolling hour, confirmation. */
async function customerCards(stack: LocalStack, channels: ChannelInfo[], registered: readonly Customer[]): Promise<Record<string, CustomerCard>> {
  const now = Date.now();
  const byChannel = new Map(registered.map((customer) => [customer.channel, customer]));
  const cards = await Promise.all(
    channels.map(async ({ id }) => {
      const customer = byChannel.get(id);
      if (!customer) return undefined;
      const [used, recent] = await Promise.all([stack.pageBudget.used(id, now), recentOf(stack, id, now)]);
      return [id, { name: customer.name, pagesPerHour: customer.pagesPerHour, budgetLeft: Math.max(0, customer.pagesPerHour - used), confirm: customer.confirm, recent }] as const;
    }),
  );
  return Object.fromEntries(cards.filter((card) => card !== undefined));
}

/** How often the stream looks for changes of the customer registry (`npm run customers` makes them in another process). */
const REGISTRY_POLL_MS = 1000;

/** Server-sent events: the whole snapshot on connect and after each change, coalesced. */
function stream(request: IncomingMessage, response: ServerResponse, stack: LocalStack, channels: ChannelInfo[]) {
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
  let timer: NodeJS.Timeout | undefined;
  // One snapshot at a time, so that an older one never arrives after a newer one.
  let sending = Promise.resolve();
  const send = () => {
    timer = undefined;
    sending = sending
      .then(() => snapshotOf(stack, channels))
      // A snapshot the store could not complete is skipped: the next change sends a whole one.
      .then((snapshot) => void response.write(`data: ${JSON.stringify(snapshot)}\n\n`), () => undefined);
  };
  const schedule = () => (timer ??= setTimeout(send, 25));
  const unsubscribe = [stack.slack!.onChange(schedule), stack.pagerDuty!.onChange(schedule)];
  // The registry changes through the admin route, which tells no one: a customer added, updated or
  // removed is seen here within a second and redrawn (its column, its card).
  let registry: string | undefined;
  let polling = false;
  const registryPoll = setInterval(() => {
    if (polling) return;
    polling = true;
    stack.customers
      .all()
      .then((customers) => {
        const seen = JSON.stringify(customers);
        // The first look also redraws: a change just after the first snapshot is not missed.
        if (seen !== registry) schedule();
        registry = seen;
      })
      .catch(() => undefined)
      .finally(() => (polling = false));
  }, REGISTRY_POLL_MS);
  // A comment now and then keeps proxies and the browser from closing an idle stream.
  const keepAlive = setInterval(() => response.write(': keep-alive\n\n'), 15_000);
  request.on('close', () => {
    clearTimeout(timer);
    clearInterval(registryPoll);
    clearInterval(keepAlive);
    for (const off of unsubscribe) off();
  });
  send();
}

async function readJson(request: IncomingMessage): Promise<Record<string, unknown>> {
  const raw = (await readBody(request, 64 * 1024)).toString('utf8');
  return raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
}

const text = (value: unknown) => (typeof value === 'string' ? value : '');

/** The stack's server answers a thrown error with its `status`. */
function httpError(status: number, message: string): Error {
  return Object.assign(new Error(message), { status });
}

/** Slack names a block it was given no block_id for, once, when it stores the message: the same name at every click. */
function generatedBlockId(messageTs: string, index: number): string {
  return createHash('sha256').update(`${messageTs}/${index}`).digest('base64url').slice(0, 5);
}

/**
 * The button a customer clicked, as Slack knows it: the element in the actions block of the
 * message `messageTs` in `channel` (a message, or an ephemeral the clicker sees), with the block's
 * id and the message as Slack sends it to the app. A click on a button the message no longer
 * has (a prompt already decided) is refused, as Slack shows it to nobody.
 */
function findButton(stack: LocalStack, channel: string, messageTs: string, actionId: string, value: string) {
  if (!CONSOLE_BUTTONS.has(actionId)) throw httpError(400, `no button "${actionId.slice(0, 40)}" in pd-router's messages`);
  const message = stack.slack!.messages.find((m) => m.channel === channel && m.ts === messageTs);
  const ephemeral = message ? undefined : stack.slack!.ephemerals.find((e) => e.channel === channel && e.ts === messageTs);
  const blocks = (message ?? ephemeral)?.blocks as { type?: string; block_id?: string; elements?: SlackButton[] }[] | undefined;
  const index = (blocks ?? []).findIndex((b) => b.type === 'actions' && (b.elements ?? []).some((e) => e.action_id === actionId && (e.value ?? '') === value));
  if (!blocks || index < 0) throw httpError(409, 'that button is no longer on the message (it was answered already)');
  const blockId = blocks[index]!.block_id ?? generatedBlockId(messageTs, index);
  const button = blocks[index]!.elements!.find((e) => e.action_id === actionId && (e.value ?? '') === value)!;
  const shown = blocks.map((b, i) => ({ ...b, block_id: b.block_id ?? generatedBlockId(messageTs, i) }));
  return {
    button,
    at: {
      messageTs,
      blockId,
      ...(message
        ? { message: { type: 'message', user: message.user, ts: message.ts, bot_id: 'BSANDBOX', app_id: 'ASANDBOX', text: message.text, blocks: shown, ...(message.threadTs ? { thread_ts: message.threadTs } : {}) } }
        : { isEphemeral: true }),
    },
  };
}

/**
 * The sandbox console at /sandbox, for the stack's `routes` hook: one column per customer
 * channel, the sandbox incidents, and a box per channel to type as a customer. It reads the
 * stand-ins' records and acts only through {@link SandboxDriver}, i.e. through the router's
 * real ingress, queues and workers.
 */
export function sandboxConsole(options: { channels: ChannelInfo[] }): NonNullable<StackOptions['routes']> {
  const script = buildScript();
  script.catch(() => undefined); // reported when the page asks for it
  const drivers = new WeakMap<LocalStack, SandboxDriver>();

  return async function routes(request, response, stack) {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (parts[0] !== 'sandbox' || !stack?.sandbox || !stack.slack || !stack.pagerDuty) return false;
    const driver = drivers.get(stack) ?? new SandboxDriver({ url: stack.url, slackApiUrl: stack.slack.apiUrl, pagerDutyUrl: stack.pagerDuty.url, slackSigningSecret: stack.secrets.SLACK_SIGNING_SECRET });
    drivers.set(stack, driver);
    const route = `${request.method} /${parts.slice(1, 2).join('/')}`;

    if (route === 'GET /' && parts.length === 1) {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      response.end(await readFile(path.join(HERE, 'assets', 'index.html')));
    } else if (route === 'GET /console.css') {
      response.writeHead(200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'no-store' });
      response.end(await readFile(path.join(HERE, 'assets', 'console.css')));
    } else if (route === 'GET /app.js') {
      response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' });
      response.end(await script);
    } else if (route === 'GET /state') {
      sendJson(response, 200, await snapshotOf(stack, options.channels));
    } else if (route === 'GET /events') {
      stream(request, response, stack, options.channels);
    } else if (route === 'POST /channels' && parts[3] === 'messages') {
      // POST /sandbox/channels/{channel}/messages {text}: a customer types in the channel.
      const body = await readJson(request);
      if (!text(body.text).trim()) throw httpError(400, 'text is required');
      const slash = /^(\/\S+)\s*([\s\S]*)$/.exec(text(body.text).trim());
      if (slash) {
        // As in Slack: the command itself is not posted; its answers are shown to its user only.
        const [channel, user] = [parts[2]!, customerUserId(parts[2]!)];
        const answer = await driver.slashCommand(channel, user, slash[1]!, slash[2]!, stack.slack.responseUrl(channel, user));
        if (answer.text) await fetch(stack.slack.responseUrl(channel, user), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(answer) });
        sendJson(response, 200, { answered: answer.text ?? '' });
        return true;
      }
      sendJson(response, 200, await driver.say(parts[2]!, customerUserId(parts[2]!), text(body.text).trim(), text(body.threadTs) || undefined));
    } else if (route === 'POST /channels' && parts[3] === 'clicks') {
      // POST /sandbox/channels/{channel}/clicks {actionId, value, messageTs}: a customer clicks a
      // button of a message (Check Status, Page on-call, Cancel); Slack sends the app its block_actions.
      const body = await readJson(request);
      const [channel, user] = [parts[2]!, customerUserId(parts[2]!)];
      const clicked = findButton(stack, channel, text(body.messageTs), text(body.actionId), text(body.value));
      sendJson(response, 200, { status: await driver.clickButton(channel, user, clicked.button, { ...clicked.at, responseUrl: stack.slack.responseUrl(channel, user) }) });
    } else if (route === 'POST /incidents' && parts[3] === 'status-update') {
      // POST /sandbox/incidents/{id}/status-update {message}: on-call publishes a status update.
      const body = await readJson(request);
      if (!text(body.message).trim()) throw httpError(400, 'a status update needs a message');
      sendJson(response, 200, { incident: await driver.publishStatusUpdate(parts[2]!, text(body.message).trim()) });
    } else if (route === 'POST /service') {
      // POST /sandbox/service {webhooks?: boolean, maintenance?: boolean}: break the service as real ones break.
      const body = await readJson(request);
      if (typeof body.webhooks === 'boolean') stack.pagerDuty.setWebhooks(body.webhooks);
      if (typeof body.maintenance === 'boolean') stack.pagerDuty.setMaintenance(body.maintenance);
      sendJson(response, 200, stack.pagerDuty.serviceState());
    } else if (route === 'POST /incidents' && parts.length === 2) {
      // POST /sandbox/incidents {title}: on-call opens an internal incident by hand.
      const body = await readJson(request);
      if (!text(body.title).trim()) throw httpError(400, 'a title is needed');
      sendJson(response, 200, { incident: await driver.openInternalIncident(text(body.title).trim()) });
    } else if (route === 'POST /incidents' && (parts[3] === 'merge' || parts[3] === 'retitle')) {
      // POST /sandbox/incidents/{id}/merge {into} and /retitle {title}: as on-call does in PagerDuty.
      const body = await readJson(request);
      if (parts[3] === 'merge' && !text(body.into)) throw httpError(400, 'pick the incident to merge into');
      if (parts[3] === 'retitle' && !text(body.title).trim()) throw httpError(400, 'type the new title first');
      const incident = parts[3] === 'merge' ? await driver.mergeIncident(parts[2]!, text(body.into)) : await driver.retitleIncident(parts[2]!, text(body.title).trim());
      sendJson(response, 200, { incident });
    } else if (route === 'POST /incidents' && ACTIONS.includes(parts[3] as IncidentAction)) {
      // POST /sandbox/incidents/{id}/{acknowledge|reassign|resolve}: on-call works the incident.
      const incident = stack.pagerDuty.incidents.get(parts[2]!);
      if (!incident) throw httpError(404, `no sandbox incident ${parts[2]}`);
      const to = RESPONDERS.find((name) => !incident.assignees.includes(name));
      sendJson(response, 200, { incident: await driver.incidentAction(incident.id, parts[3] as IncidentAction, to) });
    } else {
      return false;
    }
    return true;
  };
}
