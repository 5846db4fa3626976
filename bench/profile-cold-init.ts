import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Env } from '../lib/runtime/config';
import { BUILD_DIR } from './bundles';
import { round } from './lib/stats';

const CHILD = path.join(__dirname, 'cold-init-child.cjs');

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

export interface ColdInitProfile {
  bundle: string;
  runs: number;
  /** CPU milliseconds per cold start, by where the time went (the bundle's frames mapped back through its source map). */
  byCategory: { category: string; ms: number }[];
}

function packageOf(source: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(source);
  if (match) return match[1]!;
  const parts = source.replace(/^(\.\.\/)+/, '').split('/');
  return parts[0] === 'functions' ? parts.slice(0, 2).join('/') : parts[0]!;
}

/**
 * `node --cpu-prof` on `runs` cold starts of one bundle, each sample charged to the package its
 * code came from (through the bundle's source map); node's own frames are charged to the bundle
 * code that called them, and compiling the bundle is its own line.
 */
export async function profileColdInit(options: { bundle: string; env: Env; event: () => unknown; runs: number }): Promise<ColdInitProfile> {
  const map = new SourceMap(JSON.parse(readFileSync(`${options.bundle}.map`, 'utf8')));
  const bundleUrls = new Set([options.bundle, pathToFileURL(options.bundle).href]);
  const totals = new Map<string, number>();
  const dir = mkdtempSync(path.join(BUILD_DIR, 'profile-'));
  try {
    for (let run = 0; run < options.runs; run++) {
      const runDir = path.join(dir, String(run));
      await new Promise<void>((resolve, reject) => {
        const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${runDir}`, '--cpu-prof-interval=100', CHILD], {
          env: { ...options.env, BENCH_BUNDLE: options.bundle, BENCH_EVENT: JSON.stringify(options.event()) } as NodeJS.ProcessEnv,
          stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
        });
        (child.stdio[3] as NodeJS.ReadableStream).resume();
        child.on('error', reject);
        child.on('close', () => resolve());
      });
      const file = readdirSync(runDir).find((f) => f.endsWith('.cpuprofile'));
      if (!file) continue;
      const profile = JSON.parse(readFileSync(path.join(runDir, file), 'utf8')) as CpuProfile;
      const byId = new Map(profile.nodes.map((n) => [n.id, n]));
      const parent = new Map<number, number>();
      for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
      const categoryCache = new Map<number, string>();
      const categoryOf = (id: number): string => {
        const cached = categoryCache.get(id);
        if (cached) return cached;
        const node = byId.get(id)!;
        const { url, functionName, lineNumber, columnNumber } = node.callFrame;
        let category: string;
        if (bundleUrls.has(url)) {
          const entry = map.findEntry(lineNumber, columnNumber) as { originalSource?: string };
          category = entry.originalSource ? packageOf(entry.originalSource) : 'V8 compiling module bodies on first call (esbuild init wrappers)';
        } else if (functionName === 'wrapSafe' || functionName === 'compileFunction') {
          category = 'V8 compiling the bundle (all of it: see the bundle table for its largest inputs)';
        } else if (url === CHILD || url === pathToFileURL(CHILD).href) {
          category = 'benchmark child script';
        } else if (!url) {
          category = functionName === '(garbage collector)' ? 'garbage collector' : functionName === '(idle)' ? 'idle (waiting on the network)' : 'V8 / native (unattributed)';
        } else {
          // Node's own code: charged to the nearest bundle frame above it (an SDK module requiring
          // node:http, say), else to node's start-up.
          let up = parent.get(id);
          let charged: string | undefined;
          while (up !== undefined && charged === undefined) {
            const frame = byId.get(up)!.callFrame;
            if (bundleUrls.has(frame.url) || frame.functionName === 'wrapSafe') charged = categoryOf(up);
            up = parent.get(up);
          }
          category = charged ?? 'node start-up and internals';
        }
        categoryCache.set(id, category);
        return category;
      };
      profile.samples.forEach((id, i) => {
        const category = categoryOf(id);
        totals.set(category, (totals.get(category) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    bundle: path.relative(BUILD_DIR, options.bundle),
    runs: options.runs,
    byCategory: [...totals]
      .map(([category, ms]) => ({ category, ms: round(ms / options.runs, 1) }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 14),
  };
}
