import { loadSlackIngressConfig, type Env } from '../../lib/runtime/config';
import { ingressHandler, makeSqsClient } from '../../lib/runtime/lambda';
import { makeEventQueue } from '../../lib/queue/queue';
import { makeSlackIngress } from './slack-ingress';

export function createSlackIngressHandler(env: Env) {
  const config = loadSlackIngressConfig(env);
  const queue = makeEventQueue(makeSqsClient(env), config.queueUrl);
  return ingressHandler(env, 'slack-ingress', 'SLACK_SIGNING_SECRET', (logger) =>
    makeSlackIngress({ queue, slashCommand: config.slashCommand, pingPhrase: config.pingPhrase, logger }),
  );
}
