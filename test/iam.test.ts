import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { LocalStack, StackOptions } from '../local/stack';
import { loadDeployTemplate, TEMPLATE_OVERRIDE_ENV, type Template } from '../local/iam/deploy-roles';
import { LAYOUT } from '../lib/layout/layout';
import { makeCustomers } from '../lib/store/customers';
import { makeDocumentClient } from '../lib/store/dynamo';
import { confirmationOf, mention, startTestStack } from './support/stack';

const ROOT = path.join(__dirname, '..');
const ACK_TEST = 'an acknowledgement brings the confirmation up to date under the deploy roles';

/** The deploy's template with one grant taken out of one role: the pagerduty-worker's send to its own queue. */
async function withoutWorkerOwnQueueSend(): Promise<Template> {
  const template = structuredClone(await loadDeployTemplate());
  const role = template.Resources.PagerdutyWorkerRole!.Properties as { Policies: { PolicyDocument: { Statement: { Action: unknown; Resource: unknown }[] } }[] };
  let removed = 0;
  for (const policy of role.Policies) {
    for (const statement of policy.PolicyDocument.Statement) {
      if (statement.Action !== 'sqs:SendMessage') continue;
      const resources = [statement.Resource].flat();
      const kept = resources.filter((r) => JSON.stringify(r) !== JSON.stringify({ 'Fn::GetAtt': [LAYOUT.queues.pagerduty.logicalId, 'Arn'] }));
      removed += resources.length - kept.length;
      statement.Resource = kept;
    }
  }
  if (removed !== 1) throw new Error(`expected the pagerduty-worker role to grant sqs:SendMessage on its own queue once, found ${removed}`);
  return template;
}

async function escalateAndAcknowledge(stack: LocalStack, channel: string) {
  await mention(stack, channel, 'escalate the API is returning 500 errors');
  await stack.waitForIdle();
  const incident = [...stack.pagerDuty!.incidents.values()].find((i) => (i.payload.custom_details as { channel_id?: string }).channel_id === channel)!;
  stack.pagerDuty!.acknowledge(incident.id);
  await stack.waitForIdle();
  return JSON.stringify(confirmationOf(stack, channel).at(-1)?.blocks ?? []);
}

describe("every local run holds each function to its deploy role (the template `osls package` generates)", () => {
  let stack: LocalStack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  async function start(options: StackOptions = {}) {
    stack = await startTestStack(options);
    return stack;
  }

  it(ACK_TEST, async () => {
    const running = await start();
    expect(await escalateAndAcknowledge(running, 'CIAMACK')).toMatch(/\*Status:\* :[a-z_]+: Acknowledged/);
    expect(running.iamDenials()).toEqual([]);
  });

  it("a call the role does not allow is refused as AWS refuses it, named in the log, and the work behind it is not done", async () => {
    const running = await start({ iam: { template: await withoutWorkerOwnQueueSend(), allowDenials: true } });
    const blocks = await escalateAndAcknowledge(running, 'CIAMDENY');
    expect(blocks).toMatch(/Triggered/);
    expect(blocks).not.toMatch(/Acknowledged/);
    expect(running.iamDenials()).toContainEqual({
      function: 'pagerduty-worker',
      role: 'PagerdutyWorkerRole',
      action: 'sqs:SendMessage',
      resource: 'arn:aws:sqs:us-east-1:000000000000:pd-router-local-pagerduty-events.fifo',
    });
    expect(running.iamDenials().every((d) => d.function === 'pagerduty-worker')).toBe(true);
  });

  it('a stack that saw a refused call fails when it stops, naming the call', async () => {
    const running = await start({ iam: { template: await withoutWorkerOwnQueueSend() } });
    await escalateAndAcknowledge(running, 'CIAMSTOP');
    stack = undefined;
    await expect(running.stop()).rejects.toThrow(/refused \d+ AWS call\(s\)[\s\S]*pagerduty-worker: sqs:SendMessage on arn:aws:sqs:us-east-1:000000000000:pd-router-local-pagerduty-events\.fifo/);
  });

  it('with one grant removed from the deploy template, the named acknowledgement test fails', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pd-router-iam-mutant-'));
    try {
      const file = path.join(dir, 'template.json');
      writeFileSync(file, JSON.stringify(await withoutWorkerOwnQueueSend()));
      const run = promisify(execFile)(process.execPath, [require.resolve('jest/bin/jest'), '--runInBand', 'test/iam.test.ts', '-t', ACK_TEST], {
        cwd: ROOT,
        env: { ...process.env, [TEMPLATE_OVERRIDE_ENV]: file },
        timeout: 120_000,
      });
      const failure = (await run.then(
        () => undefined,
        (error: { code?: number; stderr?: string }) => error,
      )) as { code?: number; stderr?: string } | undefined;
      expect(failure?.code).toBe(1);
      expect(failure?.stderr).toContain(ACK_TEST);
      expect(failure?.stderr).toMatch(/pagerduty-worker: sqs:SendMessage on arn:aws:sqs:[^ ]+pagerduty-events\.fifo/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the registry's items under the deploy roles", () => {
  let stack: LocalStack;
  beforeAll(async () => {
    stack = await startTestStack({ iam: { allowDenials: true } });
    await stack.customers.add({ channel: 'C0KEYHOLDER', name: 'Key Holder', routingKey: 'R0KEYHOLDERKEY00000000000000000' });
  });
  afterAll(() => stack.stop());

  const as = (fn: 'slack-worker' | 'pagerduty-worker' | 'reconciler') => makeCustomers(makeDocumentClient(stack.functionEnv(fn)), stack.dynamo.tableName);
  // The store wraps a failed call (retryable, as a throttle would be); AWS's own error is its cause.
  const denied = (error: unknown) => ((error as { cause?: { name?: string } }).cause ?? (error as { name?: string })).name;

  it("lets only the function that pages read a customer's routing key", async () => {
    await expect(as('slack-worker').routingKey('C0KEYHOLDER')).resolves.toBe('R0KEYHOLDERKEY00000000000000000');
    for (const fn of ['pagerduty-worker', 'reconciler'] as const) {
      await expect(as(fn).routingKey('C0KEYHOLDER').catch(denied)).resolves.toBe('AccessDeniedException');
      // The customer item itself (what the delivery gate reads) holds no key.
      await expect(as(fn).get('C0KEYHOLDER')).resolves.toMatchObject({ name: 'Key Holder', routingKeyMask: 'R0…00' });
    }
    expect(stack.iamDenials().map((d) => `${d.function} ${d.action} ${d.leadingKeys?.join()}`)).toEqual(['pagerduty-worker dynamodb:GetItem routing#C0KEYHOLDER', 'reconciler dynamodb:GetItem routing#C0KEYHOLDER']);
  });

  it('lets no function rewrite or delete a customer; the slack-worker may record who the channel is shared with, and nothing else', async () => {
    const before = stack.iamDenials().length;
    await expect(as('slack-worker').recordSharedWith('C0KEYHOLDER', ['T0PROVIDER'])).resolves.toMatchObject({ sharedWith: ['T0PROVIDER'] });
    for (const fn of ['slack-worker', 'pagerduty-worker', 'reconciler'] as const) {
      await expect(as(fn).update('C0KEYHOLDER', { name: 'Renamed' }).catch(denied)).resolves.toBe('AccessDeniedException');
      await expect(as(fn).approve('C0KEYHOLDER', ['T0STRANGER']).catch(denied)).resolves.toBe('AccessDeniedException');
    }
    await expect(as('pagerduty-worker').recordSharedWith('C0KEYHOLDER', []).catch(denied)).resolves.toBe('AccessDeniedException');
    expect(stack.iamDenials().length - before).toBe(7);
    expect(await stack.customers.full('C0KEYHOLDER')).toMatchObject({ name: 'Key Holder', approvedOrgs: [], sharedWith: ['T0PROVIDER'], routingKey: 'R0KEYHOLDERKEY00000000000000000' });
  });
});
