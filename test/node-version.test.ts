import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

const root = path.join(__dirname, '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  engines: { node: string };
  devDependencies: Record<string, string>;
};
const serverless = YAML.parse(readFileSync(path.join(root, 'serverless.yml'), 'utf8'), { logLevel: 'silent' }) as {
  provider: { runtime: string };
  custom: { esbuild: { target: string } };
};

/** The leading number of a version or range ("24.21.0", "^24.19.4", "24.x", "nodejs24.x", "node24"). */
const major = (value: string) => Number(/(\d+)/.exec(value)?.[1]);

describe('one Node everywhere', () => {
  const deployed = major(serverless.provider.runtime);

  it('deploys the major the `node` dev dependency pins, exactly', () => {
    expect(serverless.provider.runtime).toMatch(/^nodejs\d+\.x$/);
    expect(pkg.devDependencies.node).toMatch(/^\d+\.\d+\.\d+$/);
    expect(major(pkg.devDependencies.node!)).toBe(deployed);
  });

  it('builds for it, types against it and declares it', () => {
    expect(serverless.custom.esbuild.target).toBe(`node${deployed}`);
    expect(major(pkg.devDependencies['@types/node']!)).toBe(deployed);
    expect(pkg.engines.node).toBe(`${deployed}.x`);
  });

  it('runs these tests on it (npm puts node_modules/.bin first on PATH)', () => {
    expect(major(process.version)).toBe(deployed);
  });
});
