import { parseSlashCommand } from '../../lib/slack/commands';
import { InvalidInputError } from '../../lib/errors';
import { slackRouting, type SlackQueueEvent } from '../../lib/events';
import { json, mediaType, rejection, rejectUnverified, text, type IngressRequest, type IngressResponse } from '../../lib/runtime/http';
import type { Logger } from '../../lib/runtime/log';
import type { EventQueue } from '../../lib/queue/queue';
import { header, loggedHeader } from '../../lib/runtime/http';
import { verifySlackSignature } from '../../lib/slack/signature';
import { normalizeBlockActions, normalizeEventCallback, normalizeSlashCommand } from '../../lib/slack/normalize';

export interface SlackIngressDeps {
  queue: EventQueue;
  slashCommand: string;
  pingPhrase: string;
  logger: Logger;
  now?: () => Date;
}

type Json = Record<string, unknown>;

function parseJsonObject(raw: string, what: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new InvalidInputError(`${what} is not valid JSON`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InvalidInputError(`${what} is not a JSON object`);
  return value as Json;
}

/** Strict UTF-8: a body that is not text is malformed, not something to guess at. */
function decodeUtf8(body: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new InvalidInputError('body is not UTF-8');
  }
}

/**
 * POST /slack/events: verify, normalize, enqueue, answer. It calls nothing but SQS, so its
 * answer never waits on Slack or PagerDuty.
 */
export function makeSlackIngress(deps: SlackIngressDeps) {
  const now = deps.now ?? (() => new Date());

  return async function handleSlackRequest(request: IngressRequest, signingSecret: string): Promise<IngressResponse> {
    const receivedAt = now();
    const retryNum = header(request.headers, 'x-slack-retry-num');
    // Headers are not signed: only a short prefix of each is ever logged.
    let logger = deps.logger.child({ route: 'slack', ...(retryNum ? { slackRetryNum: loggedHeader(retryNum), slackRetryReason: loggedHeader(header(request.headers, 'x-slack-retry-reason')) } : {}) });
    const rejected = rejectUnverified(request, logger, () =>
      verifySlackSignature({ signingSecret, rawBody: request.rawBody, headers: request.headers, nowSeconds: Math.floor(receivedAt.getTime() / 1000) }),
    );
    if (rejected) return rejected;

    try {
      const body = decodeUtf8(request.rawBody);
      const type = mediaType(request.headers);
      let event: SlackQueueEvent | undefined;
      let answer: IngressResponse = text(200, '');

      if (type === 'application/json') {
        const envelope = parseJsonObject(body, 'body');
        if (envelope.type === 'url_verification') {
          if (typeof envelope.challenge !== 'string') throw new InvalidInputError('url_verification has no challenge');
          return json(200, { challenge: envelope.challenge });
        }
        if (envelope.type === 'event_callback') event = normalizeEventCallback(envelope, receivedAt);
      } else if (type === 'application/x-www-form-urlencoded') {
        const form = new URLSearchParams(body);
        if (form.get('ssl_check') === '1') return text(200, '');
        if (form.has('payload')) {
          const payload = parseJsonObject(form.get('payload')!, 'payload');
          if (payload.type === 'block_actions') event = normalizeBlockActions(payload, receivedAt);
        } else if (form.has('command')) {
          if (form.get('command') !== deps.slashCommand) {
            logger.info('ignored: a slash command that is not ours', { command: loggedHeader(form.get('command') ?? undefined) });
            return json(200, { response_type: 'ephemeral', text: `pd-router does not handle ${form.get('command')}.` });
          }
          event = normalizeSlashCommand(form, receivedAt);
          const escalating = parseSlashCommand(event.text, deps.pingPhrase).type === 'escalate';
          // Slack shows this body to the person who typed the command, and only to them.
          answer = json(200, { response_type: 'ephemeral', text: escalating ? 'Escalating…' : 'Working on it…' });
        } else {
          throw new InvalidInputError('form body has neither payload, command nor ssl_check');
        }
      } else {
        return rejection(415, `content type ${type || '(none)'} is not one Slack sends`);
      }

      if (!event) {
        logger.info('ignored: a signed event we do not handle');
        return answer;
      }
      logger = logger.child({ eventId: event.id, channel: event.channel });
      await deps.queue.send(event, slackRouting(event));
      logger.info('enqueued', { kind: event.kind });
      return answer;
    } catch (error) {
      if (error instanceof InvalidInputError) {
        logger.warn('rejected: malformed body', { reason: error.message });
        return rejection(error.status, error.message);
      }
      // Not enqueued: answer 5xx so Slack retries; the retry is de-duplicated downstream.
      logger.error('could not enqueue', { error });
      return rejection(503, 'temporarily unable to accept the event; Slack will retry');
    }
  };
}
