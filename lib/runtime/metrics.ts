import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { PagerDutyEventType } from '../events';
import definitions from '../layout/metrics.json';

/**
 * Every metric name pd-router emits or will emit. They are defined once, in
 * lib/layout/metrics.json, because the dashboard and the alarms (deploy/cloudformation.js,
 * CommonJS) read them too.
 */
export const METRIC_NAMES = {
  ...definitions.names,
  /** One metric per event type, so no dimension is needed for it. */
  updatesPosted: definitions.updatesPosted as Record<PagerDutyEventType, string>,
} as const;

export type MetricName = (typeof definitions.names)[keyof typeof definitions.names] | (typeof definitions.updatesPosted)[keyof typeof definitions.updatesPosted];

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
  const metrics = new Metrics({ namespace: definitions.namespace, serviceName: definitions.namespace, defaultDimensions: { stage: options.stage, function: options.fn } });
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
