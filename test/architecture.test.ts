import { build } from 'esbuild';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { readDeployBuild } from '../bench/bundles';
import { codeFiles, outsideReads } from './support/outside-reads';

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
    expect(inputs).toContain('lib/shims/pdjs-fetch.ts');
    expect(inputs.filter((file) => /node_modules\/(node-fetch|whatwg-url|tr46|cross-fetch)\//.test(file))).toEqual([]);
  });
});

describe('the modules the deploy puts in place of packages are the shims, in one folder', () => {
  it('every esbuild alias of serverless.yml points into lib/shims/, and lib/shims/ holds nothing else', () => {
    const aliased = Object.values(readDeployBuild(root).options.alias ?? {}).map((target) => path.normalize(target));
    expect(aliased.length).toBeGreaterThan(0);
    expect(aliased.filter((target) => !target.startsWith('lib/shims/'))).toEqual([]);
    expect(modulesUnder('lib/shims').sort()).toEqual([...aliased].sort());
  });
});

describe('errors keep their names in the minified deploy bundle', () => {
  it('logs name each error by its class, though the bundle does not keep class names', async () => {
    const deploy = readDeployBuild(root);
    const result = await build({
      ...deploy.options,
      entryPoints: [path.join(root, 'lib/errors.ts')],
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
    expect(classes.map(([exported]) => exported)).toEqual(expect.arrayContaining(['PermanentError', 'ChannelGoneError', 'NoThreadError', 'PagerDutyNotFoundError']));
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

/** Which top-level folders each folder's modules may import from: the graph points one way. */
const ALLOWED_IMPORTS: Record<string, string[]> = {
  lib: ['lib'],
  // The deploy generator reads the one definition of the queues, the table and the metrics (lib/layout/).
  deploy: ['deploy', 'lib'],
  functions: ['functions', 'lib'],
  local: ['local', 'functions', 'lib'],
  scripts: ['scripts', 'local', 'functions', 'lib'],
  // The benchmark is a command too: it reads its command line with the scripts' shared parser.
  bench: ['bench', 'scripts', 'local', 'functions', 'lib'],
};

describe('the import graph points one way: functions → lib; local, scripts, bench → functions and lib', () => {
  it('finds the imports it checks (the scanner is not blind)', () => {
    expect(relativeImportsOf('functions/slack-ingress/wiring.ts').some((file) => file.startsWith('lib/'))).toBe(true);
    expect(relativeImportsOf('deploy/cloudformation.js')).toEqual(['lib/layout/layout.json', 'lib/layout/metrics.json']);
  });

  it.each(Object.keys(ALLOWED_IMPORTS))('modules in %s/ import only from the folders below them', (folder) => {
    const modules = modulesUnder(folder);
    expect(modules.length).toBeGreaterThan(0);
    const wrongWay = modules.flatMap((file) =>
      relativeImportsOf(file)
        .filter((target) => !ALLOWED_IMPORTS[folder]!.includes(topFolder(target)))
        .map((target) => `${file} → ${target}`),
    );
    expect(wrongWay).toEqual([]);
  });
});

/** The folder that once held the corpus beside the repository, spelt so that this file does not itself name it. */
const SHARED = 'shared';

describe('the repository stands on its own: nothing reads outside it', () => {
  it('no code, test, script or config reads a folder beside the repository or climbs above it', () => {
    expect(codeFiles(root)).toEqual(expect.arrayContaining(['test/replies.test.ts', 'lib/slack/normalize.test.ts', 'package.json', '.ci/run', 'serverless.yml']));
    expect(outsideReads(root)).toEqual([]);
  });

  describe('finds a planted read (the scanner is not blind), and only reads, not mentions', () => {
    let planted: string;
    const plant = (file: string, text: string) => {
      mkdirSync(path.dirname(path.join(planted, file)), { recursive: true });
      writeFileSync(path.join(planted, file), text);
    };
    beforeEach(() => {
      planted = mkdtempSync(path.join(tmpdir(), 'pd-router-outside-reads-'));
      plant('.gitignore', 'node_modules/\nbench/.build/\n');
    });
    afterEach(() => rmSync(planted, { recursive: true, force: true }));

    it.each([
      // The five test files as they were, reading the corpus beside the repository.
      ['lib/slack/normalize.test.ts', `const capture = path.join(__dirname, '..', '..', '..', '${SHARED}', 'corpus', 'slack', 'x.json');`],
      ['test/replies.test.ts', `const beside = [path.join(__dirname, '..', '..', '${SHARED}')];`],
      ['test/customers.test.ts', `readFileSync(path.join(root, '..', '${SHARED}', 'corpus', 'slack', name), 'utf8');`],
      ['bench/run.ts', `const body = readFileSync('../${SHARED}/corpus/pagerduty/incident.triggered.json', 'utf8');`],
      ['scripts/demo.ts', `const spec = \`\${__dirname}/../../${SHARED}/corpus/specs/x.json\`;`],
      ['local/stand-ins/slack.ts', `import spec from '../../../${SHARED}/corpus/specs/slack-web-openapi-v2.json';`],
      ['local/stack.ts', `const data = require('../../outside/data.json');`],
      ['test/x.test.ts', `const up = path.resolve(__dirname, '../..', 'elsewhere');`],
      ['package.json', `{ "scripts": { "fixtures": "cp ../${SHARED}/corpus/slack/*.json test/fixtures/slack/" } }`],
      ['.ci/run', `#!/usr/bin/env bash\nls ../${SHARED}/corpus\n`],
    ])('%s', (file, text) => {
      plant(file, `${text}\n`);
      const findings = outsideReads(planted);
      expect(findings.length).toBeGreaterThan(0);
      for (const finding of findings) expect(finding.startsWith(`${file}:${text.includes('\n') ? 2 : 1}: `)).toBe(true);
    });

    it('comments, prose and paths that stay inside are not findings', () => {
      plant('local/stand-ins/pagerduty.ts', `// shaped like the real capture (${SHARED}/corpus/pagerduty), see ../${SHARED}\nconst root = path.join(__dirname, '..', '..');\nimport { x } from '../../lib/x';\n`);
      plant('README.md', `The fixtures were copied from ../${SHARED}/corpus.\n`);
      plant('.ci/run', `#!/usr/bin/env bash\n# not ../${SHARED}/corpus any more\nnpm test\n`);
      plant('node_modules/some-package/index.js', `require('../../../${SHARED}/corpus/x.json');\n`);
      plant('bench/.build/bundle.js', `require('../../../${SHARED}/corpus/x.json');\n`);
      expect(codeFiles(planted)).toEqual(['.ci/run', 'local/stand-ins/pagerduty.ts']);
      expect(outsideReads(planted)).toEqual([]);
    });
  });
});

/**
 * Inside lib/, floors from the ground up: a module imports only from its own floor or below.
 * The root's contract files sit above the errors and the layout, the runtime above the contract,
 * the shims the deploy puts in place of packages above the runtime, the adapters, stores and queue
 * plumbing above them, who-may-see-what (tenancy) above them, the Slack
 * renderer above that (it takes only tenancy's customer-safe types), and the steps the workers
 * share (escalation) above the renderer.
 */
const LIB_FLOORS: string[][] = [
  ['lib/errors.ts', 'lib/layout/'],
  ['lib/event-contract.ts', 'lib/slack-events.ts', 'lib/pagerduty-events.ts', 'lib/events.ts', 'lib/dedup-key.ts'],
  ['lib/runtime/'],
  ['lib/shims/'],
  ['lib/store/', 'lib/pagerduty/', 'lib/queue/'],
  ['lib/tenancy/'],
  ['lib/slack/'],
  ['lib/escalation/'],
  ['lib/report/'],
];

/** The floor a lib/ module stands on. */
function libFloor(file: string): number {
  const floor = LIB_FLOORS.findIndex((places) => places.some((place) => (place.endsWith('/') ? file.startsWith(place) : file === place)));
  if (floor < 0) throw new Error(`${file} is on no floor of lib/: give it one in LIB_FLOORS`);
  return floor;
}


/** Every import inside lib/ that runs from a floor up to a higher one. */
function importsRunningUp(modules: string[]): string[] {
  return modules.flatMap((file) =>
    relativeImportsOf(file)
      .filter((target) => target.startsWith('lib/') && !target.endsWith('.json') && libFloor(target) > libFloor(file))
      .map((target) => `${file} → ${target}`),
  );
}

describe('inside lib/, imports point one way: report → escalation → slack → tenancy → store, pagerduty, queue → shims → runtime → the contract → errors, layout', () => {
  it('every module of lib/ stands on a floor, and none imports from a floor above its own', () => {
    const modules = modulesUnder('lib');
    expect(modules.map(libFloor).every((floor) => floor >= 0)).toBe(true);
    expect(importsRunningUp(modules)).toEqual([]);
  });

  it('finds an import that runs up (the check is not blind)', () => {
    const planted = path.join(root, 'lib', 'runtime', 'zz-planted-upward-import.ts');
    writeFileSync(planted, "import { makeCustomers } from '../store/customers';\nexport const planted = makeCustomers;\n");
    try {
      expect(importsRunningUp(['lib/runtime/zz-planted-upward-import.ts'])).toEqual(['lib/runtime/zz-planted-upward-import.ts → lib/store/customers.ts']);
    } finally {
      rmSync(planted);
    }
  });
});

/** Handlers are wiring and the workers read as steps: a function in functions/ this long is a closure to split. */
const MAX_FUNCTION_LINES = 80;

/** Every function (declarations, methods, arrows) in these files longer than the limit, with its lines. */
function longFunctions(files: string[]): string[] {
  return files.flatMap((file) => {
    const source = ts.createSourceFile(file, readFileSync(path.join(root, file), 'utf8'), ts.ScriptTarget.Latest, true);
    const found: string[] = [];
    const visit = (node: ts.Node) => {
      if (ts.isFunctionLike(node) && 'body' in node && node.body) {
        const first = source.getLineAndCharacterOfPosition(node.getStart()).line;
        const lines = source.getLineAndCharacterOfPosition(node.getEnd()).line - first + 1;
        const name = 'name' in node && node.name ? node.name.getText() : '(anonymous)';
        if (lines > MAX_FUNCTION_LINES) found.push(`${file}:${first + 1} ${name} (${lines} lines)`);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
    return found;
  });
}

describe(`no function in functions/ is over ${MAX_FUNCTION_LINES} lines`, () => {
  it('the functions, their steps and their wiring', () => {
    expect(longFunctions(modulesUnder('functions'))).toEqual([]);
  });

  it('finds a long one (the check is not blind)', () => {
    const planted = path.join(root, 'functions', 'zz-planted-long-function.ts');
    writeFileSync(planted, `export function makeEverything() {\n${'  console.log(1);\n'.repeat(MAX_FUNCTION_LINES)}}\n`);
    try {
      expect(longFunctions(['functions/zz-planted-long-function.ts'])).toEqual([`functions/zz-planted-long-function.ts:1 makeEverything (${MAX_FUNCTION_LINES + 2} lines)`]);
    } finally {
      rmSync(planted);
    }
  });
});
