import { loadPagerDutyIngressConfig, type Env } from '../../lib/runtime/config';
import { ingressHandler, makeSqsClient } from '../../lib/runtime/lambda';
import { makeEventQueue } from '../../lib/queue/queue';
import { makePagerDutyIngress } from './pagerduty-ingress';

export function createPagerDutyIngressHandler(env: Env) {
  const config = loadPagerDutyIngressConfig(env);
  const queue = makeEventQueue(makeSqsClient(env), config.queueUrl);
  return ingressHandler(env, 'pagerduty-ingress', 'PAGER_DUTY_SIGNING_KEY', (logger) => makePagerDutyIngress({ queue, logger }));
}
