import { formatSoakReport, runSoak } from '../../local/world/soak';

/**
 * The soak run's short version (npm run soak is the long one): the same harness, 20 channels,
 * 300 escalations. Webhooks come once here (PagerDuty's duplicates are the duplicates test's
 * subject, and the long run's), to keep npm test quick.
 */
describe('soak, short', () => {
  it('20 channels, 300 escalations with their updates, faults at a low rate: nothing doubled, misrouted or lost', async () => {
    const seed = Number(process.env.SOAK_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const report = await runSoak({ channels: 20, escalations: 300, faultRate: 0.01, seed, wave: 50, duplicateWebhooks: false });
    const summary = formatSoakReport(report);
    expect({ duplicates: report.duplicates, misroutes: report.misroutes, lost: report.lost, refusalLeaks: report.refusalLeaks, summary: report.ok ? 'ok' : summary }).toEqual({ duplicates: [], misroutes: [], lost: [], refusalLeaks: [], summary: 'ok' });
    expect(report.incidentsTriggered + report.failedAndTold).toBe(300);
    expect(report.messagesPerChannel.channels).toBe(20);
    expect(report.messagesPerChannel.min).toBeGreaterThan(0);
    // Every change was delivered and posted once: 3 events per incident.
    expect(report.eventsIn.distinctPagerDutyEvents).toBe(report.incidentsTriggered * 3);
  }, 180_000);
});
