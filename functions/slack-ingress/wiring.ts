import { loadSlackIngressConfig, type Env } from '../../lib/config';
import { httpHandler, makeLogger, makeSqsClient } from '../../lib/lambda';
import { makeEventQueue } from '../../lib/queue';
import { makeSlackIngress } from './slack-ingress';

export function createSlackIngressHandler(env: Env) {
  const config = loadSlackIngressConfig(env);
  let signingSecret = '';
  const handle = makeSlackIngress({
    queue: makeEventQueue(makeSqsClient(env), config.queueUrl),
    slashCommand: config.slashCommand,
    pingPhrase: config.pingPhrase,
    logger: makeLogger(env, 'slack-ingress', () => [signingSecret]),
  });
  return httpHandler(env, ['SLACK_SIGNING_SECRET'], (request, secrets) => {
    signingSecret = secrets.SLACK_SIGNING_SECRET;
    return handle(request, secrets.SLACK_SIGNING_SECRET);
  });
}
