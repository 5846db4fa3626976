import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { PagerDutyEventType } from '../events';
// Named imports, so a bundle carries the names it emits, not the deploy's list of who emits what.
import { names, namespace, updatesPosted } from '../layout/metrics.json';

/**
 * Every metric name pd-router emits or will emit. They are defined once, in
 * lib/layout/metrics.json, because the dashboard and the alarms (deploy/cloudformation.js,
 * CommonJS) read them too.
 */
export const METRIC_NAMES = {
  ...names,
  /** One metric per event type, so no dimension is needed for it. */
  updatesPosted: updatesPosted as Record<PagerDutyEventType, string>,
} as const;

export type MetricName = (typeof names)[keyof typeof names] | (typeof updatesPosted)[keyof typeof updatesPosted];

/** Context fields copied onto a metric line as properties: searchable in Logs Insights, never dimensions. */
const PROPERTY_FIELDS = ['channel', 'incidentId', 'eventId', 'dedupKey', 'messageId', 'eventType'] as const;

/** Writes one EMF line for one count; channel and incident ride along as properties. */
export type MetricEmitter = (name: MetricName, value: number, properties: Record<string, unknown>) => void;

/**
 * A metric emitter on Powertools' EMF serializer. Dimensions are only service, stage and
 * function (a handful of series per stage, which alarms can name); the channel and incident go
 * in as metadata, because a dimension per customer would be a CloudWatch series per customer.
 * Each call flushes at once, so a crash later in the invocation loses no count.
 */
export function makeMetricEmitter(options: { fn: string; stage: string; write: (line: string) => void }): MetricEmitter {
  const metrics = new Metrics({ namespace, serviceName: namespace, defaultDimensions: { stage: options.stage, function: options.fn } });
  // Powertools prints EMF through its own console on stdout; routing it through our writer keeps
  // one output path (the `silent` level, the secret scrubbing, tests that read the lines).
  (metrics as unknown as { console: { log: (line: string) => void } }).console = { log: options.write };
  return (name, value, properties) => {
    for (const field of PROPERTY_FIELDS) {
      const v = properties[field];
      if (typeof v === 'string' || typeof v === 'number') metrics.addMetadata(field, String(v));
    }
    metrics.addMetric(name, MetricUnit.Count, value);
    metrics.publishStoredMetrics();
  };
}
