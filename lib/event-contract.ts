import * as v from 'valibot';
import { InvalidInputError } from './errors';

/**
 * The normalized event contract: what the ingress functions put on the queues and the workers
 * read back. It is versioned; a worker validates every message against it before acting, so a
 * message from an older or newer deploy is parked with a reason instead of half-processed.
 *
 * The Slack queue's events are ./slack-events.ts, the PagerDuty queue's ./pagerduty-events.ts: a
 * function bundles the schemas of the queue it reads and no other. ./events.ts names them all.
 */
export const EVENT_CONTRACT_VERSION = 1;

/** The longest status update text kept (Slack's section text takes 3000 characters). */
export const STATUS_UPDATE_MAX_LENGTH = 2800;

/**
 * The longest message text the queue carries (Slack's own limit for a message). The ingress cuts
 * a longer one to it (lib/slack/normalize.ts) and says how long it was (`cut`), so the worker
 * answers it in the thread instead of the queue parking it unread.
 */
export const MESSAGE_TEXT_MAX_LENGTH = 40000;

export const nonEmpty = v.pipe(v.string(), v.minLength(1), v.maxLength(4000));
/** How many characters the text had before the ingress cut it to MESSAGE_TEXT_MAX_LENGTH (absent: not cut). */
export const cutFrom = v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)));
export const optionalText = v.optional(v.pipe(v.string(), v.maxLength(4000)));
export const isoTime = v.pipe(v.string(), v.isoTimestamp());

export const PAGERDUTY_HANDLED_EVENT_TYPES = [
  'incident.triggered',
  'incident.acknowledged',
  'incident.unacknowledged',
  'incident.reassigned',
  'incident.escalated',
  'incident.delegated',
  'incident.reopened',
  'incident.resolved',
  'incident.priority_updated',
  'incident.status_update_published',
] as const;
export type PagerDutyEventType = (typeof PAGERDUTY_HANDLED_EVENT_TYPES)[number];

/**
 * How old (by its `occurred_at`) a PagerDuty webhook may be and still be acted on: 50 hours.
 * PagerDuty retries a delivery for up to 48 hours, so a genuine event can arrive that late; the
 * 2 hours beyond cover the queue's own retries and clock skew. Anything older is a replay (a
 * signed body captured once, sent again under a new X-Webhook-Id, which is not signed): refused,
 * logged and counted, never posted. A channel misses nothing by it: the reconciler reads each
 * open escalation's incident every RECONCILE_EVERY_SECONDS and tells what no webhook did.
 */
export const WEBHOOK_MAX_AGE_MS = 50 * 60 * 60 * 1000;

export const INCIDENT_STATUSES = ['triggered', 'acknowledged', 'resolved'] as const;
export type IncidentStatus = (typeof INCIDENT_STATUSES)[number];

function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  return issues
    .slice(0, 3)
    .map((issue) => `${v.getDotPath(issue) ?? '(root)'}: ${issue.message}`)
    .join('; ');
}

function parseBody(body: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new InvalidInputError('queue message is not JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InvalidInputError('queue message is not a JSON object');
  }
  const record = parsed as Record<string, unknown>;
  if (record.v !== EVENT_CONTRACT_VERSION) {
    throw new InvalidInputError(`queue message has contract version ${JSON.stringify(record.v)}, expected ${EVENT_CONTRACT_VERSION}`);
  }
  return record;
}

/** Read a queue message back against a schema, or throw InvalidInputError saying what is wrong. */
export function parseWith<S extends v.GenericSchema>(schema: S, body: string): v.InferOutput<S> {
  const result = v.safeParse(schema, parseBody(body));
  if (!result.success) throw new InvalidInputError(`queue message does not match the contract: ${describeIssues(result.issues)}`);
  return result.output;
}
