import type { SQSEvent } from 'aws-lambda';
import { loadWorkerConfig, type Env, type WorkerConfig } from '../../lib/runtime/config';
import { makeDocumentClient } from '../../lib/store/dynamo';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { makeEffects, type Effects } from '../../lib/store/effects';
import type { IncidentLinks, LinkBinding } from '../../lib/store/incident-links';
import { makeCustomerRecords, type CustomerRecords } from '../../lib/store/customer-records';
import { makeLogger, makeSqsClient, sqsHandler } from '../../lib/runtime/lambda';
import { LAYOUT, type QueueName } from '../../lib/layout/layout';
import type { LogContext, Logger } from '../../lib/runtime/log';
import { makePagerDutyApi, type PagerDutyApi } from '../../lib/pagerduty/api';
import { makeMetricEmitter } from '../../lib/runtime/metrics';
import { makeQueueControl } from '../../lib/queue/queue';
import { makeHistorySteps, type HistorySteps } from '../../lib/store/history';
import { API_TOKEN_NAMES, type Secrets } from '../../lib/runtime/secrets';

/** The workers call Slack and PagerDuty; the signing secrets are the ingress functions' alone. */
const WORKER_SECRETS = API_TOKEN_NAMES;
type WorkerSecrets = Secrets<(typeof WORKER_SECRETS)[number]>;
import { makeSlackApi, workspaceScopes, type ChannelScopes, type SlackApi } from '../../lib/slack/web-api';
import { processFifoBatch } from '../../lib/queue/sqs-batch';
import type { Ownership } from '../../lib/tenancy/ownership';

/**
 * What both workers are built from. `O`: the part of ownership the worker asks (the only module
 * given the store's binding); `L`: the steps of the links store it takes; the parts one worker alone
 * uses are its own (WorkerDefinition.own), so that the other worker's bundle leaves them out.
 */
export interface WorkerParts<O = Ownership, L = IncidentLinks> {
  config: WorkerConfig;
  /** The links, read and written; binding one to an incident is ownership's alone. */
  links: L;
  /** Which escalations an incident holds, decided from evidence. */
  ownership: O;
  customers: CustomerRecords;
  effects: Effects;
  slack: SlackApi;
  pagerDuty: PagerDutyApi;
  /** Where each channel is spoken to (lib/slack/web-api.ts ChannelScopes). */
  scopes: ChannelScopes;
  /** The escalation history the report reads: each step recorded by the path that sees it. */
  history: HistorySteps;
  /** Called after each step that changes something; the fault-injection tests throw here. */
  checkpoint?: (step: string) => void;
}

/** What a worker builds its own parts from, once per container. */
export interface WorkerStore {
  config: WorkerConfig;
  db: DynamoDBDocumentClient;
  sqs: SQSClient;
  /** The worker's own queue. */
  queueUrl: string;
}

export interface WorkerDefinition<E, O, L, X> {
  queue: QueueName;
  name: string;
  dlqEnv: string;
  queueEnv: string;
  /** Read a message back against the event contract; throws InvalidInputError. */
  parse: (body: string) => E;
  /** The fields every log line about this event carries. */
  logContext: (event: E) => LogContext;
  /** The worker's part of ownership, given the store's binding (no other part is). */
  ownership: (deps: { links: L; binding: LinkBinding; pagerDuty: PagerDutyApi }) => O;
  /** The links store with the steps this worker takes, binding included (taken out here for ownership). */
  links: (db: DynamoDBDocumentClient, tableName: string, options: { ttlDays: number }) => L & LinkBinding;
  /** The parts this worker alone uses. */
  own: (store: WorkerStore) => X;
  build: (parts: WorkerParts<O, L> & X) => (event: E, context: { logger: Logger; attempt: number; finalAttempt: boolean }) => Promise<void>;
}

/** The store's binding taken out of it: ownership is given the binding, everyone else links that cannot bind. */
function takeBinding<L>(store: L & LinkBinding): { links: L; binding: LinkBinding } {
  const { bind, ...links } = store;
  // What is left is L: L itself has no bind (test/types/link-binding.ts holds the workers to that).
  return { links: links as L, binding: { bind } };
}

/**
 * Wire a worker: clients built once per container, Slack and PagerDuty clients rebuilt only
 * when a rotated secret changes them, every record processed FIFO-safely.
 */
export function createWorkerHandler<E, O, L, X>(env: Env, definition: WorkerDefinition<E, O, L, X>, overrides: Partial<Pick<WorkerParts, 'slack' | 'pagerDuty' | 'checkpoint'>> = {}) {
  const queueLayout = LAYOUT.queues[definition.queue];
  const config = loadWorkerConfig(env, { dlqEnv: definition.dlqEnv, maxReceiveCount: queueLayout.maxReceiveCount });
  const queueUrl = env[definition.queueEnv] ?? '';
  let secretValues: readonly string[] = [];
  const logger = makeLogger(env, definition.name, () => secretValues, (write) => makeMetricEmitter({ fn: definition.name, stage: env.STAGE?.trim() || 'local', write }));
  const db = makeDocumentClient(env);
  const sqs = makeSqsClient(env);
  const store = { ttlDays: config.linkTtlDays };
  // The binding is taken out of the store here and given to ownership alone (handlerFor).
  const { links, binding } = takeBinding(definition.links(db, config.tableName, store));
  const effects = makeEffects(db, config.tableName, store);
  const customers = makeCustomerRecords(db, config.tableName);
  const queue = makeQueueControl(sqs, queueUrl, config.dlqUrl);
  const own = definition.own({ config, db, sqs, queueUrl });
  const history = makeHistorySteps(db, config.tableName, { ttlDays: config.historyTtlDays });
  let built: { key: string; handle: ReturnType<WorkerDefinition<E, O, L, X>['build']> } | undefined;

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
      const ownership = definition.ownership({ links, binding, pagerDuty });
      built = { key, handle: definition.build({ ...own, config, links, ownership, customers, effects, slack, pagerDuty, history, scopes: workspaceScopes(slack), ...(overrides.checkpoint ? { checkpoint: overrides.checkpoint } : {}) }) };
    }
    return built.handle;
  };

  const processBatch = (event: SQSEvent, secrets: WorkerSecrets, remainingMs?: () => number) => {
    const handle = handlerFor(secrets);
    return processFifoBatch(
      event.Records,
      async ({ record, finalAttempt, attempt }) => {
        const parsed = definition.parse(record.body);
        await handle(parsed, { logger: logger.child({ ...definition.logContext(parsed), messageId: record.messageId, attempt }), attempt, finalAttempt });
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
