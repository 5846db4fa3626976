import { parseCommand, parseSlashCommand, textAfterBotMention } from '../../lib/slack/commands';
import { PermanentError } from '../../lib/errors';
import type { SlackQueueEvent } from '../../lib/events';
import { CHECK_STATUS_ACTION_ID } from '../../lib/slack/normalize';
import { METRIC_NAMES } from '../../lib/runtime/metrics';
import { helpMessage, pongMessage } from '../../lib/slack/messages';
import { channelChanged } from './channel-change';
import { checkStatus, confirmationClick } from './clicks';
import { escalate, reply } from './escalate';
import { makeThreadReplies } from './thread-replies';
import { makeStepTools, type HandleContext, type SlackWorkerDeps } from './tools';

export type { HandleContext, SlackWorkerDeps } from './tools';
export { MESSAGE_DETAIL_MAX_LENGTH } from './page';

/**
 * The slack-worker: which step each Slack event is for. The steps are modules of their own
 * (escalate, page, clicks, thread replies, channel changes), built from the same tools.
 */
export function makeSlackWorker(deps: SlackWorkerDeps) {
  const tools = makeStepTools(deps);
  const threadReply = makeThreadReplies({ ...deps, ownership: tools.ownership, gate: tools.gate, actorOf: tools.actorOf, ...(deps.config.pagerDutyFromEmail ? { fromEmail: deps.config.pagerDutyFromEmail } : {}) });

  return async function handleSlackEvent(event: SlackQueueEvent, context: HandleContext): Promise<void> {
    try {
      if (event.kind === 'slack.action') return await (event.actionId === CHECK_STATUS_ACTION_ID ? checkStatus(tools, event, context) : confirmationClick(tools, event, context));
      if (event.kind === 'slack.channel') return await channelChanged(tools, event, context);
      if (event.kind === 'slack.reply') return await threadReply(event, context.logger, context.finalAttempt);
      // Our own id from auth.test: in a Slack Connect channel the event's authorizations may be another organization's.
      const botUserId = event.via === 'mention' ? ((await deps.slack.botUserId()) ?? event.botUserId) : undefined;
      const command = event.via === 'mention' ? parseCommand(textAfterBotMention(event.text, botUserId), deps.config.pingPhrase) : parseSlashCommand(event.text, deps.config.pingPhrase);
      if (command.type === 'escalate') return await escalate(tools, event, command.description, context);
      return await reply(tools, event, command.type === 'ping' ? pongMessage() : helpMessage(deps.config.slashCommand), event.threadTs ?? event.ts);
    } catch (error) {
      if (error instanceof PermanentError) {
        context.logger.warn('Slack refused our message to this channel; dropped', { reason: error.code });
        context.logger.metric(METRIC_NAMES.slackChannelUnavailable);
        return;
      }
      throw error;
    }
  };
}
