import { randomBytes } from 'node:crypto';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LocalStack, StackOptions } from '../../local/stack';
import { startExternalWorld, type ExternalWorld } from '../support/external';
import { audit } from '../../local/world/audit';
import { World, type SentEscalation } from '../../local/world/world';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Crash safety of the data: the router is stopped and started again between steps (and right
 * after a worker crashed mid-escalation or mid-update), with dynalite on disk. Slack and
 * PagerDuty (the stand-ins) live on, as the real ones do. No escalation is lost or doubled, and
 * updates still find their channel afterwards.
 *
 * The local SQS lives in memory and is lost with each stop; in AWS the queue would keep the
 * message, here the sender's own retry (Slack's, or PagerDuty's) delivers it again.
 */
describe('crash safety of the data across restarts', () => {
  const secrets = {
    SLACK_SIGNING_SECRET: randomBytes(16).toString('hex'),
    SLACK_BOT_TOKEN: `xoxb-${randomBytes(16).toString('hex')}`,
    PAGER_DUTY_SIGNING_KEY: randomBytes(16).toString('hex'),
    PAGER_DUTY_EVENTS_API_KEY: randomBytes(16).toString('hex'),
    PAGER_DUTY_REST_API_KEY: randomBytes(16).toString('hex'),
  };
  let external: ExternalWorld;
  let dataDir: string;
  let stack: LocalStack | undefined;

  beforeAll(async () => {
    external = await startExternalWorld(secrets);
    dataDir = mkdtempSync(path.join(tmpdir(), 'pd-router-restart-'));
  });
  afterAll(async () => {
    await stack?.stop();
    await external.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /**
   * Stop the router (its in-memory queues go with it) and start it again on the same data.
   * Webhooks PagerDuty already delivered are processed first: in AWS their queue would outlive the stop.
   */
  async function restart(world: World | undefined, options: StackOptions = {}, abandonPagerDutyQueue = false): Promise<LocalStack> {
    if (stack && !abandonPagerDutyQueue) {
      const running = stack;
      await external.pagerDuty.deliveriesSettled();
      await until(async () => {
        const a = (await running.sqs.client.send(new GetQueueAttributesCommand({ QueueUrl: running.sqs.queues.pagerduty.url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }))).Attributes ?? {};
        return Number(a.ApproximateNumberOfMessages) + Number(a.ApproximateNumberOfMessagesNotVisible) === 0;
      }, 'the PagerDuty queue to drain');
    }
    await stack?.stop();
    stack = await external.startRouter({ dataDir, ...options });
    if (world) world.stack = stack;
    return stack;
  }

  const botKeys = (channel: string) => external.slack.channelMessages(channel).filter((m) => m.user !== 'UCUSTOMER1').map((m) => String(m.metadata?.event_payload.key));
  const triggersOf = (e: SentEscalation) => external.pagerDuty.triggers.filter((t) => t.dedupKey === e.dedupKey);
  async function until(condition: () => boolean | Promise<boolean>, what: string) {
    for (let waited = 0; !(await condition()); waited += 10) {
      if (waited > 10_000) throw new Error(`timed out waiting for ${what}`);
      await sleep(10);
    }
  }

  it('no escalation lost or doubled, and updates still reach their thread, across five restarts', async () => {
    // Router 1: two escalations, confirmed.
    const world = new World(await restart(undefined));
    const mention = await world.escalate('CRESTART1');
    const command = await world.escalate('CRESTART2', { via: 'command' });
    await stack!.waitForIdle();
    for (const e of [mention, command]) {
      expect(triggersOf(e)).toHaveLength(1);
      expect(botKeys(e.channel).filter((k) => k === `confirm:${e.dedupKey}`)).toHaveLength(1);
    }

    // Router 2, same data: Slack retries both (the new router has never seen them), PagerDuty acknowledges both,
    // customers click Check Status in the right and the wrong channel.
    await restart(world);
    for (const e of [mention, command]) expect((await world.redeliver(e, 1)).status).toBe(200);
    for (const e of [mention, command]) external.pagerDuty.acknowledge(world.incidentOf(e)!.id, 'Fox Mulder');
    const right = await world.click('CRESTART1', mention.dedupKey);
    const wrong = await world.click('CRESTART2', mention.dedupKey);
    await stack!.waitForIdle();
    for (const e of [mention, command]) {
      expect(triggersOf(e)).toHaveLength(1);
      expect(botKeys(e.channel).filter((k) => k.startsWith('confirm:'))).toEqual([`confirm:${e.dedupKey}`]);
    }
    expect(external.slack.ephemerals.find((x) => x.user === right.user)!.blocks).toBeDefined();
    expect(external.slack.ephemerals.find((x) => x.user === wrong.user)!.blocks).toBeUndefined();

    // Router 3 crashes right after PagerDuty accepted a third escalation, and is stopped before it retries.
    let crashes = 0;
    await restart(world, {
      retryBaseSeconds: 60,
      checkpoint: {
        slack: (step) => {
          if (step === 'triggered' && crashes++ === 0) throw new Error('injected crash after triggered');
        },
      },
    });
    const crashedAfterTrigger = await world.escalate('CRESTART3');
    await until(() => crashes > 0, 'the crash');
    expect(triggersOf(crashedAfterTrigger)).toHaveLength(1);
    expect(botKeys('CRESTART3')).toEqual([]);

    // Router 4: Slack's retry finds the escalation on disk, already triggered: no second incident, one confirmation.
    // Then it crashes right after posting the confirmation of a fourth, and is stopped.
    let confirmedCrashes = 0;
    let armed = false;
    await restart(world, {
      retryBaseSeconds: 60,
      checkpoint: {
        slack: (step) => {
          if (armed && step === 'confirmed' && confirmedCrashes++ === 0) throw new Error('injected crash after confirmed');
        },
      },
    });
    expect((await world.redeliver(crashedAfterTrigger, 1)).status).toBe(200);
    await stack!.waitForIdle();
    expect(botKeys('CRESTART3').filter((k) => k.startsWith('confirm:'))).toHaveLength(1);
    armed = true;
    const crashedAfterConfirm = await world.escalate('CRESTART4');
    await until(() => confirmedCrashes > 0, 'the second crash');

    // Router 5: Slack retries the fourth; the PagerDuty worker crashes after recording a status, and is stopped.
    let pagerDutyCrashes = 0;
    armed = false;
    await restart(world, {
      retryBaseSeconds: 60,
      checkpoint: {
        pagerDuty: (step) => {
          if (armed && step === 'status-recorded' && pagerDutyCrashes++ === 0) throw new Error('injected crash after status-recorded');
        },
      },
    });
    expect((await world.redeliver(crashedAfterConfirm, 2)).status).toBe(200);
    await stack!.waitForIdle();
    expect(botKeys('CRESTART4').filter((k) => k.startsWith('confirm:'))).toHaveLength(1);
    armed = true;
    const resolvedAt = new Date(Date.now() + 60_000).toISOString();
    const firstIncident = { ...world.incidentOf(mention)!, status: 'resolved' as const };
    expect((await world.webhook(firstIncident, 'incident.resolved', resolvedAt, 'ERESOLVE1')).status).toBe(202);
    await until(() => pagerDutyCrashes > 0, 'the PagerDuty worker crash');

    // Router 6: PagerDuty's event comes again; more updates, some without incident_key (found through the incident id on disk).
    await restart(world, {}, true);
    expect((await world.webhook(firstIncident, 'incident.resolved', resolvedAt, 'ERESOLVE1')).status).toBe(202);
    const commandIncident = world.incidentOf(command)!;
    expect((await world.webhook({ ...commandIncident, status: 'resolved' }, 'incident.resolved', resolvedAt, 'ERESOLVE2', { withoutIncidentKey: true })).status).toBe(202);
    for (const e of [crashedAfterTrigger, crashedAfterConfirm]) external.pagerDuty.resolve(world.incidentOf(e)!.id, 'Dana Scully');
    await stack!.waitForIdle();

    const report = await audit(world);
    expect(report).toMatchObject({ duplicates: [], misroutes: [], lost: [], refusalLeaks: [], dlq: { slack: [], pagerduty: [] }, incidentsTriggered: 4 });
    for (const e of [mention, command, crashedAfterTrigger, crashedAfterConfirm]) {
      expect(triggersOf(e)).toHaveLength(1);
      expect(botKeys(e.channel).filter((k) => k.startsWith('confirm:'))).toEqual([`confirm:${e.dedupKey}`]);
      // Every update of its incident in its own channel, once, and the confirmation shows where it ended.
      const confirmation = external.slack.channelMessages(e.channel).find((m) => m.metadata?.event_payload.key === `confirm:${e.dedupKey}`)!;
      expect(confirmation.text).toContain('(resolved)');
    }
    expect(botKeys('CRESTART1').filter((k) => k === `pd:ERESOLVE1:${mention.dedupKey}`)).toHaveLength(1);
    const resolvedPost = external.slack.channelMessages('CRESTART2').filter((m) => m.metadata?.event_payload.key === `pd:ERESOLVE2:${command.dedupKey}`);
    expect(resolvedPost).toHaveLength(1);
    expect(resolvedPost[0]!.threadTs).toBe(external.slack.channelMessages('CRESTART2').find((m) => m.metadata?.event_payload.key === `confirm:${command.dedupKey}`)!.ts);
  });
});
