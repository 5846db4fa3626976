import { writeFileSync } from 'node:fs';
import type { HistoryRecord } from '../../lib/store/history';
import { buildReport, type ReportCustomer } from '../../lib/report/report';
import { renderHtml } from '../../lib/report/render';

/**
 * Eight weeks of four customers' escalations, made up but shaped like real ones (most answered
 * within minutes, a few slow, some folded or refused), for the report's browser test and the
 * README's chart. Run by tsx: vega and vega-lite are ES modules that jest's CommonJS cannot load.
 */
export const FIXTURE_CUSTOMERS: ReportCustomer[] = [
  { channel: 'C0ACME00001', name: 'Acme Corp', ackWithinMinutes: 15, resolveWithinMinutes: 240 },
  { channel: 'C0GLOBEX001', name: 'Globex', ackWithinMinutes: 30, resolveWithinMinutes: 480 },
  { channel: 'C0INITECH01', name: 'Initech', ackWithinMinutes: 10 },
  { channel: 'C0UMBRELLA1', name: 'Umbrella' },
];
export const FIXTURE_PERIOD = { from: new Date('2026-10-05T00:00:00.000Z'), to: new Date('2026-11-30T00:00:00.000Z') };

export function fixtureRecords(): HistoryRecord[] {
  const records: HistoryRecord[] = [];
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let day = 0; day < 56; day++) {
    for (const [i, customer] of FIXTURE_CUSTOMERS.entries()) {
      if (random() > 0.35 - i * 0.05) continue;
      const asked = new Date(FIXTURE_PERIOD.from.getTime() + day * 86_400_000 + (8 + random() * 10) * 3_600_000).toISOString();
      const at = (seconds: number) => new Date(Date.parse(asked) + seconds * 1000).toISOString();
      const dedupKey = `fixture-${day}-${i}`;
      const roll = random();
      if (roll < 0.08) records.push({ dedupKey, channel: customer.channel, askedAt: asked, outcome: 'folded' });
      else if (roll < 0.12) records.push({ dedupKey, channel: customer.channel, askedAt: asked, outcome: 'refused', reason: 'paused' });
      else {
        const ack = 60 + random() ** 2 * (day > 30 && day < 38 ? 3600 : 1500);
        records.push({ dedupKey, channel: customer.channel, askedAt: asked, outcome: 'paged', pagedAt: at(1 + random() * 3), acknowledgedAt: at(ack), resolvedAt: at(ack + 600 + random() ** 2 * 20_000), ...(random() < 0.1 ? { handledWith: 1 } : {}) });
      }
    }
  }
  return records;
}

/** `tsx test/browser/report-fixture.ts <out.html> [channel]`: the fixture's report as the command writes it. */
async function main() {
  const [out, only] = process.argv.slice(2);
  const report = buildReport(fixtureRecords(), FIXTURE_CUSTOMERS, FIXTURE_PERIOD, FIXTURE_PERIOD.to, only);
  writeFileSync(out!, await renderHtml(report, only));
}

if (require.main === module) void main();
