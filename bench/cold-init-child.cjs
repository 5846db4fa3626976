'use strict';
// One cold start, in a fresh `node` process started by bench/cold-init.ts: load a bundle, hand
// its handler one event, report the timings on file descriptor 3 and exit. Plain JavaScript, so
// nothing but the bundle is loaded. Times are epoch milliseconds (performance.timeOrigin +
// performance.now()), comparable with the parent's clock: Lambda freezes a process after its
// answer instead of exiting it, so the process's own teardown is not part of a cold start.
const { writeSync } = require('node:fs');

const now = () => performance.timeOrigin + performance.now();
const startedAt = now();
const { handler } = require(process.env.BENCH_BUNDLE);
const loadedAt = now();
const event = JSON.parse(process.env.BENCH_EVENT);
const context = {
  callbackWaitsForEmptyEventLoop: false,
  functionName: 'bench-cold-init',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:bench-cold-init',
  memoryLimitInMB: '256',
  awsRequestId: 'cold-init',
  logGroupName: '/aws/lambda/bench-cold-init',
  logStreamName: 'bench',
  getRemainingTimeInMillis: () => 30000,
  done() {},
  fail() {},
  succeed() {},
};

Promise.resolve(handler(event, context)).then(
  (result) => {
    const handledAt = now();
    const failures = result && Array.isArray(result.batchItemFailures) ? result.batchItemFailures.length : 0;
    const status = result && typeof result.statusCode === 'number' ? result.statusCode : failures ? 500 : 200;
    writeSync(3, JSON.stringify({ ok: status < 300, status, startedAt, loadedAt, handledAt }));
    // Keep-alive sockets would otherwise hold the process open.
    process.exit(0);
  },
  (error) => {
    writeSync(3, JSON.stringify({ ok: false, error: String((error && error.stack) || error) }));
    process.exit(1);
  },
);
