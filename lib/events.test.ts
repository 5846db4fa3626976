import { EVENT_CONTRACT_VERSION, pagerDutyRouting, type ConfirmationRefreshEvent } from './events';
import { parsePagerDutyQueueEvent } from './pagerduty-events';

const refresh: ConfirmationRefreshEvent = {
  v: EVENT_CONTRACT_VERSION,
  kind: 'confirmation.refresh',
  id: 'Q2FD4SJQ6MTT1C:pdr-0123456789abcdef0123456789abcdef',
  dedupKey: 'pdr-0123456789abcdef0123456789abcdef',
  channel: 'C0123ABCD',
  requestedAt: '2026-11-30T10:00:00.000Z',
};

describe('the PagerDuty queue\'s confirmation refresh', () => {
  it('reads back as sent', () => {
    expect(parsePagerDutyQueueEvent(JSON.stringify(refresh))).toEqual(refresh);
  });

  it('is refused with the field named when a part is missing', () => {
    const { dedupKey: _dedupKey, ...partial } = refresh;
    expect(() => parsePagerDutyQueueEvent(JSON.stringify(partial))).toThrow(/dedupKey/);
  });

  it('waits in a group of its own escalation: never the incident\'s (webhooks) nor the channel\'s', () => {
    const routing = pagerDutyRouting(refresh);
    expect(routing.groupId).toBe(`confirmation.${refresh.dedupKey}`);
    // Asked again by the same change (a retry): one message; by another change: another.
    expect(pagerDutyRouting({ ...refresh }).deduplicationId).toBe(routing.deduplicationId);
    expect(pagerDutyRouting({ ...refresh, id: `QOTHER:${refresh.dedupKey}` }).deduplicationId).not.toBe(routing.deduplicationId);
  });
});
