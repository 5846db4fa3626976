import { InvalidInputError } from '../../lib/errors';
import { pagerDutyRouting } from '../../lib/events';
import { json, rejection, rejectUnverified, type IngressRequest, type IngressResponse } from '../../lib/runtime/http';
import type { Logger } from '../../lib/runtime/log';
import { normalizePagerDutyWebhook } from '../../lib/pagerduty/normalize';
import type { EventQueue } from '../../lib/queue/queue';
import { verifyPagerDutySignature } from '../../lib/pagerduty/signature';
import { header, loggedHeader } from '../../lib/runtime/http';

export interface PagerDutyIngressDeps {
  queue: EventQueue;
  logger: Logger;
  now?: () => Date;
}

/**
 * POST /pagerduty/webhooks: verify, normalize, enqueue, answer. A genuine event we do not use
 * is answered 2xx: PagerDuty disables a subscription after repeated 4xx answers.
 */
export function makePagerDutyIngress(deps: PagerDutyIngressDeps) {
  const now = deps.now ?? (() => new Date());
  return async function handlePagerDutyWebhook(request: IngressRequest, signingKey: string): Promise<IngressResponse> {
    const webhookId = header(request.headers, 'x-webhook-id');
    // X-Webhook-Id is not signed: only a short prefix of it is ever logged.
    let logger = deps.logger.child({ route: 'pagerduty', ...(webhookId ? { webhookId: loggedHeader(webhookId) } : {}) });
    const rejected = rejectUnverified(request, logger, () => verifyPagerDutySignature({ signingKey, rawBody: request.rawBody, headers: request.headers }));
    if (rejected) return rejected;
    try {
      let body: unknown;
      try {
        body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(request.rawBody));
      } catch {
        throw new InvalidInputError('body is not valid UTF-8 JSON');
      }
      if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new InvalidInputError('body is not a JSON object');
      const event = normalizePagerDutyWebhook(body as Record<string, unknown>, webhookId, now());
      if (typeof event === 'string') {
        logger.info('accepted and ignored', { reason: event });
        return json(202, { status: 'ignored', reason: event });
      }
      logger = logger.child({ eventId: event.id, incidentId: event.incident.id });
      await deps.queue.send(event, pagerDutyRouting(event));
      logger.info('enqueued', { eventType: event.eventType });
      return json(202, { status: 'accepted' });
    } catch (error) {
      if (error instanceof InvalidInputError) {
        logger.warn('rejected: malformed body', { reason: error.message });
        return rejection(400, error.message);
      }
      // Not enqueued: a 5xx makes PagerDuty deliver it again.
      logger.error('could not enqueue', { error });
      return rejection(503, 'temporarily unable to accept the event; PagerDuty will retry');
    }
  };
}
