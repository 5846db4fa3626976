import { PAGERDUTY_HANDLED_EVENT_TYPES } from '../events';

/**
 * The v3 webhook event types pd-router's subscription asks PagerDuty for (`npm run pd:subscribe`):
 * every type the worker handles, and nothing else. PagerDuty sends a subscription only the types it
 * asks for, and so does the local PagerDuty stand-in, whose stack nobody subscribed by hand.
 */
export const SUBSCRIBED_EVENT_TYPES: readonly string[] = PAGERDUTY_HANDLED_EVENT_TYPES;
