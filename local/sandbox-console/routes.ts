import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { build } from 'esbuild';
import type { LocalStack, StackOptions } from '../stack';
import { readBody, sendJson } from '../stand-ins/http-util';
import { STAND_IN_BOT_USER_ID } from '../stand-ins/slack';
import { SandboxDriver, type IncidentAction } from './driver';
import { buildTranscripts, customerUserId, incidentViews, userNames, type ChannelInfo, type ConsoleSnapshot, type CustomerCard } from './transcript';

const HERE = __dirname;
const ACTIONS: IncidentAction[] = ['acknowledge', 'reassign', 'resolve'];
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

async function snapshotOf(stack: LocalStack, channels: ChannelInfo[]): Promise<ConsoleSnapshot> {
  const transcripts = buildTranscripts({ messages: stack.slack!.messages, ephemerals: stack.slack!.ephemerals }, channels);
  return {
    botUserId: STAND_IN_BOT_USER_ID,
    users: userNames(transcripts),
    channels: transcripts,
    incidents: incidentViews([...stack.pagerDuty!.incidents.values()], stack.pagerDuty!.notes),
    customers: await customerCards(stack, channels),
    service: stack.pagerDuty!.serviceState(),
  };
}

/** Each console channel's customer card: name, pages left in the rolling hour, confirmation. */
async function customerCards(stack: LocalStack, channels: ChannelInfo[]): Promise<Record<string, CustomerCard>> {
  const now = Date.now();
  const cards = await Promise.all(
    channels.map(async ({ id }) => {
      const customer = await stack.customers.get(id);
      if (!customer) return undefined;
      const used = await stack.pageBudget.used(id, now);
      return [id, { name: customer.name, pagesPerHour: customer.pagesPerHour, budgetLeft: Math.max(0, customer.pagesPerHour - used), confirm: customer.confirm }] as const;
    }),
  );
  return Object.fromEntries(cards.filter((card) => card !== undefined));
}

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
  // A comment now and then keeps proxies and the browser from closing an idle stream.
  const keepAlive = setInterval(() => response.write(': keep-alive\n\n'), 15_000);
  request.on('close', () => {
    clearTimeout(timer);
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
      // POST /sandbox/channels/{channel}/clicks {value, messageTs}: a customer clicks Check Status.
      const body = await readJson(request);
      sendJson(response, 200, { status: await driver.clickCheckStatus(parts[2]!, customerUserId(parts[2]!), text(body.value), text(body.messageTs)) });
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
