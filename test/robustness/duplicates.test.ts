import { createHash } from 'node:crypto';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { pagerDutyRouting, slackRouting } from '../../lib/events';
import { normalizePagerDutyWebhook } from '../../lib/pagerduty/normalize';
import { toSqsJson } from '../../lib/queue/queue';
import { normalizeEventCallback, normalizeSlashCommand } from '../../lib/slack/normalize';
import { startStack, type LocalStack } from '../../local/stack';
import { eventsToldOf } from '../support/stack';
import { STAND_IN_BOT_USER_ID } from '../../local/stand-ins/slack';
import { mentionEnvelope } from '../../local/events/slack';
import { audit } from '../../local/world/audit';
import { pool } from '../../local/world/pool';
import { FIRST_INCIDENT_NUMBER, SLASH_COMMAND, TEAM, World } from '../../local/world/world';
import { crashPlan } from '../support/crash-plan';

/**
 * Duplicates from every side at once: Slack delivers each event three times, SQS delivers
 * messages again (a worker that dies after finishing its work, and copies that arrive after the
 * FIFO de-duplication window), and PagerDuty sends every webhook twice.
 */
describe('duplicates from every side at once', () => {
  let stack: LocalStack;
  // Redelivery after a crash at each step, a few times per worker (fewer than maxReceiveCount,
  // so no message is pushed into the DLQ by the crashes alone).
  const slackCrashes = crashPlan({ 'link-created': [2], triggered: [3], confirmed: [1, 5] });
  const pagerDutyCrashes = crashPlan({ 'incident-attached': [2], 'status-recorded': [4], posted: [1, 7] });

  beforeAll(async () => {
    stack = await startStack({
      env: {},
      visibilityTimeoutSeconds: 5,
      retryBaseSeconds: 0,
      logLevel: 'silent',
      standIns: { firstIncidentNumber: FIRST_INCIDENT_NUMBER, duplicateWebhooks: true },
      checkpoint: { slack: slackCrashes.hook, pagerDuty: pagerDutyCrashes.hook },
    });
  });
  afterAll(() => stack.stop());

  /** What SQS would hand the worker once more: the same event under a new de-duplication id. */
  async function redeliverViaSqs(queue: 'slack' | 'pagerduty', event: object, groupId: string) {
    await stack.sqs.client.send(
      new SendMessageCommand({
        QueueUrl: stack.sqs.queues[queue].url,
        MessageBody: toSqsJson(event),
        MessageGroupId: groupId,
        MessageDeduplicationId: createHash('sha256').update(`again:${Math.random()}`).digest('hex'),
      }),
    );
  }

  it('per channel: one trigger per escalation, one confirmation, one post per distinct PagerDuty event', async () => {
    const world = new World(stack);
    const channels = Array.from({ length: 6 }, (_, n) => `CDUPES${n}`);
    const plan = channels.flatMap((channel, n) => [0, 1, 2].map((k) => ({ channel, via: (n + k) % 3 === 0 ? ('command' as const) : ('mention' as const) })));
    const sent = await pool(plan, 6, (p) => world.escalate(p.channel, { via: p.via, deliveries: 3 }));
    for (const s of sent) for (const answer of s.answers) expect(answer.status).toBe(200);

    // SQS hands half of them over once more, after the de-duplication window.
    for (const s of sent.filter((_, n) => n % 2 === 0)) {
      const now = new Date();
      const event =
        s.via === 'mention'
          ? normalizeEventCallback(mentionEnvelope({ channel: s.channel, text: `escalate ${s.description}`, ts: s.ts!, eventId: s.id, team: TEAM }) as never, now)!
          : normalizeSlashCommand(new URLSearchParams({ team_id: TEAM, channel_id: s.channel, user_id: 'UCUSTOMER1', command: SLASH_COMMAND, text: `escalate ${s.description}`, trigger_id: s.id }), now);
      await redeliverViaSqs('slack', event, slackRouting(event).groupId);
    }

    await world.waitForIncidents();
    const incidents = sent.map((s) => world.incidentOf(s)!);
    // PagerDuty: each change is sent twice by the stand-in, and some come a third time under another webhook id.
    for (const incident of incidents) stack.pagerDuty!.acknowledge(incident.id, 'Fox Mulder');
    await stack.pagerDuty!.deliveriesSettled();
    for (const incident of incidents.slice(0, 6)) {
      const delivery = stack.pagerDuty!.deliveries.find((d) => d.incidentId === incident.id && d.eventType === 'incident.acknowledged')!;
      await world.webhook(incident, 'incident.acknowledged', new Date().toISOString(), delivery.eventId, { webhookId: `another-${delivery.webhookId}` });
      const event = normalizePagerDutyWebhook(stack.pagerDuty!.webhookBody(incident, 'incident.acknowledged', 'Fox Mulder', new Date().toISOString(), delivery.eventId), delivery.webhookId, new Date());
      if (typeof event !== 'string') await redeliverViaSqs('pagerduty', event, pagerDutyRouting(event).groupId);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
    for (const incident of incidents) stack.pagerDuty!.resolve(incident.id, 'Dana Scully');
    await stack.waitForIdle(60_000);

    const report = await audit(world);
    expect(report.duplicates).toEqual([]);
    expect(report.misroutes).toEqual([]);
    expect(report.lost).toEqual([]);
    expect(report.dlq).toEqual({ slack: [], pagerduty: [] });
    // The crashes really happened, so redelivery really was exercised.
    expect(slackCrashes.crashes.length).toBe(4);
    expect(pagerDutyCrashes.crashes.length).toBe(4);

    for (const s of sent) {
      expect(stack.pagerDuty!.triggers.filter((t) => t.dedupKey === s.dedupKey)).toHaveLength(1);
      expect([...stack.pagerDuty!.incidents.values()].filter((i) => i.incidentKey === s.dedupKey)).toHaveLength(1);
    }
    for (const channel of channels) {
      const posted = stack.slack!.channelMessages(channel).filter((m) => m.user === STAND_IN_BOT_USER_ID);
      const keys = posted.map((m) => String(m.metadata?.event_payload.key));
      const escalations = sent.filter((s) => s.channel === channel);
      // Each post names the event and the escalation it tells: `pd:<event id>:<dedup key>`.
      const delivered = stack.pagerDuty!.deliveries.filter((d) => escalations.some((s) => world.incidentOf(s)!.id === d.incidentId));
      expect(new Set(delivered.map((d) => d.eventId)).size).toBe(escalations.length * 3); // triggered, acknowledged, resolved
      const told = escalations.flatMap((s) => eventsToldOf(stack, world.incidentOf(s)!.id).map((id) => `${id}:${s.dedupKey}`));
      // Exactly: one confirmation per escalation and one post per distinct PagerDuty event but the
      // opening (the confirmation says it), nothing else.
      expect(keys.filter((k) => k.startsWith('confirm:')).sort()).toEqual(escalations.map((s) => `confirm:${s.dedupKey}`).sort());
      expect(keys.filter((k) => k.startsWith('pd:')).sort()).toEqual(told.map((id) => `pd:${id}`).sort());
      expect(posted).toHaveLength(escalations.length + told.length);
      expect(told).toHaveLength(escalations.length * 2);
    }
    // Every change was delivered twice by PagerDuty.
    const perWebhook = new Map<string, number>();
    for (const d of stack.pagerDuty!.deliveries) perWebhook.set(d.webhookId, (perWebhook.get(d.webhookId) ?? 0) + 1);
    expect([...perWebhook.values()].every((n) => n >= 2)).toBe(true);
  });
});
