import type { SQSEvent } from 'aws-lambda';
import { loadWorkerConfig, type Env, type WorkerConfig } from '../../lib/runtime/config';
import { makeDocumentClient } from '../../lib/store/dynamo';
import { makeEffects, type Effects } from '../../lib/store/effects';
import { makeIncidentLinks, type IncidentLinks } from '../../lib/store/incident-links';
import { makeChannelReferences, type ChannelReferences } from '../../lib/store/channel-references';
import { makeCustomers, type Customers } from '../../lib/store/customers';
import { makePageBudget, NOTE_BUDGET, type PageBudget } from '../../lib/store/page-budget';
import { makeLogger, makeSqsClient, sqsHandler } from '../../lib/runtime/lambda';
import { LAYOUT, type QueueName } from '../../lib/layout/layout';
import type { LogContext, Logger } from '../../lib/runtime/log';
import { makePagerDutyApi, type PagerDutyApi } from '../../lib/pagerduty/api';
import { makeMetricEmitter } from '../../lib/runtime/metrics';
import { makeEventQueue, makeQueueControl, type EventQueue } from '../../lib/queue/queue';
import { makePacer, type Pacer } from '../../lib/store/pacer';
import { makeHistory, type History } from '../../lib/store/history';
import { API_TOKEN_NAMES, type Secrets } from '../../lib/runtime/secrets';

/** The workers call Slack and PagerDuty; the signing secrets are the ingress functions' alone. */
const WORKER_SECRETS = API_TOKEN_NAMES;
type WorkerSecrets = Secrets<(typeof WORKER_SECRETS)[number]>;
import { makeSlackApi, workspaceScopes, type ChannelScopes, type SlackApi } from '../../lib/slack/web-api';
import { processFifoBatch } from '../../lib/queue/sqs-batch';
import { makeOwnership, type Ownership } from '../../lib/tenancy/ownership';

/** What both workers are built from. */
export interface WorkerParts {
  config: WorkerConfig;
  /** The links, read and written; binding one to an incident is ownership's alone. */
  links: IncidentLinks;
  /** Which escalations an incident holds, decided from evidence (the only module given the store's binding). */
  ownership: Ownership;
  references: ChannelReferences;
  customers: Customers;
  budget: PageBudget;
  /** Notes per incident (thread replies), counted like the page budget. */
  noteBudget: PageBudget;
  effects: Effects;
  slack: SlackApi;
  pagerDuty: PagerDutyApi;
  /** The worker's own queue, for work it queues for itself. */
  queue: EventQueue;
  /** Turns under Slack's chat.update limit, shared by every invocation. */
  pacer: Pacer;
  /** Where each channel is spoken to (lib/slack/web-api.ts ChannelScopes). */
  scopes: ChannelScopes;
  /** Turns under Slack's workspace-wide chat.postMessage limit, for the posts of a fan-out; none: not paced. */
  postPacer?: Pacer;
  /** The escalation history the report reads: each step recorded by the path that sees it. */
  history: History;
  /** Called after each step that changes something; the fault-injection tests throw here. */
  checkpoint?: (step: string) => void;
}

export interface WorkerDefinition<E> {
  queue: QueueName;
  name: string;
  dlqEnv: string;
  queueEnv: string;
  /** Read a message back against the event contract; throws InvalidInputError. */
  parse: (body: string) => E;
  /** The fields every log line about this event carries. */
  logContext: (event: E) => LogContext;
  build: (parts: WorkerParts) => (event: E, context: { logger: Logger; finalAttempt: boolean }) => Promise<void>;
}

/**
 * Wire a worker: clients built once per container, Slack and PagerDuty clients rebuilt only
 * when a rotated secret changes them, every record processed FIFO-safely.
 */
export function createWorkerHandler<E>(env: Env, definition: WorkerDefinition<E>, overrides: Partial<Pick<WorkerParts, 'slack' | 'pagerDuty' | 'checkpoint'>> = {}) {
  const queueLayout = LAYOUT.queues[definition.queue];
  const config = loadWorkerConfig(env, { dlqEnv: definition.dlqEnv, maxReceiveCount: queueLayout.maxReceiveCount });
  const queueUrl = env[definition.queueEnv] ?? '';
  let secretValues: readonly string[] = [];
  const logger = makeLogger(env, definition.name, () => secretValues, (write) => makeMetricEmitter({ fn: definition.name, stage: env.STAGE?.trim() || 'local', write }));
  const db = makeDocumentClient(env);
  const sqs = makeSqsClient(env);
  const store = { ttlDays: config.linkTtlDays };
  // The binding is taken out of the store here and given to ownership alone (handlerFor).
  const { bind, ...links } = makeIncidentLinks(db, config.tableName, store);
  const effects = makeEffects(db, config.tableName, store);
  const references = makeChannelReferences(db, config.tableName);
  const customers = makeCustomers(db, config.tableName);
  const budget = makePageBudget(db, config.tableName, store);
  const noteBudget = makePageBudget(db, config.tableName, { ...store, prefix: NOTE_BUDGET.prefix, windowMs: NOTE_BUDGET.windowMs });
  const queue = makeQueueControl(sqs, queueUrl, config.dlqUrl);
  const ownQueue = makeEventQueue(sqs, queueUrl);
  const pacer = makePacer(db, config.tableName, { perMinute: config.slackUpdatesPerMinute });
  const postPacer = config.slackFanOutPostsPerMinute > 0 ? makePacer(db, config.tableName, { perMinute: config.slackFanOutPostsPerMinute }) : undefined;
  const history = makeHistory(db, config.tableName, { ttlDays: config.historyTtlDays });
  let built: { key: string; handle: ReturnType<WorkerDefinition<E>['build']> } | undefined;

  const handlerFor = (secrets: WorkerSecrets) => {
    const key = WORKER_SECRETS.map((name) => secrets[name]).join('\n');
    if (built?.key !== key) {
      secretValues = WORKER_SECRETS.map((name) => secrets[name]);
      const slack = overrides.slack ?? makeSlackApi({ token: secrets.SLACK_BOT_TOKEN, apiUrl: config.slackApiUrl, timeoutMs: config.httpTimeoutMs });
      const pagerDuty =
        overrides.pagerDuty ??
        makePagerDutyApi({
          eventsUrl: config.pagerDutyEventsUrl,
          apiUrl: config.pagerDutyApiUrl,
          routingKey: secrets.PAGER_DUTY_EVENTS_API_KEY,
          restToken: secrets.PAGER_DUTY_REST_API_KEY,
          timeoutMs: config.httpTimeoutMs,
        });
      const ownership = makeOwnership({ links, binding: { bind }, pagerDuty });
      built = { key, handle: definition.build({ config, links, ownership, references, customers, budget, noteBudget, effects, slack, pagerDuty, queue: ownQueue, pacer, ...(postPacer ? { postPacer } : {}), history, scopes: workspaceScopes(slack), ...(overrides.checkpoint ? { checkpoint: overrides.checkpoint } : {}) }) };
    }
    return built.handle;
  };

  const processBatch = (event: SQSEvent, secrets: WorkerSecrets, remainingMs?: () => number) => {
    const handle = handlerFor(secrets);
    return processFifoBatch(
      event.Records,
      async ({ record, finalAttempt, attempt }) => {
        const parsed = definition.parse(record.body);
        await handle(parsed, { logger: logger.child({ ...definition.logContext(parsed), messageId: record.messageId, attempt }), finalAttempt });
      },
      {
        logger,
        queue,
        maxReceiveCount: config.maxReceiveCount,
        retryBaseSeconds: config.retryBaseSeconds,
        retryMaxSeconds: queueLayout.visibilityTimeoutSeconds,
        logContext: (record) => {
          try {
            return definition.logContext(definition.parse(record.body));
          } catch {
            return {}; // a message that does not parse is logged with its message id alone
          }
        },
        // One message's worst case: an outbound call and its retries.
        ...(remainingMs ? { remainingMs, reserveMs: 3 * config.httpTimeoutMs + 2000 } : {}),
      },
    );
  };
  return { handler: sqsHandler(env, WORKER_SECRETS, processBatch) };
}
