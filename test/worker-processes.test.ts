import type { LocalStack } from '../local/stack';
import { confirmationOf, mention, startTestStack } from './support/stack';

/**
 * The storm benchmark runs each worker in a process of its own (local/worker-process.ts), as
 * Lambda gives each invocation its own CPU: the escalation path must work the same there.
 */
describe('the local stack with each worker in a process of its own', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startTestStack({ workerProcesses: true });
  });
  afterAll(() => stack.stop());

  it('a mention is paged once and confirmed once, the workers\' CPU time is theirs to report, and no AWS call is refused', async () => {
    const before = await stack.workerUsage();
    await mention(stack, 'CPROCESS', 'escalate the API is returning 500 errors');
    await stack.waitForIdle(60_000);

    expect(stack.pagerDuty!.triggers.filter((t) => (t.payload.custom_details as { channel_id: string }).channel_id === 'CPROCESS')).toHaveLength(1);
    expect(confirmationOf(stack, 'CPROCESS')).toHaveLength(1);
    // The incident's own webhook reached the pagerduty-worker's process and was told in the thread.
    expect(stack.slack!.calls.filter((c) => c.channel === 'CPROCESS' && c.method === 'chat.postMessage').length).toBeGreaterThanOrEqual(1);
    const after = await stack.workerUsage();
    expect(after.cpuMs).toBeGreaterThan(before.cpuMs);
    expect(after.peakRssMb).toBeGreaterThan(0);
    expect(stack.iamDenials()).toEqual([]);
  });

  it('crash injection needs the workers in the stack\'s process, and says so', async () => {
    await expect(startTestStack({ workerProcesses: true, checkpoint: { slack: () => undefined } })).rejects.toThrow('checkpoint needs the workers in this process');
  });
});
