import { build } from 'esbuild';
import path from 'node:path';

const root = path.join(__dirname, '..');

/** Every source file a function's bundle pulls in, from esbuild's own resolution. */
async function inputsOf(fn: string): Promise<string[]> {
  const result = await build({
    entryPoints: [path.join(root, 'functions', fn, 'handler.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  return Object.keys(result.metafile.inputs);
}

describe('what each function imports', () => {
  it.each(['slack-ingress', 'pagerduty-ingress'])('%s imports neither the Slack nor the PagerDuty SDK, nor DynamoDB', async (fn) => {
    const inputs = await inputsOf(fn);
    expect(inputs.length).toBeGreaterThan(10);
    expect(inputs.filter((file) => /node_modules\/(@slack|@pagerduty|@aws-sdk\/(client-dynamodb|lib-dynamodb))\//.test(file))).toEqual([]);
    expect(inputs.some((file) => file.includes('node_modules/@aws-sdk/client-sqs/'))).toBe(true);
  });

  it.each(['slack-worker', 'pagerduty-worker'])('%s never imports the local stack or its stand-ins', async (fn) => {
    const inputs = await inputsOf(fn);
    expect(inputs.filter((file) => file.startsWith('local/') || file.includes('/local/'))).toEqual([]);
    expect(inputs.filter((file) => /node_modules\/(dynalite|fauxqs)\//.test(file))).toEqual([]);
  });
});
