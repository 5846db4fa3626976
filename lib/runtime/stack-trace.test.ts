import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { mappedStack } from './stack-trace';

describe('mappedStack', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'stack-trace-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('maps a minified bundle’s frames back to the TypeScript line that threw, through the bundle’s own map', async () => {
    writeFileSync(
      path.join(dir, 'broken.ts'),
      ['export function parseAmount(text: string): number {', '  const value = JSON.parse(text) as { amount: { cents: number } };', '  return value.amount.cents;', '}', ''].join('\n'),
    );
    writeFileSync(
      path.join(dir, 'entry.ts'),
      [
        `import { mappedStack } from ${JSON.stringify(path.join(__dirname, 'stack-trace'))};`,
        "import { parseAmount } from './broken';",
        'try {',
        "  parseAmount('{}');",
        '} catch (error) {',
        '  process.stdout.write(JSON.stringify({ raw: (error as Error).stack, mapped: mappedStack(error as Error) }));',
        '}',
      ].join('\n'),
    );
    const bundle = path.join(dir, 'entry.js');
    await build({ entryPoints: [path.join(dir, 'entry.ts')], outfile: bundle, bundle: true, minify: true, sourcemap: true, platform: 'node', format: 'cjs', logLevel: 'silent' });
    // A plain node, as Lambda runs it: no --enable-source-maps, and none of Jest's stack mapping.
    const { raw, mapped } = JSON.parse(execFileSync(process.execPath, [bundle], { encoding: 'utf8' })) as { raw: string; mapped: string };
    expect(raw).toMatch(/entry\.js:\d+:\d+/);
    expect(raw).not.toMatch(/broken\.ts/);
    expect(mapped.split('\n')[0]).toBe(raw.split('\n')[0]);
    expect(mapped).toMatch(/broken\.ts:3:\d+/);
    expect(mapped).not.toMatch(/entry\.js:/);
  });

  it('leaves frames without a source map as they are, and keeps a dozen frames', () => {
    const error = new Error('plain');
    error.stack = ['Error: plain', ...Array.from({ length: 30 }, (_, i) => `    at f${i} (/nowhere/file.js:${i + 1}:2)`)].join('\n');
    const stack = mappedStack(error)!;
    expect(stack.split('\n')).toHaveLength(13);
    expect(stack).toContain('at f0 (/nowhere/file.js:1:2)');
  });
});
