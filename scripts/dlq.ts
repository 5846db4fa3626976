import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  type Message,
  type MessageAttributeValue,
} from '@aws-sdk/client-sqs';
import { LAYOUT, queueNames, type QueueName } from '../lib/layout/layout';
import { PdRouterError } from '../lib/errors';
import { LOCAL_AWS_ENV } from '../local/aws';
import { helperEnvProblem, localStackUrl, readSandboxState, whichSandboxLine } from '../local/sandbox-state';
import { parseCommandLine, type CliOutput } from './cli';

/** A usage or lookup problem, told in one line. */
export class DlqError extends PdRouterError {}

const QUEUES = Object.keys(LAYOUT.queues) as QueueName[];

const USAGE = `usage: npm run dlq -- <command> [options]
  list                  what is parked in the DLQs: id, since when, channel or incident, why
  show <id>             one parked message in full (customer text truncated)
  redrive <id>          send one message back to its queue, then delete it from the DLQ
  redrive --all         send every parked message back, each FIFO group in its order

options:
  --queue <q>           only the ${QUEUES.join(' or ')} queue (default: both)
  --stage <s>           a deployed stage (with --region, or AWS_REGION), using your AWS credentials;
                        without it, the local stack that \`npm start\` runs (PD_ROUTER_URL, PORT,
                        its .local-data/sandbox-<port>.json, or AWS_ENDPOINT_URL_SQS)
  --region <r>          the deployed stage's region
  --all                 with redrive: every parked message

An <id> is the message id that list prints (its first 8 characters are enough).`;

/** Where the queues are: a deployed stage, or the local stack's SQS emulator. */
export interface DlqTarget {
  stage: string;
  region?: string;
  /** The local emulator; absent for a deployed stage. */
  endpoint?: string;
}

export interface DlqIo extends CliOutput {
  env: Record<string, string | undefined>;
  sqsClient: (target: DlqTarget) => Pick<SQSClient, 'send'>;
  /** GET a URL of the local stack and parse its JSON. */
  getJson: (url: string) => Promise<unknown>;
  readSandboxUrl: () => string | undefined;
  now: () => number;
}

interface Options {
  queue?: string;
  stage?: string;
  region?: string;
  all?: boolean;
}

/** One parked message, as the tool shows it. */
export interface Parked {
  queue: QueueName;
  message: Message;
}

const MAX_RECEIVE = 10;
/** How long a listed message stays hidden before it is released again (a crash of the tool included). */
const HOLD_SECONDS = 60;

/** Find the local stack the way the sandbox helpers do, and ask it where its SQS emulator listens. */
async function localTarget(io: DlqIo): Promise<DlqTarget> {
  const endpoint = io.env.AWS_ENDPOINT_URL_SQS?.trim();
  if (endpoint) return { stage: 'local', endpoint };
  const sandboxUrl = io.readSandboxUrl();
  const url = localStackUrl(io.env, sandboxUrl === undefined ? undefined : { url: sandboxUrl });
  if (!url) throw new DlqError(whichSandboxLine(io.env, 'npm run dlq -- list') ?? 'no local stack found: start one with `npm start` (or set PD_ROUTER_URL or PORT), or give --stage and --region for a deployed stage');
  let health: { sqsEndpoint?: unknown; stage?: unknown };
  try {
    health = (await io.getJson(new URL('/health', url).toString())) as typeof health;
  } catch {
    throw new DlqError(`the local stack at ${url} does not answer: is \`npm start\` still running?`);
  }
  if (typeof health.sqsEndpoint !== 'string') throw new DlqError(`the local stack at ${url} did not say where its SQS emulator listens`);
  return { stage: typeof health.stage === 'string' ? health.stage : 'local', endpoint: health.sqsEndpoint };
}

async function queueUrl(sqs: Pick<SQSClient, 'send'>, name: string): Promise<string> {
  try {
    return (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl!;
  } catch (error) {
    const code = (error as { name?: string }).name ?? '';
    if (/NonExistentQueue|QueueDoesNotExist/.test(code)) throw new DlqError(`queue ${name} does not exist: is the stage deployed in this region?`);
    throw new DlqError(`could not reach SQS for ${name}: ${code || (error as Error).message}`);
  }
}

/** Hand messages back at once: a listing must not hold a FIFO group for the visibility timeout. */
async function release(sqs: Pick<SQSClient, 'send'>, url: string, messages: readonly Message[]): Promise<void> {
  for (let i = 0; i < messages.length; i += MAX_RECEIVE) {
    const chunk = messages.slice(i, i + MAX_RECEIVE);
    await sqs.send(
      new ChangeMessageVisibilityBatchCommand({ QueueUrl: url, Entries: chunk.map((m, n) => ({ Id: String(n), ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: 0 })) }),
    );
  }
}

/**
 * Receive what can be received now. A FIFO queue hands out the messages of a group only while
 * none of that group is in flight, so messages queued behind those received stay unseen until
 * the first ones are released or deleted; `waiting` counts them.
 */
async function receiveAll(sqs: Pick<SQSClient, 'send'>, url: string, waitSeconds: number): Promise<{ messages: Message[]; waiting: number }> {
  const messages: Message[] = [];
  for (;;) {
    const batch = await receiveBatch(sqs, url, waitSeconds);
    if (!batch.length) break;
    messages.push(...batch);
  }
  const attributes = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }))).Attributes ?? {};
  return { messages: sortByGroupOrder(messages), waiting: Number(attributes.ApproximateNumberOfMessages ?? 0) };
}

/** One receive, held for HOLD_SECONDS, in sequence order. */
async function receiveBatch(sqs: Pick<SQSClient, 'send'>, url: string, waitSeconds: number): Promise<Message[]> {
  const result = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      MaxNumberOfMessages: MAX_RECEIVE,
      // In AWS a short wait makes SQS ask all its servers, so an empty answer means empty; the
      // local emulator is one server.
      WaitTimeSeconds: waitSeconds,
      VisibilityTimeout: HOLD_SECONDS,
      MessageAttributeNames: ['All'],
      MessageSystemAttributeNames: ['All'],
    }),
  );
  return sortByGroupOrder(result.Messages ?? []);
}

const sequence = (m: Message) => BigInt(m.Attributes?.SequenceNumber ?? '0');
function sortByGroupOrder(messages: Message[]): Message[] {
  return [...messages].sort((a, b) => (sequence(a) < sequence(b) ? -1 : sequence(a) > sequence(b) ? 1 : 0));
}

/** One line of text whatever the message holds: control characters out, long text cut. */
export function oneLine(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

/** What a parked message is about, from its body: kind, channel, incident, customer text (cut to `textMax`). */
export function describeBody(body: string, textMax: number): string {
  let event: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    event = parsed as Record<string, unknown>;
  } catch {
    return `unreadable body: "${oneLine(body, textMax)}"`;
  }
  // One channel's part of a PagerDuty event carries the event itself.
  const about = event.kind === 'incident.link' && event.event !== null && typeof event.event === 'object' ? (event.event as Record<string, unknown>) : event;
  const incident = about.incident !== null && typeof about.incident === 'object' ? (about.incident as Record<string, unknown>) : undefined;
  const parts = [
    typeof event.kind === 'string' ? oneLine(event.kind, 40) : 'unknown kind',
    typeof event.channel === 'string' ? `channel ${oneLine(event.channel, 40)}` : undefined,
    typeof event.dedupKey === 'string' ? `escalation ${oneLine(event.dedupKey, 40)}` : undefined,
    typeof incident?.id === 'string' ? `incident ${oneLine(incident.id, 40)}` : typeof event.incidentId === 'string' ? `incident ${oneLine(event.incidentId, 40)}` : undefined,
    typeof about.eventType === 'string' ? oneLine(about.eventType, 40) : undefined,
    typeof event.actionId === 'string' ? `button ${oneLine(event.actionId, 40)}` : undefined,
    typeof event.text === 'string' ? `"${oneLine(event.text, textMax)}"` : undefined,
  ];
  return parts.filter(Boolean).join('  ');
}

function reasonOf(message: Message, queue: QueueName): string {
  const reason = message.MessageAttributes?.reason?.StringValue;
  if (reason) return oneLine(reason, 300);
  return `failed ${LAYOUT.queues[queue].maxReceiveCount} deliveries, so SQS moved it here (the ${LAYOUT.queues[queue].worker} logs say why, under its event id)`;
}

function sinceOf(message: Message, now: number): string {
  const sent = Number(message.Attributes?.SentTimestamp);
  return Number.isFinite(sent) && sent > 0 ? `${new Date(sent).toISOString()} (${age(now - sent)} ago)` : 'unknown';
}

interface Located {
  queue: QueueName;
  waitSeconds: number;
  name: string;
  url: string;
  sourceUrl: string;
}

async function locate(sqs: Pick<SQSClient, 'send'>, target: DlqTarget, queues: readonly QueueName[]): Promise<Located[]> {
  const { stage } = target;
  const out: Located[] = [];
  for (const queue of queues) {
    const names = queueNames(stage, queue);
    out.push({ queue, waitSeconds: target.endpoint ? 0 : 1, name: names.dlq, url: await queueUrl(sqs, names.dlq), sourceUrl: await queueUrl(sqs, names.queue) });
  }
  return out;
}

function matches(message: Message, id: string): boolean {
  return message.MessageId === id || (id.length >= 6 && (message.MessageId ?? '').startsWith(id));
}

/**
 * Send a parked message back to its source queue in its own FIFO group, under a de-duplication
 * id derived from its DLQ message id: run twice (the tool interrupted between the send and the
 * delete), SQS drops the second send instead of delivering the event twice.
 */
async function redriveOne(sqs: Pick<SQSClient, 'send'>, where: Located, message: Message): Promise<void> {
  const attributes: Record<string, MessageAttributeValue> = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) if (name !== 'reason') attributes[name] = value;
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: where.sourceUrl,
      MessageBody: message.Body ?? '',
      MessageGroupId: message.Attributes?.MessageGroupId ?? 'unknown',
      MessageDeduplicationId: `redrive-${message.MessageId}`,
      ...(Object.keys(attributes).length ? { MessageAttributes: attributes } : {}),
    }),
  );
  // Only once the send has succeeded: a failure above leaves the message parked, not lost.
  await sqs.send(new DeleteMessageCommand({ QueueUrl: where.url, ReceiptHandle: message.ReceiptHandle! }));
}

async function list(sqs: Pick<SQSClient, 'send'>, located: Located[], io: DlqIo): Promise<number> {
  for (const where of located) {
    const { messages, waiting } = await receiveAll(sqs, where.url, where.waitSeconds);
    await release(sqs, where.url, messages);
    io.stdout(`${where.queue} DLQ (${where.name}): ${messages.length ? `${messages.length} parked` : 'empty'}`);
    for (const m of messages) {
      io.stdout(`  ${m.MessageId}  since ${sinceOf(m, io.now())}  group ${oneLine(m.Attributes?.MessageGroupId ?? '?', 64)}`);
      io.stdout(`      ${describeBody(m.Body ?? '', 40)}`);
      io.stdout(`      why: ${reasonOf(m, where.queue)}`);
    }
    if (waiting > 0) io.stdout(`  …and about ${waiting} more behind these in their FIFO groups (redrive the first ones to see them)`);
  }
  return 0;
}

async function show(sqs: Pick<SQSClient, 'send'>, located: Located[], id: string, io: DlqIo): Promise<number> {
  for (const where of located) {
    const { messages } = await receiveAll(sqs, where.url, where.waitSeconds);
    await release(sqs, where.url, messages);
    const found = messages.filter((m) => matches(m, id));
    if (found.length > 1) throw new DlqError(`${id} matches ${found.length} messages: give more of the id`);
    const m = found[0];
    if (!m) continue;
    io.stdout(`${m.MessageId} in the ${where.queue} DLQ`);
    io.stdout(`  parked since:  ${sinceOf(m, io.now())}`);
    io.stdout(`  FIFO group:    ${oneLine(m.Attributes?.MessageGroupId ?? '?', 128)}`);
    io.stdout(`  why:           ${reasonOf(m, where.queue)}`);
    io.stdout(`  about:         ${describeBody(m.Body ?? '', 200)}`);
    io.stdout(`  redrive with:  npm run dlq -- redrive ${m.MessageId}`);
    return 0;
  }
  throw new DlqError(`no parked message ${id} (npm run dlq -- list shows what is parked)`);
}

async function redrive(sqs: Pick<SQSClient, 'send'>, located: Located[], id: string | undefined, io: DlqIo): Promise<number> {
  let sent = 0;
  for (const where of located) {
    if (id === undefined) {
      // Batch by batch, as SQS hands them out: a batch holds the next messages of each group it
      // names, and the group's later messages come only once these are deleted, so sending each
      // batch in sequence order keeps every group in order.
      for (;;) {
        const messages = await receiveBatch(sqs, where.url, where.waitSeconds);
        if (!messages.length) break;
        const failedGroups = new Set<string>();
        for (const m of messages) {
          const group = m.Attributes?.MessageGroupId ?? '';
          if (failedGroups.has(group)) continue;
          try {
            await redriveOne(sqs, where, m);
            sent++;
            io.stdout(`redriven ${m.MessageId} (${where.queue}, group ${oneLine(group, 64)})`);
          } catch (error) {
            failedGroups.add(group);
            io.stderr(`could not redrive ${m.MessageId}: ${(error as Error).name}; its group stays parked, in order`);
          }
        }
        if (failedGroups.size) {
          await release(sqs, where.url, messages.filter((m) => failedGroups.has(m.Attributes?.MessageGroupId ?? '')));
          io.stderr(`${sent} redriven; ${failedGroups.size} group(s) left in the DLQ`);
          return 1;
        }
      }
      continue;
    }
    const { messages } = await receiveAll(sqs, where.url, where.waitSeconds);
    const found = messages.filter((m) => matches(m, id));
    if (found.length !== 1) {
      await release(sqs, where.url, messages);
      if (found.length > 1) throw new DlqError(`${id} matches ${found.length} messages: give more of the id`);
      continue;
    }
    const target = found[0]!;
    const group = target.Attributes?.MessageGroupId;
    const ahead = messages.filter((m) => m !== target && m.Attributes?.MessageGroupId === group && sequence(m) < sequence(target));
    if (ahead.length) {
      await release(sqs, where.url, messages);
      throw new DlqError(`${target.MessageId} waits behind ${ahead.length} earlier message(s) of its FIFO group (${ahead.map((m) => m.MessageId).join(', ')}): redrive those first, or use --all`);
    }
    try {
      await redriveOne(sqs, where, target);
    } finally {
      await release(sqs, where.url, messages.filter((m) => m !== target));
    }
    io.stdout(`redriven ${target.MessageId} to the ${where.queue} queue (group ${oneLine(group ?? '?', 64)}); it is processed like a new message`);
    return 0;
  }
  if (id !== undefined) throw new DlqError(`no parked message ${id} (npm run dlq -- list shows what is parked)`);
  io.stdout(sent ? `${sent} message(s) redriven` : 'nothing parked: nothing to redrive');
  return 0;
}

/** `npm run dlq -- …`: returns the exit code (0 done, 1 failed, 2 usage). */
export async function runDlq(argv: readonly string[], io: DlqIo): Promise<number> {
  const [command, ...rest] = argv;
  const id = rest[0] !== undefined && !rest[0].startsWith('-') ? rest.shift() : undefined;
  const parsed = parseCommandLine<Options>(
    command !== undefined && command.startsWith('-') ? argv : rest,
    { queue: { type: 'string' }, stage: { type: 'string' }, region: { type: 'string' }, all: { type: 'boolean' } },
    USAGE,
    io,
  );
  if ('exitCode' in parsed) return parsed.exitCode;
  const { values } = parsed;
  const usage = (problem: string) => {
    io.stderr(`${problem}\n\n${USAGE}`);
    return 2;
  };
  if (command === undefined || command.startsWith('-')) return usage('say what to do: list, show or redrive');
  if (!['list', 'show', 'redrive'].includes(command)) return usage(`unknown command ${command}`);
  if (command === 'show' && !id) return usage('show needs the id of a parked message');
  if (command === 'redrive' && Boolean(id) === Boolean(values.all)) return usage('redrive needs either one id or --all');
  if (command !== 'redrive' && values.all) return usage('--all goes with redrive only');
  if (command === 'list' && id) return usage('list takes no id');
  if (values.queue !== undefined && !(QUEUES as string[]).includes(values.queue)) return usage(`--queue must be ${QUEUES.join(' or ')}`);
  if (values.region !== undefined && values.stage === undefined) return usage('--region goes with --stage (a deployed stage)');
  const envProblem = values.stage === undefined && !io.env.AWS_ENDPOINT_URL_SQS?.trim() ? helperEnvProblem(io.env) : undefined;
  if (envProblem) return usage(envProblem);

  try {
    let target: DlqTarget;
    if (values.stage !== undefined) {
      const stage = values.stage.trim();
      if (!/^[A-Za-z0-9-]+$/.test(stage)) return usage('--stage must be a stage name (letters, digits, dashes)');
      const region = values.region?.trim() || io.env.AWS_REGION?.trim() || io.env.AWS_DEFAULT_REGION?.trim();
      if (!region) return usage('--stage needs --region (or AWS_REGION)');
      target = { stage, region };
    } else target = await localTarget(io);
    const sqs = io.sqsClient(target);
    const located = await locate(sqs, target, values.queue ? [values.queue as QueueName] : QUEUES);
    if (command === 'list') return await list(sqs, located, io);
    if (command === 'show') return await show(sqs, located, id!, io);
    return await redrive(sqs, located, id, io);
  } catch (error) {
    if (error instanceof PdRouterError) io.stderr(error.message);
    else io.stderr(`dlq failed: ${(error as Error).name}: ${oneLine((error as Error).message ?? '', 200)}`);
    return 1;
  }
}

/** The SQS client for a target: the local emulator with its made-up credentials, or AWS with the caller's. */
export function sqsClientFor(target: DlqTarget): SQSClient {
  if (target.endpoint) {
    return new SQSClient({
      endpoint: target.endpoint,
      region: LOCAL_AWS_ENV.AWS_REGION,
      credentials: { accessKeyId: LOCAL_AWS_ENV.AWS_ACCESS_KEY_ID, secretAccessKey: LOCAL_AWS_ENV.AWS_SECRET_ACCESS_KEY },
      // The emulator's queue URLs name a host that does not resolve.
      useQueueUrlAsEndpoint: false,
    });
  }
  return new SQSClient({ region: target.region! });
}

if (require.main === module) {
  void runDlq(process.argv.slice(2), {
    env: process.env,
    sqsClient: sqsClientFor,
    getJson: async (url) => (await fetch(url, { signal: AbortSignal.timeout(3000) })).json(),
    readSandboxUrl: () => readSandboxState()?.url,
    now: Date.now,
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
  }).then((code) => {
    process.exitCode = code;
  });
}
