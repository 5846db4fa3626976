import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DataDirError } from '../local/data-dir';
import { resetKeptData, STAND_INS_FILE } from '../local/sandbox-keep';
import type { LocalStack } from '../local/stack';
import type { RecordedMessage } from '../local/stand-ins/slack';
import { botMessages, mention, startTestStack } from './support/stack';

/**
 * PD_ROUTER_DATA_DIR keeps everything the sandbox shows: a stack stopped and started again on the
 * same folder has the PagerDuty stand-in's incidents and numbering, the Slack stand-in's
 * transcripts (messages, their edits and ephemerals), and the customer registry; updates after
 * the restart land in the threads from before it, once. fauxqs keeps its queues in memory, so a
 * sandbox stop delivers what they hold before it stops.
 */
/** A thread post for an incident update (the confirmation is keyed `confirm:`). */
const isUpdate = (message: RecordedMessage) => String(message.metadata?.event_payload.key ?? '').startsWith('pd:');

describe('the sandbox keeps its state in PD_ROUTER_DATA_DIR', () => {
  let dataDir: string;
  let stack: LocalStack | undefined;

  beforeEach(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'pd-router-kept-'));
  });
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
    rmSync(dataDir, { recursive: true, force: true });
  });

  // Retries wait a second: long enough to stop while a message waits in its queue.
  const start = async () => (stack = await startTestStack({ dataDir, visibilityTimeoutSeconds: 1, retryBaseSeconds: 1 }));
  const restart = async () => {
    await stack!.stop();
    return start();
  };

  it('keeps incidents, numbering, transcripts and the registry across a restart, and later updates reach the old threads once', async () => {
    let running = await start();
    await running.customers.add({ channel: 'CKEPT', name: 'Kept Corp', pagesPerHour: 7 });
    await mention(running, 'CKEPT', 'escalate checkout <is> down & out');
    await mention(running, 'COTHER', 'escalate search is slow');
    await running.waitForIdle();
    const first = running.pagerDuty!.find('1001')!;
    running.pagerDuty!.acknowledge(first.id);
    running.pagerDuty!.retitle(first.id, 'INTERNAL: checkout cluster 3');
    await running.waitForIdle();
    const incidentsBefore = running.pagerDuty!.snapshot().incidents;
    const messagesBefore = structuredClone(running.slack!.messages);
    const ephemeralsBefore = structuredClone(running.slack!.ephemerals);
    expect(incidentsBefore.map((i) => [i.number, i.status])).toEqual([
      [1001, 'acknowledged'],
      [1002, 'triggered'],
    ]);
    expect(botMessages(running, 'CKEPT').length).toBeGreaterThan(0);

    running = await restart();
    expect(running.pagerDuty!.snapshot().incidents).toEqual(incidentsBefore);
    expect(running.slack!.messages).toEqual(messagesBefore);
    expect(running.slack!.ephemerals).toEqual(ephemeralsBefore);
    expect(await running.customers.get('CKEPT')).toMatchObject({ name: 'Kept Corp', pagesPerHour: 7 });
    // Numbering goes on where it stopped, as PagerDuty's does.
    expect(running.pagerDuty!.openInternal('INTERNAL: after the restart').number).toBe(1003);

    // The link and the thread from before the restart are still the ones updates go to.
    const postsBefore = botMessages(running, 'CKEPT').length;
    running.pagerDuty!.resolve(first.id);
    await running.waitForIdle();
    const posted = botMessages(running, 'CKEPT');
    const thread = posted[0]!.threadTs;
    const resolvedPosts = posted.filter((m) => isUpdate(m) && /resolved/i.test(m.text));
    expect(resolvedPosts.map((m) => m.threadTs)).toEqual([thread]);
    expect(posted.length).toBe(postsBefore + 1);
    // Nothing of the other customer's or PagerDuty's words reached this channel, before or after.
    for (const m of posted) expect(`${m.text} ${JSON.stringify(m.blocks ?? [])}`).not.toMatch(/search is slow|INTERNAL|1001|1002|1003/);

    // A second restart still has the resolution (saved on change, not only at stop).
    running = await restart();
    expect(running.pagerDuty!.find('#1001')!.status).toBe('resolved');
    expect(botMessages(running, 'CKEPT')).toHaveLength(postsBefore + 1);
  }, 60_000);

  it('writes its state file atomically: no temporary file is left, and the file always parses', async () => {
    const running = await start();
    await mention(running, 'CKEPT', 'escalate disk full');
    await running.waitForIdle();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const names = readdirSync(dataDir);
    expect(names).toContain(STAND_INS_FILE);
    expect(names.filter((name) => name.endsWith('.tmp'))).toEqual([]);
    expect(JSON.parse(readFileSync(path.join(dataDir, STAND_INS_FILE), 'utf8'))).toMatchObject({ version: 1, pagerDuty: { nextNumber: 1002 } });
  }, 30_000);

  it('delivers what the queues hold before a sandbox stops, so nothing queued is lost with fauxqs', async () => {
    let running = await start();
    await mention(running, 'CKEPT', 'escalate payments failing');
    await running.waitForIdle();
    // Slack refuses the next posts for a while: the update waits in the queue for its retry.
    running.slack!.faults.failNext('*', 2, { kind: 'status', status: 503 });
    const incident = running.pagerDuty!.find('1001')!;
    running.pagerDuty!.acknowledge(incident.id);
    await running.pagerDuty!.deliveriesSettled();
    expect(await running.drain(0)).toBeGreaterThan(0);
    running = await restart();
    const acknowledged = botMessages(running, 'CKEPT').filter((m) => isUpdate(m) && /acknowledged/i.test(m.text));
    expect(acknowledged).toHaveLength(1);
  }, 60_000);

  it('refuses a state file it cannot read, in one line that says how to start afresh', async () => {
    writeFileSync(path.join(dataDir, STAND_INS_FILE), '{"version": 1, "pagerDuty": ');
    await expect(start()).rejects.toThrow(new DataDirError(`the sandbox data in ${path.join(dataDir, STAND_INS_FILE)} cannot be read: clear it with \`npm run sandbox -- reset\` (PD_ROUTER_DATA_DIR=${dataDir})`));
    // The failed start let go of the folder: reset may take it.
    expect(resetKeptData(dataDir)).toBe(1);
  });

  it('reset clears the kept data (the next stack starts afresh), refuses while a stack runs on it, and never removes files it did not make', async () => {
    let running = await start();
    await running.customers.add({ channel: 'CKEPT', name: 'Kept Corp' });
    await mention(running, 'CKEPT', 'escalate queue stuck');
    await running.waitForIdle();
    expect(() => resetKeptData(dataDir)).toThrow(/^the data folder .* is in use by another pd-router \(pid \d+\): stop that one first/);
    await running.stop();
    stack = undefined;

    expect(resetKeptData(dataDir)).toBeGreaterThan(1);
    expect(readdirSync(dataDir)).toEqual([]);
    running = await start();
    expect(running.pagerDuty!.snapshot().incidents).toEqual([]);
    expect(running.slack!.messages).toEqual([]);
    expect(await running.customers.get('CKEPT')).toBeUndefined();
    await running.stop();
    stack = undefined;

    const precious = path.join(dataDir, 'thesis.docx');
    writeFileSync(precious, 'years of work');
    expect(() => resetKeptData(dataDir)).toThrow(/holds "thesis\.docx", which pd-router did not put there: not resetting it/);
    expect(existsSync(precious)).toBe(true);
    expect(existsSync(path.join(dataDir, STAND_INS_FILE))).toBe(true);
  }, 60_000);
});
