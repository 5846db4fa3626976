import { loadPagerDutyIngressConfig, type Env } from '../../lib/config';
import { httpHandler, makeLogger, makeSqsClient } from '../../lib/lambda';
import { makeEventQueue } from '../../lib/queue';
import { makePagerDutyIngress } from './pagerduty-ingress';

export function createPagerDutyIngressHandler(env: Env) {
  const config = loadPagerDutyIngressConfig(env);
  let signingKey = '';
  const handle = makePagerDutyIngress({
    queue: makeEventQueue(makeSqsClient(env), config.queueUrl),
    logger: makeLogger(env, 'pagerduty-ingress', () => [signingKey]),
  });
  return httpHandler(env, ['PAGER_DUTY_SIGNING_KEY'], (request, secrets) => {
    signingKey = secrets.PAGER_DUTY_SIGNING_KEY;
    return handle(request, secrets.PAGER_DUTY_SIGNING_KEY);
  });
}
