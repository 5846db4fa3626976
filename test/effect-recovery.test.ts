import type { LocalStack } from '../local/stack';
import { dedupKeyFor } from '../lib/dedup-key';
import { EFFECT_METADATA_TYPE } from '../lib/slack/web-api';
import { STAND_IN_BOT_USER_ID } from '../local/stand-ins/slack';
import { confirmationOf, mention, startTestStack } from './support/stack';

/**
 * A post that failed is looked for before it is made again (lib/store/effects.ts, `find`): by the
 * `pd_router_effect` metadata on the messages of its thread. Anyone in the channel, or any other
 * app, can post a message carrying that metadata; only our own bot's messages may count.
 */
describe('crash recovery trusts only our own bot\'s messages', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(() => stack.stop());

  it.each([
    ['a person in the channel', 'CRECOVPERSON', { user: 'UCUSTOMER9' }],
    ['another app', 'CRECOVAPP', { user: 'UOTHERAPPBOT', botId: 'BOTHERAPP', appId: 'AOTHERAPP' }],
    ['another app posting as our bot user', 'CRECOVSPOOF', { user: STAND_IN_BOT_USER_ID, botId: 'BOTHERAPP', appId: 'AOTHERAPP' }],
  ] as const)('a message by %s carrying the confirmation\'s effect key does not stand in for it', async (_who, channel, author) => {
    // The first post of the confirmation fails; before its retry, a message with its key appears in the thread.
    stack.slack!.faults.failNext('chat.postMessage', 1, { kind: 'slack-error', error: 'internal_error' });
    const { ts, envelope } = await mention(stack, channel, 'escalate checkout is down');
    const dedupKey = dedupKeyFor({ team: envelope.team_id, channel, ts, id: envelope.event_id, via: 'mention' });
    stack.slack!.recordCustomerMessage(channel, author.user, 'totally the confirmation', ts, {
      ...('botId' in author ? { botId: author.botId, appId: author.appId } : {}),
      metadata: { event_type: EFFECT_METADATA_TYPE, event_payload: { key: `confirm:${dedupKey}` } },
    });
    await stack.waitForIdle();
    const confirmations = confirmationOf(stack, channel).filter((m) => m.user === STAND_IN_BOT_USER_ID && m.botId !== 'BOTHERAPP');
    expect(confirmations).toHaveLength(1);
    expect(confirmations[0]!.threadTs).toBe(ts);
    expect(await stack.dlq('slack')).toEqual([]);
  });
});
