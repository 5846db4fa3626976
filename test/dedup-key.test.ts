import type { LocalStack } from '../local/stack';
import { dedupKeyFor } from '../lib/dedup-key';
import { mentionEnvelope } from '../local/events/slack';
import { ensureCustomer } from '../local/world/customers';
import { botMessages, slackSends, startTestStack } from './support/stack';

/**
 * A Slack message's ts is unique within its channel only: two customers' messages in the same
 * second of two channels may carry the same ts. The escalation's PagerDuty dedup_key must keep
 * them apart, or the second customer's escalation becomes the first one's.
 */
describe('the dedup key of an escalation', () => {
  it('differs between channels for the same team and ts (mentions) or trigger id (slash commands)', () => {
    const base = { team: 'T0PROVIDER', ts: '1764150000.000100', id: 'Ev1' };
    expect(dedupKeyFor({ ...base, channel: 'CACME', via: 'mention' })).not.toBe(dedupKeyFor({ ...base, channel: 'CGLOBEX', via: 'mention' }));
    expect(dedupKeyFor({ ...base, channel: 'CACME', via: 'command' })).not.toBe(dedupKeyFor({ ...base, channel: 'CGLOBEX', via: 'command' }));
    expect(dedupKeyFor({ ...base, channel: 'CACME', via: 'mention' })).toBe(dedupKeyFor({ ...base, id: 'Ev2', channel: 'CACME', via: 'mention' }));
  });

  describe('through the local stack', () => {
    let stack: LocalStack;
    beforeAll(async () => {
      stack = await startTestStack();
    });
    afterAll(() => stack.stop());

    it('two customers\' mentions with the same ts page twice, and each channel hears only of its own', async () => {
      const ts = '1764150000.000100';
      for (const [channel, words] of [['CDKACME', 'acme checkout is down'], ['CDKGLOBEX', 'globex invoices are late']] as const) {
        await ensureCustomer(stack, channel);
        stack.slack!.recordCustomerMessage(channel, 'UCUSTOMER1', `escalate ${words}`);
        expect((await slackSends(stack, mentionEnvelope({ channel, text: `escalate ${words}`, ts }))).map((r) => r.status)).toEqual([200]);
        await stack.waitForIdle();
      }
      const keys = ['CDKACME', 'CDKGLOBEX'].map((channel) => dedupKeyFor({ team: 'T0PROVIDER', channel, ts, id: '', via: 'mention' }));
      expect(keys.map((key) => stack.pagerDuty!.byKey(key)?.title)).toEqual(['acme checkout is down', 'globex invoices are late']);
      expect(JSON.stringify(botMessages(stack, 'CDKACME'))).not.toContain('globex');
      expect(JSON.stringify(botMessages(stack, 'CDKGLOBEX'))).not.toContain('acme');
      expect(botMessages(stack, 'CDKGLOBEX').some((m) => /On-call has been paged/.test(m.text))).toBe(true);
      expect(await stack.dlq('slack')).toEqual([]);
    });
  });
});
