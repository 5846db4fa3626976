import { performance } from 'node:perf_hooks';
import { LOCAL_AWS_ENV, startLocalDynamo } from '../local/aws';
import { makeDocumentClient } from '../lib/store/dynamo';
import { makeCustomers } from '../lib/store/customers';
import { makeHistory } from '../lib/store/history';
import { readReportCustomers } from '../lib/store/report-customers';
import { buildReport } from '../lib/report/report';
import { renderCsv, renderText } from '../lib/report/render';

/**
 * `npm run report` against the local stack's DynamoDB (dynalite) holding a provider's history:
 * `escalations` spread over `days` across `customers` channels, written through the history's own
 * write path (paged; most acknowledged, half resolved). Measures the whole report (every Query
 * page, the customers' names and targets, the numbers, the table and the CSV) for all customers
 * over the whole period, and for the busiest customer alone.
 */
export interface ReportReadOptions {
  escalations: number;
  days: number;
  customers: number;
  /** Runs of each report; the median is kept. */
  runs: number;
}

export interface ReportReadResult extends ReportReadOptions {
  writesPerSecond: number;
  allCustomersMs: number;
  oneCustomerMs: number;
  /** Escalations the all-customers report counted (every one written). */
  counted: number;
  queryPages: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export async function measureReportRead(options: ReportReadOptions): Promise<ReportReadResult> {
  for (const [name, value] of Object.entries(LOCAL_AWS_ENV)) process.env[name] ??= value;
  const dynamo = await startLocalDynamo({ stage: 'bench-report' });
  const db = makeDocumentClient({ AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint });
  try {
    const customers = makeCustomers(db, dynamo.tableName);
    const channel = (i: number) => `C0BENCH${String(i).padStart(5, '0')}`;
    for (let i = 0; i < options.customers; i++) await customers.add({ channel: channel(i), name: `Customer ${i}`, ...(i % 2 ? { ackWithinMinutes: 15, resolveWithinMinutes: 240 } : {}) });
    const history = makeHistory(db, dynamo.tableName, { ttlDays: 400 });
    const now = Date.now();
    const span = options.days * 86_400_000;
    let next = 0;
    let writes = 0;
    const started = performance.now();
    // Customers escalate unevenly, as they do: the first tenth asks half the time.
    const customerOf = (k: number) => (k % 2 ? k % Math.max(1, Math.floor(options.customers / 10)) : k % options.customers);
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < options.escalations) {
          const k = next++;
          const asked = now - span + Math.floor(((k + 0.5) / options.escalations) * span);
          const who = { dedupKey: `bench-${k}`, channel: channel(customerOf(k)), askedAt: new Date(asked).toISOString() };
          await history.record(who, { step: 'paged', at: new Date(asked + 2_000).toISOString(), ref: k + 1 });
          writes++;
          if (k % 10 < 9) {
            await history.record(who, { step: 'acknowledged', at: new Date(asked + (60 + (k % 37) * 45) * 1000).toISOString() });
            writes++;
          }
          if (k % 2 === 0) {
            await history.record(who, { step: 'resolved', at: new Date(asked + (1800 + (k % 53) * 400) * 1000).toISOString() });
            writes++;
          }
        }
      }),
    );
    const writesPerSecond = Math.round(writes / ((performance.now() - started) / 1000));

    const period = { from: new Date(now - span - 60_000), to: new Date(now + 60_000) };
    const report = async (only?: string) => {
      let pages = 0;
      const t0 = performance.now();
      const [records, names] = await Promise.all([history.query({ ...period, ...(only ? { channel: only } : {}), onPage: () => pages++ }), readReportCustomers(db, dynamo.tableName)]);
      const built = buildReport(records, names, period, new Date(now), only);
      renderText(built, only);
      renderCsv(built);
      return { ms: performance.now() - t0, counted: built.total.asked, pages };
    };
    const all: Awaited<ReturnType<typeof report>>[] = [];
    const one: number[] = [];
    for (let run = 0; run < options.runs; run++) {
      all.push(await report());
      one.push((await report(channel(0))).ms);
    }
    return { ...options, writesPerSecond, allCustomersMs: Math.round(median(all.map((r) => r.ms))), oneCustomerMs: Math.round(median(one)), counted: all[0]!.counted, queryPages: all[0]!.pages };
  } finally {
    db.destroy();
    await dynamo.stop();
  }
}
