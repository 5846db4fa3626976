import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand, ScanCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import { LAYOUT } from '../lib/layout/layout';
import { makeHistory, type History } from '../lib/store/history';
import { LOCAL_AWS_ENV } from '../local/aws';
import { layoutPartitionKeyOf, loadDeployTemplate, reportPolicy } from '../local/iam/deploy-roles';
import { startEnforcingProxy, type Denial, type EnforcingProxy } from '../local/iam/enforcing-proxy';
import type { LocalStack } from '../local/stack';
import { runReport, type ReportIo } from '../scripts/report';
import { startTestStack } from './support/stack';
import { runScript, type Run } from './support/cli';

const ACME = 'C0RACME0001';
const GLOBEX = 'C0RGLOBEX01';


/** Seconds after `iso`, as an ISO time. */
const plus = (iso: string, seconds: number) => new Date(Date.parse(iso) + seconds * 1000).toISOString();

describe('npm run report, against a local stack', () => {
  let stack: LocalStack;
  let history: History;
  let dir: string;
  const now = new Date();
  // Days ago at noon UTC: inside the default 30 days whatever the hour the test runs.
  const daysAgo = (days: number) => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - days, 12)).toISOString();

  const run = (args: string[]) => runScript('scripts/report.ts', args, { env: { PD_ROUTER_URL: stack.url } });

  const expectOneLineFailure = (result: Run, pattern: RegExp) => {
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n')[0]).toMatch(pattern);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  };

  beforeAll(async () => {
    stack = await startTestStack();
    dir = mkdtempSync(path.join(tmpdir(), 'pd-router-report-'));
    const db = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: stack.dynamo.endpoint, region: LOCAL_AWS_ENV.AWS_REGION, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }));
    history = makeHistory(db, stack.dynamo.tableName, { ttlDays: 400 });
    await stack.customers.add({ channel: ACME, name: 'Acme Corp', ackWithinMinutes: 15, resolveWithinMinutes: 240 });
    await stack.customers.add({ channel: GLOBEX, name: 'Globex' });
    const rec = (dedupKey: string, channel: string, askedAt: string) => ({ dedupKey, channel, askedAt });
    // Acme: acknowledged at exactly 15 minutes (met) and at 15 minutes 1 second (missed); one folded.
    for (const [key, asked, ack, resolve] of [['r1', daysAgo(3), 900, 3600], ['r2', daysAgo(2), 901, 14401]] as const) {
      await history.record(rec(key, ACME, asked), { step: 'paged', at: plus(asked, 2), ref: 1 });
      await history.record(rec(key, ACME, asked), { step: 'acknowledged', at: plus(asked, ack) });
      await history.record(rec(key, ACME, asked), { step: 'resolved', at: plus(asked, resolve) });
    }
    await history.record(rec('r3', ACME, daysAgo(2)), { step: 'folded' });
    await history.record(rec('r4', GLOBEX, daysAgo(1)), { step: 'refused', reason: 'paused' });
    // Outside the default 30 days.
    await history.record(rec('r5', ACME, daysAgo(40)), { step: 'paged', at: plus(daysAgo(40), 1) });
  });
  afterAll(async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints the last 30 days per customer by default, and one customer\'s with --customer', async () => {
    const all = await run([]);
    expect(all.stderr).toBe('');
    expect(all.code).toBe(0);
    // Acknowledged at 900 and 901 s: a median of 900.5 s, shown to the second.
    expect(all.stdout).toMatch(/^Acme Corp\s+3\s+2\s+1\s+0\s+2s \/ 2s \/ 2s\s+15m 01s \/ 15m 01s \/ 15m 01s\s+.*≤15m 00s: 1 met, 1 missed\s+≤4h 00m: 1 met, 1 missed$/m);
    expect(all.stdout).toMatch(/^Globex\s+1\s+0\s+0\s+1\s/m);
    expect(all.stdout).toMatch(/^all\s+4\s+2\s+1\s+1\s/m);
    const one = await run(['--customer', GLOBEX, '--format', 'json']);
    const report = JSON.parse(one.stdout);
    expect(report.customers.map((c: { name: string }) => c.name)).toEqual(['Globex']);
    expect(report.total).toMatchObject({ asked: 1, refused: 1, notPaged: { paused: 1 } });
  });

  it('takes --from/--to, and writes CSV and JSON with the same numbers', async () => {
    const from = daysAgo(45).slice(0, 10);
    const json = JSON.parse((await run(['--from', from, '--to', now.toISOString().slice(0, 10), '--format', 'json'])).stdout);
    expect(json.total).toMatchObject({ asked: 5, paged: 3 });
    const csv = (await run(['--format', 'csv'])).stdout.trim().split('\n');
    const header = csv[0]!.split(',');
    const acme = csv.find((line) => line.startsWith(`${ACME},Acme Corp,,`))!.split(',');
    const column = (name: string) => acme[header.indexOf(name)];
    expect([column('asked'), column('paged'), column('ack_median_s'), column('ack_met'), column('ack_missed'), column('resolve_target_min')]).toEqual(['3', '2', '900.5', '1', '1', '240']);
  });

  it('writes one self-contained HTML file with its charts drawn in', async () => {
    const out = path.join(dir, 'report.html');
    const result = await run(['--customer', ACME, '--format', 'html', '--out', out]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^wrote .*report\.html: 3 escalation\(s\)/);
    const html = readFileSync(out, 'utf8');
    expect(html.match(/<svg[^>]*class="marks"/g)?.length).toBe(2);
    // Nothing is fetched when it is opened: no script, no external source.
    expect(html).not.toMatch(/<script|src="http|href="http/);
    expect(html).toContain('acknowledge within 15m');
  });

  it('shows a progress line while it reads (on a terminal), cleared before the report', async () => {
    const lines: string[] = [];
    const progress: string[] = [];
    const io: ReportIo = {
      env: { PD_ROUTER_URL: stack.url },
      now: () => now,
      getJson: async (url) => (await fetch(url)).json(),
      readSandboxUrl: () => undefined,
      writeFile: async () => undefined,
      progress: (line) => progress.push(line),
      stdout: (line) => lines.push(line),
      stderr: (line) => lines.push(line),
    };
    expect(await runReport(['--since', '60d', '--format', 'json'], io)).toBe(0);
    // One page per month the period touches, each saying how many escalations were read so far; then cleared.
    expect(progress.length).toBeGreaterThanOrEqual(3);
    expect(progress.slice(0, -1).every((line) => /^reading the history… \d+ escalations$/.test(line))).toBe(true);
    expect(progress.at(-2)).toBe('reading the history… 5 escalations');
    expect(progress.at(-1)).toBe('');
    expect(JSON.parse(lines.join('\n')).total.asked).toBe(5);
  });

  it('answers bad input and a missing stack with one line, and --help with the usage', async () => {
    expectOneLineFailure(await run(['--since', 'forever']), /^--since is a duration such as/);
    expectOneLineFailure(await run(['--format', 'html']), /^--format html needs --out/);
    expectOneLineFailure(await run(['--format', 'pdf']), /^--format is one of table, csv, json, html/);
    expectOneLineFailure(await run(['--from', '2026-13-45']), /^--from is a date/);
    expectOneLineFailure(await run(['--since', '2d', '--from', '2026-11-01']), /^--since is the period up to now/);
    expectOneLineFailure(await run(['--customer', 'D0DIRECT01']), /direct message/);
    expectOneLineFailure(await run(['--region', 'eu-west-1']), /^--region goes with --stage/);
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: npm run report/);
  });

  it('reads a deployed stage with the stack\'s report policy alone: Query only (a Scan, an item read or a customer\'s routing key is refused)', async () => {
    // The stage whose table the local stack's is (pd-router-<stage>-incident-links).
    const stage = stack.dynamo.tableName.replace(/^pd-router-|-incident-links$/g, '');
    const statements = reportPolicy(await loadDeployTemplate(), stage);
    const denials: Denial[] = [];
    const proxy: EnforcingProxy = await startEnforcingProxy({
      function: 'npm run report',
      role: 'ReportReadPolicy',
      statements,
      upstream: { dynamodb: stack.dynamo.endpoint, sqs: stack.sqs.endpoint },
      partitionKeyOf: layoutPartitionKeyOf(stage),
      onDenied: (denial) => denials.push(denial),
    });
    const client = () => DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: proxy.url, region: LOCAL_AWS_ENV.AWS_REGION, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }));
    try {
      const out: string[] = [];
      const io: ReportIo = {
        env: {},
        now: () => now,
        getJson: async () => ({}),
        readSandboxUrl: () => undefined,
        writeFile: async () => undefined,
        documentClient: () => client(),
        stdout: (line) => out.push(line),
        stderr: (line) => out.push(line),
      };
      expect(await runReport(['--stage', stage, '--region', 'eu-west-1', '--format', 'json'], io)).toBe(0);
      expect(JSON.parse(out.join('\n')).total).toMatchObject({ asked: 4, paged: 2 });
      expect(denials).toEqual([]);

      const db = client();
      const table = stack.dynamo.tableName;
      await expect(db.send(new ScanCommand({ TableName: table }))).rejects.toThrow(/not authorized to perform: dynamodb:Scan/);
      await expect(db.send(new GetCommand({ TableName: table, Key: { pk: `customer#${ACME}` } }))).rejects.toThrow(/not authorized/);
      // Every attribute of the customers (an inline routing key among them) is refused; names and targets are not.
      const customers = { TableName: table, IndexName: LAYOUT.table.customerIndex.name, KeyConditionExpression: '#l = :l', ExpressionAttributeNames: { '#l': LAYOUT.table.customerIndex.partitionKey }, ExpressionAttributeValues: { ':l': 'customer' } };
      await expect(db.send(new QueryCommand(customers))).rejects.toThrow(/not authorized/);
      await expect(db.send(new QueryCommand({ ...customers, ProjectionExpression: '#l, routingKey' }))).rejects.toThrow(/not authorized/);
      await expect(db.send(new QueryCommand({ ...customers, IndexName: LAYOUT.table.openLinkIndex.name, KeyConditionExpression: 'openList = :l' }))).rejects.toThrow(/not authorized/);
      db.destroy();
    } finally {
      await proxy.close();
    }
  });
});
