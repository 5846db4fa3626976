import type { BundleResult, DeployBuild } from './bundles';
import type { ColdInitReport } from './cold-init';
import type { EndToEndResult, OperationCounts } from './end-to-end';
import type { IngressReport } from './ingress-latency';
import type { StormRuns } from './storm';
import type { ReportReadResult } from './report-read';

/** Everything one `npm run bench` measured; written as bench/results/latest.json. */
export interface BenchResults {
  generatedAt: string;
  mode: 'full' | 'quick';
  machine: { node: string; cpus: number; cpuModel: string; memoryGb: number; loadAverageAtStart: number[]; loadAverageAtEnd: number[] };
  esbuild?: { declared: Record<string, unknown>; options: Record<string, unknown>; runtime?: string; architecture?: string };
  bundles?: BundleResult[];
  coldInit?: ColdInitReport;
  ingress?: IngressReport;
  endToEnd?: { burst?: EndToEndResult; light?: EndToEndResult };
  operations?: OperationCounts;
  /** The shared outage (`--storm`): customers on their own routing keys, all on one, and own keys with the resolve unheard. */
  storm?: StormRuns;
  /** The same storm at another size (`--storm --channels 1000`), kept beside the default one. */
  stormLarge?: StormRuns;
  /** `npm run report` over a provider's history on the local stack (issue 26). */
  reportRead?: ReportReadResult;
  targets: TargetCheck[];
  /** Phases that could not run, and why. */
  skipped: { phase: string; reason: string }[];
  phaseSeconds: Record<string, number>;
}

export interface TargetCheck {
  target: string;
  measured: string;
  met: boolean | null;
  note?: string;
}

export type { DeployBuild };
