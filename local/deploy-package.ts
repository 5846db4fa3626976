import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const ROOT = path.join(__dirname, '..');
/** What `osls package` reads from the service folder. */
const SERVICE_FILES = ['serverless.yml', 'package.json', 'tsconfig.json', 'deploy', 'lib', 'functions'];

export interface PackageOptions {
  stage: string;
  region: string;
  /** `name=value` pairs, passed as `--param=name=value`. */
  params?: string[];
  /** Where the template and the bundles are written. */
  outDir: string;
  /** Added to the packager's environment (which never holds AWS credentials). */
  env?: NodeJS.ProcessEnv;
}

/**
 * `osls package`, exactly as `sls deploy` generates the stack, offline: no credentials, and any AWS
 * call that slipped in would hit a closed local port. serverless-esbuild builds in the service's
 * `.esbuild` folder and removes it when done, so two packagings of one folder at once break each
 * other: each run packages its own copy of the service's files. Returns the template's path.
 */
export async function packageService(options: PackageOptions): Promise<string> {
  const work = mkdtempSync(path.join(tmpdir(), 'pd-router-service-'));
  try {
    for (const file of SERVICE_FILES) cpSync(path.join(ROOT, file), path.join(work, file), { recursive: true, filter: (source) => !source.endsWith('.test.ts') });
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(work, 'node_modules'), 'dir');
    mkdirSync(options.outDir, { recursive: true });
    const env: NodeJS.ProcessEnv = { ...process.env, ...options.env, AWS_ENDPOINT_URL: 'http://127.0.0.1:9', AWS_EC2_METADATA_DISABLED: 'true', SLS_TELEMETRY_DISABLED: '1' };
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete env[name];
    const args = [path.join(work, 'node_modules', 'osls', 'bin', 'serverless.js'), 'package', '--stage', options.stage, '--region', options.region, '--package', options.outDir, ...(options.params ?? []).map((p) => `--param=${p}`)];
    await promisify(execFile)(process.execPath, args, { cwd: work, env, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }).catch((error: { stdout?: string; stderr?: string }) => {
      throw new Error(`osls package --stage ${options.stage} failed: ${String(error.stderr || error.stdout || error).trim().split('\n').slice(-5).join(' ')}`);
    });
    return path.join(options.outDir, 'cloudformation-template-update-stack.json');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
