import { existsSync } from 'node:fs';
import { join } from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const Sequencer = require('./longest-first-sequencer.cjs') as { new (options: object): { sort(tests: object[]): object[] }; LONGEST_FIRST: string[] };
const ROOT = join(__dirname, '..');

describe('the suite\'s order on a fresh clone', () => {
  it('names only test files that exist (a renamed one would silently lose its place)', () => {
    expect(Sequencer.LONGEST_FIRST.filter((file) => !existsSync(join(ROOT, file)))).toEqual([]);
  });

  it('starts the listed files first, longest first, and keeps every other file', () => {
    const test = (file: string) => ({ path: join(ROOT, file), context: { config: { rootDir: ROOT, cacheDirectory: join(ROOT, '.no-jest-cache'), name: 'order' }, hasteFS: { getSize: () => 1 } } });
    const tests = ['lib/events.test.ts', 'test/robustness/soak.test.ts', 'test/robustness/isolation.test.ts', 'test/doctor.test.ts'].map(test);
    const sorted = new Sequencer({ contexts: [], globalConfig: {} }).sort(tests) as { path: string }[];
    expect(sorted.slice(0, 2).map((t) => t.path)).toEqual([join(ROOT, 'test/robustness/isolation.test.ts'), join(ROOT, 'test/robustness/soak.test.ts')]);
    expect(sorted).toHaveLength(4);
  });
});
