import { writeFile } from 'node:fs/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../lib/layout/layout';
import { PdRouterError } from '../lib/errors';
import { parseMinutes } from '../lib/runtime/duration';
import { checkChannelId } from '../lib/store/customers';
import { makeHistory } from '../lib/store/history';
import { readReportCustomers } from '../lib/store/report-customers';
import { buildReport } from '../lib/report/report';
import { renderCsv, renderHtml, renderJson, renderText } from '../lib/report/render';
import { LOCAL_AWS_ENV } from '../local/aws';
import { helperEnvProblem, localStackUrl, readSandboxState, whichSandboxLine } from '../local/sandbox-state';
import { parseCommandLine, usageError, type CliOutput } from './cli';

const USAGE = `usage: npm run report -- [--since 30d | --from <date> [--to <date>]] [--customer <channel-id>]
                         [--format table|csv|json|html] [--out <file>] [--stage <stage> --region <region>]
  How each customer's escalations went: how many were asked, paged, folded into an open one or
  refused (and why), the time to page, to acknowledge and to resolve (median, p90, max), the
  response targets met and missed (npm run customers -- update <channel> --ack-within 15m
  --resolve-within 4h), week by week. It only reads the escalation history (docs/reports.md).

options:
  --since <duration>      the period up to now: 30d (the default), 12h, 2d…
  --from <date>           the period's start: 2026-11-01 (00:00 UTC) or an ISO time
  --to <date>             its end (default now): a date counts whole (2026-11-30 runs to its end)
  --customer <channel>    one customer channel; default: every customer that asked
  --format <f>            table (default), csv, json, or html (with --out: one file with the
                          charts drawn in, nothing loaded when it is opened)
  --out <file>            write to this file instead of standard output
  --stage <s>             a deployed stage (with --region, or AWS_REGION), using your AWS
                          credentials; they need the stack's pd-router-<stage>-report policy
                          (Query only); without it, the local stack \`npm start\` runs (PORT or
                          PD_ROUTER_URL)
  --region <r>            the deployed stage's region`;

const FORMATS = ['table', 'csv', 'json', 'html'] as const;
type Format = (typeof FORMATS)[number];

/** A problem that stops the report, told in one line. */
export class ReportError extends PdRouterError {
  override name = 'ReportError';
}

export interface ReportTarget {
  tableName: string;
  /** The local stack's DynamoDB (dynalite); absent: AWS in `region`. */
  endpoint?: string;
  region?: string;
  stage?: string;
}

export interface ReportIo extends CliOutput {
  env: Record<string, string | undefined>;
  now: () => Date;
  getJson: (url: string) => Promise<unknown>;
  readSandboxUrl: () => string | undefined;
  writeFile: (path: string, text: string) => Promise<void>;
  /** A line that replaces itself (a terminal's stderr), or undefined where it would only clutter a log. */
  progress?: (line: string) => void;
  documentClient?: (target: ReportTarget) => DynamoDBDocumentClient;
}

interface Options {
  since?: string;
  from?: string;
  to?: string;
  customer?: string;
  format?: string;
  out?: string;
  stage?: string;
  region?: string;
}

/** A date or time a person typed; `endOfDay` makes a bare date run to the end of that day. */
function parseInstant(text: string, option: string, endOfDay: boolean): Date {
  const trimmed = text.trim();
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(trimmed);
  const at = new Date(dateOnly ? `${trimmed}T00:00:00.000Z` : trimmed);
  if (Number.isNaN(at.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(trimmed)) throw new ReportError(`${option} is a date (2026-11-01) or an ISO time (2026-11-01T09:00:00Z), not "${trimmed.slice(0, 40)}"`);
  if (dateOnly && endOfDay) at.setUTCDate(at.getUTCDate() + 1);
  return at;
}

/** The period the options name: `[from, to)`. */
export function periodOf(values: Options, now: Date): { from: Date; to: Date } {
  if (values.since !== undefined && (values.from !== undefined || values.to !== undefined)) throw new ReportError('--since is the period up to now: give it, or --from (and --to), not both');
  if (values.to !== undefined && values.from === undefined) throw new ReportError('--to goes with --from');
  if (values.from !== undefined) {
    const from = parseInstant(values.from, '--from', false);
    const to = values.to !== undefined ? parseInstant(values.to, '--to', true) : now;
    if (to <= from) throw new ReportError('--to must be after --from');
    return { from, to };
  }
  let minutes: number;
  try {
    minutes = parseMinutes(values.since ?? '30d', '--since');
  } catch (error) {
    throw new ReportError((error as Error).message);
  }
  return { from: new Date(now.getTime() - minutes * 60_000), to: now };
}

async function localTarget(io: ReportIo): Promise<ReportTarget> {
  const sandboxUrl = io.readSandboxUrl();
  const url = localStackUrl(io.env, sandboxUrl === undefined ? undefined : { url: sandboxUrl });
  if (!url) throw new ReportError(whichSandboxLine(io.env, 'npm run report') ?? 'no local stack found: start one with `npm start` (or set PD_ROUTER_URL or PORT), or give --stage and --region for a deployed stage');
  let health: { dynamoEndpoint?: unknown; tableName?: unknown; stage?: unknown };
  try {
    health = (await io.getJson(new URL('/health', url).toString())) as typeof health;
  } catch {
    throw new ReportError(`the local stack at ${url} does not answer: is \`npm start\` still running?`);
  }
  if (typeof health.dynamoEndpoint !== 'string' || typeof health.tableName !== 'string') throw new ReportError(`the local stack at ${url} did not say where its DynamoDB listens`);
  return { tableName: health.tableName, endpoint: health.dynamoEndpoint };
}

export function documentClientFor(target: ReportTarget): DynamoDBDocumentClient {
  const client = target.endpoint
    ? new DynamoDBClient({ endpoint: target.endpoint, region: LOCAL_AWS_ENV.AWS_REGION, credentials: { accessKeyId: LOCAL_AWS_ENV.AWS_ACCESS_KEY_ID, secretAccessKey: LOCAL_AWS_ENV.AWS_SECRET_ACCESS_KEY } })
    : new DynamoDBClient({ region: target.region! });
  return DynamoDBDocumentClient.from(client);
}

/** An AWS failure as one line that says what to do. */
function describeAwsError(error: unknown, target: ReportTarget): string {
  const cause = (error as { cause?: unknown }).cause ?? error;
  const name = (cause as { name?: string }).name ?? '';
  const message = String((cause as { message?: string }).message ?? '').split('\n')[0]!.slice(0, 200);
  if (/AccessDenied|UnrecognizedClient|NotAuthorized/.test(name)) return `not allowed to read ${target.tableName}: attach the stack's ${target.stage ? `pd-router-${target.stage}-report` : 'report'} policy to your AWS identity (${name})`;
  if (name === 'ResourceNotFoundException') return `${target.tableName} or its history index does not exist: is the stage deployed in this region, with this version?`;
  if (/CredentialsProviderError|Could not load credentials/.test(`${name} ${message}`)) return 'no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY';
  return `could not read the history from ${target.tableName}: ${name || 'error'}: ${message}`;
}

/** `npm run report -- …`: returns the exit code (0 done, 1 failed, 2 usage). */
export async function runReport(argv: readonly string[], io: ReportIo): Promise<number> {
  const parsed = parseCommandLine<Options>(
    argv,
    { since: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, customer: { type: 'string' }, format: { type: 'string' }, out: { type: 'string' }, stage: { type: 'string' }, region: { type: 'string' } },
    USAGE,
    io,
  );
  if ('exitCode' in parsed) return parsed.exitCode;
  const { values } = parsed;
  const usage = (problem: string) => usageError(io, USAGE, problem);
  const format = (values.format ?? 'table') as Format;
  if (!FORMATS.includes(format)) return usage(`--format is one of ${FORMATS.join(', ')}`);
  if (format === 'html' && !values.out) return usage('--format html needs --out <file> (a page is no use on a terminal)');
  if (values.region !== undefined && values.stage === undefined) return usage('--region goes with --stage (a deployed stage)');
  let period: { from: Date; to: Date };
  let customer: string | undefined;
  try {
    period = periodOf(values, io.now());
    customer = values.customer === undefined ? undefined : checkChannelId(values.customer.trim());
  } catch (error) {
    return usage((error as Error).message);
  }
  let target: ReportTarget;
  if (values.stage !== undefined) {
    const stage = values.stage.trim();
    if (!/^[A-Za-z0-9-]+$/.test(stage)) return usage('--stage must be a stage name (letters, digits, dashes)');
    const region = values.region?.trim() || io.env.AWS_REGION?.trim() || io.env.AWS_DEFAULT_REGION?.trim();
    if (!region) return usage('--stage needs --region (or AWS_REGION)');
    target = { stage, region, tableName: tableName(stage) };
  } else {
    const envProblem = helperEnvProblem(io.env);
    if (envProblem) return usage(envProblem);
    try {
      target = await localTarget(io);
    } catch (error) {
      io.stderr((error as Error).message);
      return 1;
    }
  }

  const db = (io.documentClient ?? documentClientFor)(target);
  try {
    // TTL days do not matter to a reader: only writes set an expiry.
    const history = makeHistory(db, target.tableName, { ttlDays: 1 });
    let shown = false;
    const [records, customers] = await Promise.all([
      history.query({
        from: period.from,
        to: period.to,
        ...(customer ? { channel: customer } : {}),
        onPage: (read) => {
          shown = true;
          io.progress?.(`reading the history… ${read.toLocaleString('en')} escalations`);
        },
      }),
      readReportCustomers(db, target.tableName),
    ]);
    if (shown) io.progress?.('');
    const report = buildReport(records, customers, period, io.now(), customer);
    const text = format === 'csv' ? renderCsv(report) : format === 'json' ? renderJson(report) : format === 'html' ? await renderHtml(report, customer) : renderText(report, customer);
    if (values.out) {
      try {
        await io.writeFile(values.out, `${text}\n`);
      } catch (error) {
        io.stderr(`cannot write ${values.out}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
        return 1;
      }
      io.stdout(`wrote ${values.out}: ${report.total.asked} escalation(s) from ${report.from.slice(0, 10)} to ${report.to.slice(0, 10)}`);
    } else io.stdout(text);
    return 0;
  } catch (error) {
    io.stderr(describeAwsError(error, target));
    return 1;
  } finally {
    db.destroy();
  }
}

if (require.main === module) {
  const tty = process.stderr.isTTY;
  void runReport(process.argv.slice(2), {
    env: process.env,
    now: () => new Date(),
    getJson: async (url) => (await fetch(url, { signal: AbortSignal.timeout(3000) })).json(),
    readSandboxUrl: () => readSandboxState()?.url,
    writeFile: (path, text) => writeFile(path, text, 'utf8'),
    ...(tty ? { progress: (line: string) => process.stderr.write(`\r\x1b[2K${line}`) } : {}),
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
  }).then((code) => {
    process.exitCode = code;
  });
}
