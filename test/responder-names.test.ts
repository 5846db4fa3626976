import type { LocalStack } from '../local/stack';
import { ensureCustomer } from '../local/world/customers';
import { startTestStack } from './support/stack';
import { World, type SentEscalation } from '../local/world/world';

/**
 * The names rule: a customer with names off (its own `showResponderNames: false`, or the
 * deployment's SHOW_RESPONDER_NAMES=false) never reads a responder's name, in its thread, its
 * confirmation, a status update's attribution or a Check Status answer; "the on-call team" instead.
 */

const RESPONDER = 'Fox Mulder';
const ASSIGNEE = 'Walter Skinner';

/** Everything that happens to an incident that could name someone, then a Check Status click. */
async function workIt(stack: LocalStack, world: World, e: SentEscalation) {
  const incident = () => stack.pagerDuty!.byKey(e.dedupKey)!;
  stack.pagerDuty!.acknowledge(incident().id, RESPONDER);
  await stack.waitForIdle();
  stack.pagerDuty!.reassign(incident().id, ASSIGNEE, RESPONDER);
  await stack.waitForIdle();
  stack.pagerDuty!.publishStatusUpdate(incident().id, 'Rolling back the deploy.', RESPONDER);
  await stack.waitForIdle();
  await world.click(e.channel, e.dedupKey);
  await stack.waitForIdle();
  stack.pagerDuty!.resolve(incident().id, RESPONDER);
  await stack.waitForIdle();
}

/** Two channels escalate, one with names off and one with names on, and on-call works both incidents. */
async function workBoth(stack: LocalStack, off: string, on: string) {
  const world = new World(stack);
  const escalations = [await world.escalate(off), await world.escalate(on)];
  await stack.waitForIdle();
  for (const escalation of escalations) await workIt(stack, world, escalation);
}

const seen = (stack: LocalStack, channel: string) =>
  JSON.stringify([stack.slack!.calls.filter((c) => c.channel === channel), stack.slack!.ephemerals.filter((m) => m.channel === channel), stack.slack!.channelMessages(channel)]);

describe('responder names', () => {
  it('a customer with showResponderNames off reads no name; a customer with names on (the default) reads them', async () => {
    const stack = await startTestStack();
    try {
      await ensureCustomer(stack, 'CNAMESOFF', { showResponderNames: false });
      await workBoth(stack, 'CNAMESOFF', 'CNAMESON');

      expect(seen(stack, 'CNAMESOFF')).not.toContain(RESPONDER);
      expect(seen(stack, 'CNAMESOFF')).not.toContain(ASSIGNEE);
      expect(seen(stack, 'CNAMESOFF')).toContain('Acknowledged by the on-call team');
      expect(seen(stack, 'CNAMESOFF')).toContain('status update from the on-call team');
      // The same events, names on: the test would see a name if one were shown.
      expect(seen(stack, 'CNAMESON')).toContain(`Acknowledged by ${RESPONDER}`);
      expect(seen(stack, 'CNAMESON')).toContain(`status update from ${RESPONDER}`);
      expect(seen(stack, 'CNAMESON')).toContain(`*Handled by:* ${ASSIGNEE}`);
    } finally {
      await stack.stop();
    }
  });

  it('SHOW_RESPONDER_NAMES=false: a customer without a setting of its own reads no name; one that turned names on reads them', async () => {
    const stack = await startTestStack({ env: { SHOW_RESPONDER_NAMES: 'false' } });
    try {
      await ensureCustomer(stack, 'CDEPLOYON', { showResponderNames: true });
      await workBoth(stack, 'CDEPLOYOFF', 'CDEPLOYON');

      expect(seen(stack, 'CDEPLOYOFF')).not.toContain(RESPONDER);
      expect(seen(stack, 'CDEPLOYOFF')).not.toContain(ASSIGNEE);
      expect(seen(stack, 'CDEPLOYOFF')).toContain('Resolved by the on-call team');
      expect(seen(stack, 'CDEPLOYON')).toContain(`Resolved by ${RESPONDER}`);
    } finally {
      await stack.stop();
    }
  });
});
