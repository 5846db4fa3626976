import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { build, type BuildOptions, type Metafile } from 'esbuild';
import YAML from 'yaml';

export const ROOT = path.resolve(__dirname, '..');
export const BUILD_DIR = path.join(ROOT, 'bench', '.build');

/** Keys of `custom.esbuild` that belong to serverless-esbuild itself and never reach esbuild (its bundle.ts strips the same list). */
const PLUGIN_ONLY_KEYS = [
  'concurrency',
  'zipConcurrency',
  'exclude',
  'nativeZip',
  'packager',
  'packagePath',
  'watch',
  'keepOutputDirectory',
  'packagerOptions',
  'installExtraArgs',
  'outputFileExtension',
  'outputBuildFolder',
  'outputWorkFolder',
  'nodeExternals',
  'skipBuild',
  'skipRebuild',
  'skipBuildExcludeFns',
  'stripEntryResolveExtensions',
  'disposeContext',
  'config',
] as const;

export interface DeployBuild {
  /** esbuild options exactly as serverless-esbuild would pass them (before entry point and outdir). */
  options: BuildOptions;
  /** `custom.esbuild` as written in serverless.yml. */
  declared: Record<string, unknown>;
  /** Function name → entry file, from `functions.*.handler`. */
  entries: Record<string, string>;
  /** Environment the deploy gives every function (literal values only). */
  providerEnvironment: Record<string, string>;
  runtime: string | undefined;
  architecture: string | undefined;
}

export class DeploySettingsMissing extends Error {}

/**
 * The esbuild settings the deploy uses, read from serverless.yml at run time so the benchmark
 * can never drift from them. serverless-esbuild starts from its defaults (bundle, platform node,
 * target from provider.runtime, exclude aws-sdk), merges `custom.esbuild` over them, drops its
 * own keys and turns `exclude` into esbuild externals; this does the same.
 */
export function readDeployBuild(root = ROOT): DeployBuild {
  const file = path.join(root, 'serverless.yml');
  if (!existsSync(file)) throw new DeploySettingsMissing('serverless.yml does not exist yet');
  const doc = YAML.parse(readFileSync(file, 'utf8'), { logLevel: 'silent' }) as Record<string, any>;
  const declared = doc?.custom?.esbuild as Record<string, unknown> | undefined;
  if (!declared || typeof declared !== 'object') throw new DeploySettingsMissing('serverless.yml has no custom.esbuild section yet');
  if (declared.config) throw new DeploySettingsMissing('custom.esbuild.config (a JS config file) is not supported by the benchmark: keep plain literals');
  const unresolved = Object.entries(declared).filter(([, value]) => JSON.stringify(value ?? '').includes('${'));
  if (unresolved.length) {
    throw new DeploySettingsMissing(`custom.esbuild uses Serverless variables the benchmark cannot resolve: ${unresolved.map(([k]) => k).join(', ')}`);
  }

  const runtime: string | undefined = doc?.provider?.runtime;
  // serverless-esbuild's runtime → target table: nodejs24.x → node24, and node18 when unknown.
  const runtimeTarget = /^nodejs(\d+)(\.x)?$/.exec(runtime ?? '')?.[1];
  const merged: Record<string, unknown> = {
    bundle: true,
    target: runtimeTarget ? `node${runtimeTarget}` : 'node18',
    external: [],
    exclude: ['aws-sdk'],
    platform: 'node',
    ...declared,
  };
  const exclude = toStrings(merged.exclude);
  const options: Record<string, unknown> = Object.fromEntries(Object.entries(merged).filter(([key]) => !(PLUGIN_ONLY_KEYS as readonly string[]).includes(key)));
  options.external = [...toStrings(merged.external), ...(exclude.includes('*') ? [] : exclude)];
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- esbuild plugins named in serverless.yml are CommonJS files
  if (typeof declared.plugins === 'string') options.plugins = require(path.join(root, declared.plugins));

  const entries: Record<string, string> = {};
  for (const [name, fn] of Object.entries((doc.functions ?? {}) as Record<string, { handler?: string; esbuildEntrypoint?: string }>)) {
    const handler = fn.esbuildEntrypoint ?? fn.handler;
    if (!handler) continue;
    const base = handler.slice(0, handler.lastIndexOf(path.extname(handler)));
    const entry = ['.ts', '.js', '.jsx', '.tsx'].map((ext) => base + ext).find((candidate) => existsSync(path.join(root, candidate)));
    if (entry) entries[name] = entry;
  }
  const providerEnvironment = Object.fromEntries(
    Object.entries((doc?.provider?.environment ?? {}) as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string' && !e[1].includes('${')),
  );
  return { options: options as BuildOptions, declared, entries, providerEnvironment, runtime, architecture: doc?.provider?.architecture };
}

function toStrings(value: unknown): string[] {
  return (Array.isArray(value) ? value : value === undefined ? [] : [value]).filter((v): v is string => typeof v === 'string');
}

export interface BundleInput {
  /** A package name (`@smithy/core`) or a first-party folder (`lib`, `functions/slack-ingress`). */
  name: string;
  bytes: number;
}

export interface BundleResult {
  name: string;
  entry: string;
  file: string;
  minifiedBytes: number;
  gzippedBytes: number;
  sourceMapBytes?: number;
  /** Whether any @aws-sdk module is inside the bundle (rather than left to the runtime). */
  sdkBundled: boolean;
  /** Bytes in the output per package or first-party folder, largest first. */
  topInputs: BundleInput[];
  /** Bytes in the output by where they come from (ORIGINS), largest first. */
  byOrigin: BundleInput[];
  /** The largest single files, for finding the import responsible. */
  topFiles: BundleInput[];
}

function packageOf(input: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
  if (match) return match[1]!;
  const parts = input.split('/');
  return parts[0] === 'functions' || parts[0] === 'bench' ? parts.slice(0, 2).join('/') : parts[0]!;
}

/**
 * Where a bundle's bytes come from, by the libraries the design names and pd-router's own code:
 * the libraries' part is what no change to pd-router can shrink. Each library's own dependencies
 * count with it.
 */
export const ORIGINS: { origin: string; packages: RegExp }[] = [
  { origin: 'AWS SDK', packages: /^(@aws-sdk\/|@smithy\/|@aws\/|mnemonist$|obliterator$|tslib$)/ },
  { origin: 'Slack SDK', packages: /^(@slack\/|p-queue$|p-retry$|retry$|eventemitter3$|p-finally$|p-timeout$|is-stream$|is-electron$)/ },
  { origin: 'pdjs', packages: /^(@pagerduty\/|browser-or-node$)/ },
  { origin: 'middy', packages: /^@middy\// },
  { origin: 'Powertools metrics', packages: /^@aws-lambda-powertools\// },
];
export const OWN_CODE = "pd-router's own code";

function originOf(input: string): string {
  if (!input.includes('node_modules/')) return input.startsWith('bench/') ? 'benchmark code' : OWN_CODE;
  const pkg = packageOf(input);
  return ORIGINS.find((o) => o.packages.test(pkg))?.origin ?? pkg;
}

function analyse(metafile: Metafile, outFile: string): Pick<BundleResult, 'topInputs' | 'topFiles' | 'sdkBundled' | 'byOrigin'> {
  const output = Object.entries(metafile.outputs).find(([file]) => path.resolve(ROOT, file) === outFile)?.[1];
  const inputs = Object.entries(output?.inputs ?? {});
  const byPackage = new Map<string, number>();
  const byOrigin = new Map<string, number>();
  for (const [file, { bytesInOutput }] of inputs) {
    byPackage.set(packageOf(file), (byPackage.get(packageOf(file)) ?? 0) + bytesInOutput);
    byOrigin.set(originOf(file), (byOrigin.get(originOf(file)) ?? 0) + bytesInOutput);
  }
  return {
    sdkBundled: inputs.some(([file]) => file.includes('node_modules/@aws-sdk/')),
    topInputs: [...byPackage].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes).slice(0, 12),
    byOrigin: [...byOrigin].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes),
    topFiles: inputs
      .map(([name, { bytesInOutput }]) => ({ name: name.replace(/^.*node_modules\//, ''), bytes: bytesInOutput }))
      .sort((a, b) => b.bytes - a.bytes)
      .slice(0, 10),
  };
}

/**
 * Build each deployed function, and the baseline, with the deploy's options into
 * bench/.build/deploy (laid out like serverless-esbuild's .esbuild/.build).
 */
export async function buildBundles(settings: DeployBuild, extra: Record<string, string> = {}): Promise<BundleResult[]> {
  const outRoot = path.join(BUILD_DIR, 'deploy');
  rmSync(outRoot, { recursive: true, force: true });
  mkdirSync(outRoot, { recursive: true });
  const all = { ...settings.entries, ...extra };
  return Promise.all(
    Object.entries(all).map(async ([name, entry]) => {
      const outdir = path.join(outRoot, path.dirname(entry));
      const result = await build({ ...settings.options, entryPoints: [path.join(ROOT, entry)], outdir, absWorkingDir: ROOT, metafile: true, logLevel: 'silent', write: true });
      const file = path.join(outdir, `${path.basename(entry, path.extname(entry))}.js`);
      const code = readFileSync(file);
      const map = `${file}.map`;
      return {
        name,
        entry,
        file,
        minifiedBytes: code.length,
        gzippedBytes: gzipSync(code, { level: 9 }).length,
        ...(existsSync(map) ? { sourceMapBytes: statSync(map).size } : {}),
        ...analyse(result.metafile, file),
      };
    }),
  );
}
