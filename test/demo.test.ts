import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SANDBOX_ONCALL_EMAIL } from '../local/stand-ins/pagerduty';
import { ACME_REPLY, playDemo, STATUS_UPDATE } from '../local/demo/scenario';
import { classify, judge, type TenantExpectation } from '../local/demo/verdict';
import { SANDBOX_CHANNELS, SANDBOX_CHANNEL_NAMES } from '../local/sandbox-console/channels';
import { SandboxDriver } from '../local/sandbox-console/driver';
import type { ChannelTranscript, TranscriptEntry } from '../local/sandbox-console/transcript';
import { startStack, type LocalStack } from '../local/stack';
import { STAND_IN_BOT_USER_ID } from '../local/stand-ins/slack';
import { startTestStack } from './support/stack';
import { makeDocumentClient } from '../lib/store/dynamo';
import { makeHistory } from '../lib/store/history';
import { readReportCustomers } from '../lib/store/report-customers';
import { buildReport } from '../lib/report/report';

const ROOT = join(__dirname, '..');

let clock = 0;
const bot = (text: string, extra: Partial<TranscriptEntry> = {}): TranscriptEntry => ({ ts: `1700000000.${String(++clock).padStart(6, '0')}`, user: STAND_IN_BOT_USER_ID, text, edits: 0, replies: [], ...extra });
const mention = (user: string, description: string, replies: TranscriptEntry[]): TranscriptEntry => ({ ...bot(`<@${STAND_IN_BOT_USER_ID}> escalate ${description}`), user, replies });

/** Two customers' channels as the scenario should leave them, to be spoiled one way per test. */
function healthy(): ChannelTranscript[] {
  return [
    {
      id: 'CACME',
      name: 'customer-acme',
      messages: [
        mention('UACME', 'Acme: checkout is down', [
          bot('On-call has been paged (escalation #1) (resolved): Acme: checkout is down', { edits: 2, blocks: [{ type: 'actions', elements: [{ type: 'button', value: 'pdr-acme' }] }] }),
          bot('Escalation #1: Resolved by Sandbox On-Call (resolved)'),
        ]),
      ],
    },
    {
      id: 'CGLOBEX',
      name: 'customer-globex',
      messages: [
        mention('UGLOBEX', 'Globex: login fails', [bot('On-call has been paged (escalation #1) (resolved): Globex: login fails', { edits: 2 }), bot('Escalation #1: Resolved by the on-call team (resolved)')]),
        bot("Sorry, that status button doesn't belong to this channel, so I can't show anything for it here.", { onlyVisibleTo: 'UGLOBEX' }),
      ],
    },
  ];
}

const tenants: TenantExpectation[] = [
  { channel: 'CACME', markers: ['Acme: checkout is down', 'pdr-acme', 'QACME'], expected: { escalation: 1, confirmation: 1, resolved: 1 }, finalStatus: 'resolved' },
  { channel: 'CGLOBEX', markers: ['Globex: login fails', 'pdr-globex', 'QGLOBEX'], expected: { escalation: 1, confirmation: 1, resolved: 1, refusal: 1 }, finalStatus: 'resolved' },
];

describe('the demo verdict', () => {
  it('passes the transcripts the scenario should produce, and counts each channel’s messages', () => {
    const verdict = judge(healthy(), tenants);
    expect(verdict.ok).toBe(true);
    expect(verdict.messagesPerChannel.map((c) => c.messages)).toEqual([3, 4]);
    expect(verdict.line).toBe('VERDICT PASS | messages per channel: #customer-acme 3, #customer-globex 4 | crossed channels: 0 | lost: 0 | doubled: 0');
  });

  it('fails when another customer’s incident shows up in a channel, even only inside a button', () => {
    const transcripts = healthy();
    transcripts[1]!.messages.push(bot('Status: resolved', { onlyVisibleTo: 'UGLOBEX', blocks: [{ type: 'actions', elements: [{ type: 'button', value: 'pdr-acme' }] }] }));
    const verdict = judge(transcripts, tenants);
    expect(verdict.ok).toBe(false);
    expect(verdict.crossed).toEqual([{ channel: 'CGLOBEX', detail: expect.stringContaining('pdr-acme') }]);
    expect(verdict.line).toMatch(/^VERDICT FAIL .*crossed channels: 1/);
  });

  it('fails when an expected update is lost', () => {
    const transcripts = healthy();
    transcripts[0]!.messages[0]!.replies.pop(); // Acme never hears it was resolved
    const verdict = judge(transcripts, tenants);
    expect(verdict.ok).toBe(false);
    expect(verdict.lost.map((f) => f.detail)).toEqual(['#customer-acme: 1 resolved message(s) missing']);
  });

  it('fails when the confirmation still shows an older status', () => {
    const transcripts = healthy();
    transcripts[0]!.messages[0]!.replies[0]!.text = 'On-call has been paged (escalation #1) (acknowledged): Acme: checkout is down';
    expect(judge(transcripts, tenants).lost.map((f) => f.detail)).toEqual([expect.stringContaining('does not show "resolved"')]);
  });

  it('fails when an update is posted twice, or a refusal turns up where none was expected', () => {
    const transcripts = healthy();
    transcripts[0]!.messages[0]!.replies.push(bot('Escalation #1: Resolved by Sandbox On-Call (resolved)'));
    transcripts[0]!.messages.push(bot("Sorry, that status button doesn't belong to this channel, so I can't show anything for it here."));
    const verdict = judge(transcripts, tenants);
    expect(verdict.ok).toBe(false);
    expect(verdict.doubled.map((f) => f.detail).sort()).toEqual(['#customer-acme: 1 refusal message(s), expected 0', '#customer-acme: 2 resolved message(s), expected 1']);
  });

  it('tells pd-router’s messages apart by their wording, and a customer’s escalation from other talk', () => {
    expect(classify(bot('Escalation #1: Acknowledged by Sandbox On-Call (acknowledged)'))).toBe('acknowledged');
    expect(classify(bot('Escalation #1: Acknowledgement timed out; back to triggered (triggered)'))).toBe('other');
    expect(classify(bot('Escalation #2: Reassigned to Second On-Call (triggered)'))).toBe('reassigned');
    expect(classify(bot('Escalation #2: Your escalation is now handled together with a related incident; updates continue here. (triggered)'))).toBe('together');
    expect(classify(bot('Status of escalation #1: acknowledged'))).toBe('status');
    expect(classify(bot('Escalation #2: status update from the on-call team: A fix is rolling out. (triggered)'))).toBe('update');
    expect(classify({ ...bot('is anyone there?'), user: 'UACME' })).toBe('other');
  });
});

describe('npm run demo’s scenario, in-process', () => {
  it('ends with every message in its own channel, none lost and none doubled', async () => {
    const stack = await startStack({ env: {}, logLevel: 'silent', retryBaseSeconds: 0, visibilityTimeoutSeconds: 5, standIns: { channelNames: SANDBOX_CHANNEL_NAMES }, sandboxNotesFrom: SANDBOX_ONCALL_EMAIL });
    try {
      const driver = new SandboxDriver({ url: stack.url, slackApiUrl: stack.slack!.apiUrl, pagerDutyUrl: stack.pagerDuty!.url, slackSigningSecret: stack.secrets.SLACK_SIGNING_SECRET });
      const started = Date.now();
      const result = await playDemo(driver, { channels: SANDBOX_CHANNELS });
      expect(result.verdict.line).toMatch(/^VERDICT PASS /);
      expect(result.verdict.messagesPerChannel).toEqual([
        { channel: 'CACME', name: 'customer-acme', messages: 6 },
        { channel: 'CGLOBEX', name: 'customer-globex', messages: 7 },
        { channel: 'CINITECH', name: 'customer-initech', messages: 5 },
      ]);
      // Globex and Initech followed the provider's internal incident to its resolution, each seeing only its own words.
      expect(JSON.stringify(result.transcripts.find((c) => c.id === 'CACME'))).not.toContain(STATUS_UPDATE);
      for (const [channel, own] of [['CGLOBEX', 'Globex: login page'], ['CINITECH', 'Initech: single sign-on']] as const) {
        const everything = JSON.stringify(result.transcripts.find((c) => c.id === channel));
        expect(everything).toContain(own);
        expect(everything).toContain('handled together with a related incident');
        // That on-call posted a status update, not its text (two customers follow the incident), and nothing else of the internal incident.
        expect(everything).toContain('On-call posted a status update on the combined incident');
        expect(everything).not.toContain(STATUS_UPDATE);
        expect(everything).not.toMatch(/INTERNAL|auth-shared-2|Globex.*Initech|Initech.*Globex/);
      }
      // Acme's reply in its thread reached on-call as one note on Acme's incident, and nowhere else.
      const acmeIncident = [...stack.pagerDuty!.incidents.values()].find((i) => (i.payload.custom_details as { channel_id?: string } | undefined)?.channel_id === 'CACME')!;
      const [replyNotes, otherNotes] = [stack.pagerDuty!.notes.filter((n) => n.content.includes(ACME_REPLY)), stack.pagerDuty!.notes.filter((n) => !n.content.includes(ACME_REPLY))];
      expect(replyNotes.map((n) => n.incidentId)).toEqual([acmeIncident.id]);
      // On-call is told once who follows the combined incident, so whoever writes its status update knows the audience.
      expect(otherNotes).toHaveLength(1);
      expect(otherNotes[0]!.incidentId).not.toBe(acmeIncident.id);
      expect(otherNotes[0]!.content).toMatch(/Globex/);
      expect(otherNotes[0]!.content).toMatch(/Initech/);
      expect(otherNotes[0]!.content).not.toMatch(/Acme/);
      // Everything went through the router: three triggers, and every webhook answered 2xx.
      expect(stack.pagerDuty!.triggers).toHaveLength(3);
      expect(stack.pagerDuty!.deliveries.every((d) => d.status >= 200 && d.status < 300)).toBe(true);
      // The demo leaves history behind: `npm run report` after it shows each customer's escalation,
      // paged and resolved, Acme's within its targets, Globex's and Initech's handled together.
      const db = makeDocumentClient({ AWS_ENDPOINT_URL_DYNAMODB: stack.dynamo.endpoint });
      const period = { from: new Date(started - 60_000), to: new Date(Date.now() + 60_000) };
      const records = await makeHistory(db, stack.dynamo.tableName, { ttlDays: 1 }).query(period);
      const report = buildReport(records, await readReportCustomers(db, stack.dynamo.tableName), period, new Date());
      expect(report.total).toMatchObject({ asked: 3, paged: 3, handledTogether: 2 });
      expect(report.total.timeToResolve.count).toBe(3);
      expect(report.customers.find((c) => c.name === 'Acme Corp')!.summary).toMatchObject({ ackTarget: { met: 1, missed: 0 }, resolveTarget: { met: 1, missed: 0 } });
      db.destroy();
      expect(Date.now() - started).toBeLessThan(30_000);
    } finally {
      await stack.stop();
    }
  });
});

describe('npm run demo with two sandboxes running and no PORT', () => {
  let cwd: string;
  let stacks: LocalStack[];

  /** `npm run demo` in `cwd`, as a real process, to its end. */
  function demo(env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href, join(ROOT, 'scripts', 'demo.ts')], {
        cwd,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }
  const portOf = (stack: LocalStack) => new URL(stack.url).port;

  beforeAll(async () => {
    cwd = mkdtempSync(join(tmpdir(), 'pd-router-demo-'));
    stacks = [await startTestStack(), await startTestStack()];
    // What `npm start` leaves for the helpers, one file per port (this process plays both stacks' owner).
    mkdirSync(join(cwd, '.local-data'));
    for (const stack of stacks) {
      const state = { url: stack.url, slackApiUrl: stack.slack!.apiUrl, pagerDutyUrl: stack.pagerDuty!.url, slackSigningSecret: stack.secrets.SLACK_SIGNING_SECRET, pagerDutySigningKey: stack.secrets.PAGER_DUTY_SIGNING_KEY, pid: process.pid };
      writeFileSync(join(cwd, '.local-data', `sandbox-${portOf(stack)}.json`), JSON.stringify(state));
    }
  });
  afterAll(async () => {
    await Promise.all(stacks.map((stack) => stack.stop()));
    rmSync(cwd, { recursive: true, force: true });
  });

  it('plays on a sandbox of its own, and says in one line which two run and how to play on one of them', async () => {
    const [first, second] = stacks.map(portOf).sort((a, b) => Number(a) - Number(b));
    const run = await demo();
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n')[0]).toMatch(
      new RegExp(`^2 sandboxes are running, on ports ${first} and ${second}, and PORT does not say which: playing on one started in this process at http://127\\.0\\.0\\.1:\\d+ \\(\`PORT=${first} npm run demo\` plays on the one on ${first}\\)$`),
    );
    expect(run.stdout).toMatch(/^VERDICT PASS /m);
    // Neither running sandbox was touched.
    for (const stack of stacks) {
      expect(stack.pagerDuty!.triggers).toEqual([]);
      expect(stack.slack!.channelMessages('CACME')).toEqual([]);
    }
  });

  it('with PORT, plays on that one', async () => {
    const chosen = stacks[1]!;
    const run = await demo({ PORT: portOf(chosen) });
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n')[0]).toBe(`Using the sandbox running at ${chosen.url}`);
    expect(chosen.pagerDuty!.triggers).toHaveLength(3);
    expect(stacks[0]!.pagerDuty!.triggers).toEqual([]);
  });
});
