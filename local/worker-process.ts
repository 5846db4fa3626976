import './pdjs-fetch-alias';
import { fork, type ChildProcess } from 'node:child_process';
import { createPagerDutyWorkerHandler } from '../functions/pagerduty-worker/wiring';
import { createSlackWorkerHandler } from '../functions/slack-worker/wiring';
import type { Env } from '../lib/runtime/config';
import { LAYOUT, type QueueName } from '../lib/layout/layout';
import { makeSqsClient } from '../lib/runtime/lambda';
import { EventSource } from './event-source';
import { lambdaContext } from './lambda-context';

/**
 * A worker fed from its queue in a process of its own, as Lambda runs each invocation on its own
 * CPU: the storm benchmark's workers then do not wait for the emulators', the stand-ins' and the
 * ingress's turn on one Node thread, so what it measures is pd-router's pace, not the harness's.
 * The process reaches DynamoDB, SQS, Slack and PagerDuty only over HTTP, through the same
 * role-enforcing endpoints as an in-process worker.
 */
export interface WorkerProcessOptions {
  queue: QueueName;
  /** The function's environment (its endpoints and settings), as the stack gives it. */
  env: Env;
  queueUrl: string;
  concurrency?: number;
}

/** What the stack holds of a running worker process. */
export interface WorkerProcess {
  /** True while an invocation runs (as the process last said). */
  readonly busy: boolean;
  /** CPU time the process has used, in ms, and its peak RSS in MB. */
  usage(): Promise<{ cpuMs: number; peakRssMb: number }>;
  stop(): Promise<void>;
}

type FromWorker = { type: 'ready' } | { type: 'busy'; busy: boolean } | { type: 'usage'; cpuMs: number; peakRssMb: number } | { type: 'failed'; message: string; error: string };
type ToWorker = { type: 'usage' } | { type: 'stop' };

export async function startWorkerProcess(options: WorkerProcessOptions, onError: (message: string, error: string) => void): Promise<WorkerProcess> {
  const child: ChildProcess = fork(__filename, [JSON.stringify(options)], {
    // The stack runs from TypeScript source: the child loads it the same way.
    execArgv: [...process.execArgv.filter((arg) => !arg.startsWith('--cpu-prof')), ...(process.execArgv.some((arg) => arg.includes('tsx')) ? [] : ['--import', 'tsx'])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // Under jest the parent maps pdjs's fetch itself; the child is plain Node and needs the hook.
    env: Object.fromEntries(Object.entries(process.env).filter(([key]) => key !== 'JEST_WORKER_ID')),
  });
  let busy = false;
  const waiting: ((usage: { cpuMs: number; peakRssMb: number }) => void)[] = [];
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the ${options.queue} worker process exited at start (code ${code})`)));
    child.on('message', (message: FromWorker) => {
      if (message.type === 'ready') resolve();
      else if (message.type === 'busy') busy = message.busy;
      else if (message.type === 'usage') waiting.shift()?.({ cpuMs: message.cpuMs, peakRssMb: message.peakRssMb });
      else onError(message.message, message.error);
    });
  });
  child.removeAllListeners('exit');
  const send = (message: ToWorker) => child.send(message);
  return {
    get busy() {
      return busy;
    },
    usage: () => new Promise((resolve) => {
      waiting.push(resolve);
      send({ type: 'usage' });
    }),
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      send({ type: 'stop' });
    }),
  };
}

/** The child's side: one worker's handler, polled from its queue until told to stop. */
function runWorker(options: WorkerProcessOptions): void {
  const report = (message: FromWorker) => process.send?.(message);
  const name = LAYOUT.queues[options.queue].worker;
  const handler = options.queue === 'slack' ? createSlackWorkerHandler(options.env) : createPagerDutyWorkerHandler(options.env);
  const poller = makeSqsClient(options.env);
  let inFlight = 0;
  const source = new EventSource({
    sqs: poller,
    queueUrl: options.queueUrl,
    batchSize: LAYOUT.queues[options.queue].batchSize,
    invoke: async (event) => {
      if (inFlight++ === 0) report({ type: 'busy', busy: true });
      try {
        return await handler.handler(event, lambdaContext(name));
      } finally {
        if (--inFlight === 0) report({ type: 'busy', busy: false });
      }
    },
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    onError: (error) => report({ type: 'failed', message: `${options.queue} worker invocation failed`, error: String(error) }),
  });
  process.on('message', (message: ToWorker) => {
    if (message.type === 'usage') {
      const cpu = process.cpuUsage();
      report({ type: 'usage', cpuMs: (cpu.user + cpu.system) / 1000, peakRssMb: (process.resourceUsage().maxRSS * 1024) / 2 ** 20 });
    } else {
      void source.stop().then(() => {
        poller.destroy();
        process.exit(0);
      });
    }
  });
  // The stack going away (a test killed mid-run) takes its workers with it.
  process.on('disconnect', () => process.exit(0));
  source.start();
  report({ type: 'ready' });
}

if (require.main === module) runWorker(JSON.parse(process.argv[2] ?? '{}') as WorkerProcessOptions);
