import middy from '@middy/core';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { loadReconcilerConfig, type Env } from '../../lib/runtime/config';
import { makeLogger, makeSqsClient } from '../../lib/runtime/lambda';
import { makeEventQueue } from '../../lib/queue/queue';
import { makeMetricEmitter } from '../../lib/runtime/metrics';
import { secretsMiddleware, type Secrets } from '../../lib/runtime/secrets';
import { makePagerDutyApi, restClient, type PagerDutyApi } from '../../lib/pagerduty/api';
import { makeOpenIncidents, makeResolvedIncidents } from '../../lib/pagerduty/open-incidents';
import { makeSlackApi, workspaceScopes, type SlackApi } from '../../lib/slack/web-api';
import { makeDocumentClient } from '../../lib/store/dynamo';
import { makeEffects } from '../../lib/store/effects';
import { makeIncidentLinks } from '../../lib/store/incident-links';
import { makeCustomerRecords } from '../../lib/store/customer-records';
import { makeHistorySteps } from '../../lib/store/history';
import { makeReconcilePosition } from '../../lib/store/reconcile-position';
import { postPacing } from '../../lib/store/pacer';
import { makeLocator } from '../../lib/tenancy/ownership';
import { makeReconciler, type RunSummary } from './reconciler';

/** The reconciler reads incidents and posts to Slack: the bot token and the REST key, nothing else. */
const RECONCILER_SECRETS = ['SLACK_BOT_TOKEN', 'PAGER_DUTY_REST_API_KEY'] as const;
type ReconcilerSecrets = Secrets<(typeof RECONCILER_SECRETS)[number]>;

export interface ReconcilerOverrides {
  slack?: SlackApi;
  pagerDuty?: PagerDutyApi;
  checkpoint?: (step: string) => void;
  /** Links examined side by side; 1: one at a time (tests of where a run stops). */
  linksAtOnce?: number;
}

/**
 * Wire the reconciler: store clients once per container, Slack and PagerDuty clients rebuilt only
 * when a rotated secret changes them, one run per scheduled invocation.
 */
export function createReconcilerHandler(env: Env, overrides: ReconcilerOverrides = {}) {
  const config = loadReconcilerConfig(env);
  let secretValues: readonly string[] = [];
  const logger = makeLogger(env, 'reconciler', () => secretValues, (write) => makeMetricEmitter({ fn: 'reconciler', stage: env.STAGE?.trim() || 'local', write }));
  const db = makeDocumentClient(env);
  const store = { ttlDays: config.linkTtlDays };
  // The binding is taken out of the store here and given to ownership alone.
  const { bind, ...links } = makeIncidentLinks(db, config.tableName, store);
  const effects = makeEffects(db, config.tableName, store);
  const customers = makeCustomerRecords(db, config.tableName);
  const history = makeHistorySteps(db, config.tableName, { ttlDays: config.historyTtlDays });
  const position = makeReconcilePosition(db, config.tableName);
  const refreshes = makeEventQueue(makeSqsClient(env), config.pagerDutyQueueUrl);
  let built: { key: string; run: ReturnType<typeof makeReconciler> } | undefined;

  const runFor = (secrets: ReconcilerSecrets) => {
    const key = RECONCILER_SECRETS.map((name) => secrets[name]).join('\n');
    if (built?.key !== key) {
      secretValues = RECONCILER_SECRETS.map((name) => secrets[name]);
      const slack = overrides.slack ?? makeSlackApi({ token: secrets.SLACK_BOT_TOKEN, apiUrl: config.slackApiUrl, timeoutMs: config.httpTimeoutMs });
      // The Events API is never called from here: no routing key is given to it.
      const rest = { apiUrl: config.pagerDutyApiUrl, restToken: secrets.PAGER_DUTY_REST_API_KEY, timeoutMs: config.httpTimeoutMs };
      const pagerDuty = overrides.pagerDuty ?? makePagerDutyApi({ ...rest, eventsUrl: 'https://events.invalid/', routingKey: '' });
      const restCall = restClient(rest);
      const openIncidents = makeOpenIncidents(restCall);
      const resolvedIncidents = makeResolvedIncidents(restCall);
      const ownership = makeLocator({ binding: { bind }, pagerDuty });
      const run = makeReconciler({ links, position, openIncidents, resolvedIncidents, ...postPacing(db, config.tableName, config), ownership, customers, effects, slack, scopes: workspaceScopes(slack), refreshes, pagerDuty, config, history, ...(overrides.checkpoint ? { checkpoint: overrides.checkpoint } : {}), ...(overrides.linksAtOnce ? { linksAtOnce: overrides.linksAtOnce } : {}) });
      built = { key, run };
    }
    return built.run;
  };

  const handler = middy<ScheduledEvent, RunSummary>()
    .use(secretsMiddleware(env, RECONCILER_SECRETS))
    .handler(async (_event, context: Context) => {
      const secrets = (context as unknown as { secrets: ReconcilerSecrets }).secrets;
      const nextRunAt = Date.now() + config.reconcileEverySeconds * 1000;
      return runFor(secrets)({
        logger,
        remainingMs: () => context.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY,
        nextRunInMs: () => nextRunAt - Date.now(),
        // One link's calls (locate, record, post) with their retries.
        reserveMs: 3 * config.httpTimeoutMs + 2000,
      });
    });
  return { handler, config };
}
