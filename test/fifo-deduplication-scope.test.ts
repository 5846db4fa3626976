/**
 * Why the work queues may de-duplicate per message group (SQS FIFO high-throughput mode,
 * `DeduplicationScope: messageGroup`, deploy/cloudformation.js): in that mode SQS drops a
 * message only when an earlier one with the same de-duplication id was sent to the same group. So
 * it is safe only if every pair of messages that must be de-duplicated always lands in one group.
 * Those pairs are redeliveries: Slack retrying an event, PagerDuty redelivering a webhook, a
 * worker queueing a fan-out part or a refresh again after a retry. Each is shown here to produce
 * the same group id and de-duplication id as the original, through the routing functions of
 * lib/events.ts and the queue sender of lib/queue/queue.ts (which hashes both into SQS's
 * alphabet), and, over many events at once, that no de-duplication id is ever sent to two groups.
 */
import type { SendMessageCommand, SendMessageCommandInput, SQSClient } from '@aws-sdk/client-sqs';
import fc from 'fast-check';
import {
  EVENT_CONTRACT_VERSION,
  pagerDutyRouting,
  slackRouting,
  type ConfirmationRefreshEvent,
  type IncidentLinkEvent,
  type PagerDutyQueueEvent,
  type QueueRouting,
  type SlackQueueEvent,
} from '../lib/events';
import { normalizePagerDutyWebhook } from '../lib/pagerduty/normalize';
import { makeEventQueue } from '../lib/queue/queue';
import type { Logger } from '../lib/runtime/log';
import { makeFollowersNote } from '../functions/pagerduty-worker/followers-note';
import { normalizeBlockActions, normalizeEventCallback, normalizeSlashCommand } from '../lib/slack/normalize';
import { incidentWebhookBody, statusUpdateWebhookBody, webhookIncident } from '../local/events/pagerduty';
import { checkStatusPayload, mentionEnvelope, slashCommandForm } from '../local/events/slack';

/** What the queue sender hands SQS for each event: its group and de-duplication ids, as sent. */
async function sentIds<E extends object>(events: E[], routing: (event: E) => QueueRouting): Promise<{ group: string; dedup: string }[]> {
  const sent: SendMessageCommandInput[] = [];
  const sqs = { send: async (command: SendMessageCommand) => void sent.push(command.input) } as unknown as SQSClient;
  const queue = makeEventQueue(sqs, 'https://sqs.us-east-1.amazonaws.com/000000000000/work.fifo');
  for (const event of events) await queue.send(event, routing(event));
  return sent.map((input) => ({ group: input.MessageGroupId!, dedup: input.MessageDeduplicationId! }));
}

/** De-duplication ids sent to more than one group: the duplicates per-group de-duplication would let through. */
function idsInSeveralGroups(sent: { group: string; dedup: string }[]): string[] {
  const groups = new Map<string, Set<string>>();
  for (const { group, dedup } of sent) groups.set(dedup, (groups.get(dedup) ?? new Set()).add(group));
  return [...groups].filter(([, g]) => g.size > 1).map(([dedup]) => dedup);
}

const first = new Date('2026-11-30T10:00:00.000Z');
const retry = new Date('2026-11-30T10:00:03.000Z');

function slackEvent(envelope: Record<string, unknown>, at: Date): SlackQueueEvent {
  return normalizeEventCallback(envelope, at)!;
}

function webhook(input: { eventId: string; incidentId: string; eventType: string }) {
  const incident = webhookIncident({ id: input.incidentId, incidentKey: `pdr-${input.incidentId}` });
  const origin = { by: null, eventId: input.eventId, occurredAt: '2026-11-30T09:59:59.000Z' };
  return input.eventType === 'incident.status_update_published' ? statusUpdateWebhookBody(incident, 'We are restoring the database.', origin) : incidentWebhookBody(incident, input.eventType, origin);
}

function pagerDutyEvent(body: ReturnType<typeof webhook>, webhookId: string | undefined, at: Date): PagerDutyQueueEvent {
  const event = normalizePagerDutyWebhook(body as unknown as Record<string, unknown>, webhookId, at);
  if (typeof event === 'string') throw new Error(`webhook ignored: ${event}`);
  return event;
}

describe('FIFO de-duplication per message group is safe: every redelivery lands in its original group', () => {
  it("a Slack retry of the same event (same body, a later moment) is sent with the original's group and de-duplication id", async () => {
    const envelope = mentionEnvelope({ channel: 'C0ACME', text: 'escalate the API answers 503' });
    const form = new URLSearchParams(slashCommandForm({ channel: 'C0ACME', user: 'U1', text: 'escalate x', triggerId: '123.456.abc' }));
    const action = checkStatusPayload({ channel: 'C0ACME', value: 'pdr-1' });
    for (const [original, again] of [
      [slackEvent(envelope, first), slackEvent(structuredClone(envelope), retry)],
      [normalizeSlashCommand(form, first), normalizeSlashCommand(new URLSearchParams(form), retry)],
      [normalizeBlockActions(action, first)!, normalizeBlockActions(structuredClone(action), retry)!],
    ] as const) {
      const [a, b] = await sentIds<SlackQueueEvent>([original, again], slackRouting);
      expect(b).toEqual(a);
    }
  });

  it("a PagerDuty webhook redelivered (same event, same X-Webhook-Id, or none) is sent with the original's group and de-duplication id", async () => {
    for (const eventType of ['incident.triggered', 'incident.acknowledged', 'incident.resolved', 'incident.status_update_published']) {
      const body = webhook({ eventId: '01EVENT', incidentId: 'Q1INCIDENT', eventType });
      for (const webhookId of ['wh-01', undefined]) {
        const [a, b] = await sentIds<PagerDutyQueueEvent>([pagerDutyEvent(body, webhookId, first), pagerDutyEvent(structuredClone(body), webhookId, retry)], pagerDutyRouting);
        expect(b).toEqual(a);
      }
    }
  });

  it("a worker's fan-out part and confirmation refresh, queued again after a retry, keep their group and de-duplication id", async () => {
    const event = pagerDutyEvent(webhook({ eventId: '01MERGE', incidentId: 'Q1INTERNAL', eventType: 'incident.resolved' }), 'wh-02', first);
    const part = (dedupKey: string, followers: number): IncidentLinkEvent => ({ v: EVENT_CONTRACT_VERSION, kind: 'incident.link', id: `${event.id}:${dedupKey}`, dedupKey, followers, event: event as IncidentLinkEvent['event'] });
    const refresh = (dedupKey: string, at: Date): ConfirmationRefreshEvent => ({ v: EVENT_CONTRACT_VERSION, kind: 'confirmation.refresh', id: `${event.id}:${dedupKey}`, dedupKey, channel: 'C0ACME', requestedAt: at.toISOString() });
    const [a, b, c, d] = await sentIds<PagerDutyQueueEvent>([part('pdr-a', 300), part('pdr-a', 299), refresh('pdr-a', first), refresh('pdr-a', retry)], pagerDutyRouting);
    expect(b).toEqual(a);
    expect(d).toEqual(c);
  });

  it("a merge's followers note, queued again by a retry or by another merge of its window, keeps its group and de-duplication id; the next window's is another", async () => {
    const sent: PagerDutyQueueEvent[] = [];
    let nowMs = Date.parse('2026-12-06T21:00:00.000Z');
    const followersNote = makeFollowersNote({ links: { followersOf: async () => [] }, queue: { send: async (event) => void sent.push(event as PagerDutyQueueEvent) }, audience: {} as never, settleMs: 10_000, now: () => nowMs });
    const logger = { info: () => undefined } as unknown as Logger;
    await followersNote.request('Q1INTERNAL', logger);
    nowMs += 4_000; // a retry of the same merge, or the next merge, in the same window
    await followersNote.request('Q1INTERNAL', logger);
    nowMs += 10_000;
    await followersNote.request('Q1INTERNAL', logger);
    const [a, b, c] = await sentIds(sent, pagerDutyRouting);
    expect(b).toEqual(a);
    expect(c!.group).toBe(a!.group);
    expect(c!.dedup).not.toBe(a!.dedup);
  });

  it('over many events and their redeliveries at once, no de-duplication id is ever sent to two groups', async () => {
    // Ids from small alphabets so that events collide often. What holds in the vendors' data is
    // kept: a Slack event id belongs to one channel, a PagerDuty event (and its X-Webhook-Id) to
    // one incident; an escalation's dedup key to one channel.
    const slackArb = fc.record({ event: fc.integer({ min: 0, max: 5 }), text: fc.string({ maxLength: 20 }), retried: fc.boolean() });
    const pdArb = fc.record({
      event: fc.integer({ min: 0, max: 5 }),
      type: fc.constantFrom('incident.triggered', 'incident.acknowledged', 'incident.resolved', 'incident.status_update_published'),
      withWebhookId: fc.boolean(),
      part: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(slackArb, { maxLength: 12 }), fc.array(pdArb, { maxLength: 12 }), async (slackCases, pdCases) => {
        const slack = slackCases.flatMap(({ event, text, retried }) => {
          const envelope = mentionEnvelope({ channel: `C0CUST${event % 3}`, text, eventId: `Ev0${event}`, ts: `1700000000.00000${event}` });
          return retried ? [slackEvent(envelope, first), slackEvent(envelope, retry)] : [slackEvent(envelope, first)];
        });
        const pagerDuty = pdCases.flatMap(({ event, type, withWebhookId, part }): PagerDutyQueueEvent[] => {
          const incidentEvent = pagerDutyEvent(webhook({ eventId: `01E${event}`, incidentId: `Q${event % 2}`, eventType: type }), withWebhookId ? `wh-${event}` : undefined, first);
          if (part === undefined) return [incidentEvent];
          const dedupKey = `pdr-${part}`;
          return [{ v: EVENT_CONTRACT_VERSION, kind: 'incident.link', id: `${incidentEvent.id}:${dedupKey}`, dedupKey, event: incidentEvent as IncidentLinkEvent['event'] }];
        });
        expect(idsInSeveralGroups(await sentIds(slack, slackRouting))).toEqual([]);
        expect(idsInSeveralGroups(await sentIds(pagerDuty, pagerDutyRouting))).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it('the check above fails for a routing that would let a duplicate through (a group that changes on a retry)', async () => {
    const envelope = mentionEnvelope({ channel: 'C0ACME', text: 'escalate' });
    const unsafe = (event: SlackQueueEvent): QueueRouting => ({ ...slackRouting(event), groupId: `${event.channel}.${Date.parse(event.receivedAt)}` });
    expect(idsInSeveralGroups(await sentIds([slackEvent(envelope, first), slackEvent(envelope, retry)], unsafe))).toHaveLength(1);
  });
});
