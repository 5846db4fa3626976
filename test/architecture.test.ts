import { build } from 'esbuild';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { readDeployBuild } from '../bench/bundles';

const root = path.join(__dirname, '..');

/** Every source file a function's bundle pulls in, from esbuild's own resolution. */
async function inputsOf(fn: string): Promise<string[]> {
  const result = await build({
    entryPoints: [path.join(root, 'functions', fn, 'handler.ts')],
    bundle: true,
    platform: 'node',
    target: 'node24',
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

/** Every input of a function's bundle built exactly as the deploy builds it (serverless.yml's esbuild settings, aliases included). */
async function deployedInputsOf(fn: string): Promise<string[]> {
  const deploy = readDeployBuild(root);
  const result = await build({
    ...deploy.options,
    entryPoints: [path.join(root, deploy.entries[fn]!)],
    absWorkingDir: root,
    write: false,
    outdir: path.join(root, 'bench', '.build', 'architecture-test'),
    metafile: true,
    logLevel: 'silent',
  });
  return Object.keys(result.metafile.inputs);
}

describe('the deployed worker bundles carry one HTTP stack', () => {
  it.each(['slack-worker', 'pagerduty-worker'])('%s bundles pdjs on the runtime fetch, without node-fetch, whatwg-url or tr46', async (fn) => {
    const inputs = await deployedInputsOf(fn);
    expect(inputs.some((file) => file.includes('node_modules/@pagerduty/pdjs/'))).toBe(true);
    expect(inputs).toContain('lib/pagerduty/pdjs-fetch.ts');
    expect(inputs.filter((file) => /node_modules\/(node-fetch|whatwg-url|tr46|cross-fetch)\//.test(file))).toEqual([]);
  });
});

describe('errors keep their names in the minified deploy bundle', () => {
  it('logs name each error by its class, though the bundle does not keep class names', async () => {
    const deploy = readDeployBuild(root);
    const result = await build({
      ...deploy.options,
      entryPoints: [path.join(root, 'lib/runtime/errors.ts')],
      absWorkingDir: root,
      format: 'cjs',
      sourcemap: false,
      write: false,
      outdir: path.join(root, 'bench', '.build', 'architecture-test'),
      logLevel: 'silent',
    });
    const module = { exports: {} as Record<string, new (...args: string[]) => Error> };
    new Function('module', 'exports', result.outputFiles[0]!.text)(module, module.exports);
    const classes = Object.entries(module.exports).filter(([exported, value]) => typeof value === 'function' && exported.endsWith('Error'));
    expect(classes.length).toBeGreaterThanOrEqual(7);
    for (const [exported, ErrorClass] of classes) expect(new ErrorClass('x', 'y').name).toBe(exported);
  });
});

/** The top-level folder a repository path sits in (`lib`, `functions`, `local`…). */
const topFolder = (file: string) => file.split('/')[0]!;

/** Source modules (tests excluded: they may start the local stack) under a top-level folder. */
function modulesUnder(folder: string): string[] {
  return readdirSync(path.join(root, folder), { recursive: true, encoding: 'utf8' })
    .filter((file) => /\.(ts|js|cjs)$/.test(file) && !file.endsWith('.test.ts') && !file.endsWith('.d.ts'))
    .map((file) => path.join(folder, file));
}

/** The repository files a module imports by relative path, resolved as TypeScript would. */
function relativeImportsOf(file: string): string[] {
  const source = readFileSync(path.join(root, file), 'utf8');
  const specifiers = [...source.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*|^import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)].map((match) => match[1]!);
  return specifiers.map((specifier) => {
    const base = path.join(path.dirname(file), specifier);
    const found = ['', '.ts', '.js', '.json', '/index.ts'].map((ext) => base + ext).find((candidate) => existsSync(path.join(root, candidate)) && statSync(path.join(root, candidate)).isFile());
    if (!found) throw new Error(`${file} imports ${specifier}, which does not resolve`);
    return found;
  });
}

/**
 * The one deliberate exception: `npm run soak` is a command-line front for the robustness suite's
 * soak, which lives with the tests it shares its world with.
 */
const EXCEPTIONS = new Set(['scripts/soak.ts → test/robustness/support/soak.ts']);

/** Which top-level folders each folder's modules may import from: the graph points one way. */
const ALLOWED_IMPORTS: Record<string, string[]> = {
  lib: ['lib'],
  functions: ['functions', 'lib'],
  local: ['local', 'functions', 'lib'],
  scripts: ['scripts', 'local', 'functions', 'lib'],
  // The benchmark is a command too: it reads its command line with the scripts' shared parser.
  bench: ['bench', 'scripts', 'local', 'functions', 'lib'],
};

describe('the import graph points one way: functions → lib; local, scripts, bench → functions and lib', () => {
  it('finds the imports it checks (the scanner is not blind)', () => {
    expect(relativeImportsOf('functions/slack-ingress/wiring.ts').some((file) => file.startsWith('lib/'))).toBe(true);
    expect(relativeImportsOf('lib/layout/cloudformation.js')).toEqual(['lib/layout/layout.json', 'lib/layout/metrics.json']);
  });

  it.each(Object.keys(ALLOWED_IMPORTS))('modules in %s/ import only from the folders below them', (folder) => {
    const modules = modulesUnder(folder);
    expect(modules.length).toBeGreaterThan(0);
    const wrongWay = modules.flatMap((file) =>
      relativeImportsOf(file)
        .filter((target) => !ALLOWED_IMPORTS[folder]!.includes(topFolder(target)))
        .map((target) => `${file} → ${target}`)
        .filter((edge) => !EXCEPTIONS.has(edge)),
    );
    expect(wrongWay).toEqual([]);
  });
});
