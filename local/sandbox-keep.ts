import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DataDirError, LOCK_FILE, lockDataDir } from './data-dir';
import type { PagerDutyStandIn, PagerDutyStandInSnapshot } from './stand-ins/pagerduty';
import type { SlackStandIn, SlackStandInSnapshot } from './stand-ins/slack';

/** The stand-ins' state in the data folder, next to dynalite's files. */
export const STAND_INS_FILE = 'sandbox-stand-ins.json';

export interface KeptStandIns {
  version: 1;
  pagerDuty: PagerDutyStandInSnapshot;
  slack: SlackStandInSnapshot;
}

/**
 * Write `content` to `file` so that a reader (or a restart after a crash) sees the old file or the
 * new one, never half of one: write a temporary file beside it, then rename it over.
 */
export function writeFileAtomically(file: string, content: string): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, content, { mode: 0o600 });
  renameSync(temporary, file);
}

/**
 * What the stand-ins kept in `dir` at their last change, or undefined when nothing was kept.
 * A file that cannot be read is a DataDirError saying how to start afresh.
 */
export function readKeptStandIns(dir: string): KeptStandIns | undefined {
  const file = path.join(dir, STAND_INS_FILE);
  if (!existsSync(file)) return undefined;
  try {
    const kept = JSON.parse(readFileSync(file, 'utf8')) as KeptStandIns;
    if (kept.version !== 1 || !Array.isArray(kept.pagerDuty?.incidents) || !Array.isArray(kept.slack?.messages)) throw new Error('unknown layout');
    return kept;
  } catch {
    throw new DataDirError(`the sandbox data in ${file} cannot be read: clear it with \`npm run sandbox -- reset\` (PD_ROUTER_DATA_DIR=${dir})`);
  }
}

/**
 * Keep the sandbox stand-ins' state in `dir`: restore what an earlier run kept, then save after
 * every change (coalesced), so that even a killed stack loses at most the last few milliseconds.
 * `kept` is what {@link readKeptStandIns} read, when the caller read it before starting anything.
 * Returns the function that saves a last time and stops listening.
 */
export function keepStandIns(dir: string, standIns: { slack: SlackStandIn; pagerDuty: PagerDutyStandIn }, kept = readKeptStandIns(dir)): { close(): void } {
  if (kept) {
    standIns.pagerDuty.restore(kept.pagerDuty);
    standIns.slack.restore(kept.slack);
  }
  const file = path.join(dir, STAND_INS_FILE);
  const save = () => {
    timer = undefined;
    const state: KeptStandIns = { version: 1, pagerDuty: standIns.pagerDuty.snapshot(), slack: standIns.slack.snapshot() };
    writeFileAtomically(file, JSON.stringify(state));
  };
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => (timer ??= setTimeout(save, 20));
  const unsubscribe = [standIns.slack.onChange(schedule), standIns.pagerDuty.onChange(schedule)];
  return {
    close() {
      for (const off of unsubscribe) off();
      clearTimeout(timer);
      save();
    },
  };
}

/** Files dynalite (LevelDB) keeps in its folder; reset removes these and nothing it does not know. */
const DYNALITE_FILE = /^(CURRENT|LOCK|LOG|LOG\.old|MANIFEST-\d+|\d+\.(log|ldb|sst))$/;

/**
 * `npm run sandbox -- reset`: clear what the sandbox kept in `dir` (its DynamoDB data and the
 * stand-ins' incidents and transcripts). Refused while a stack runs on the folder (its lock is
 * taken for the time of the reset, so none can start meanwhile), and refused for a folder holding
 * anything pd-router did not put there: a mistyped PD_ROUTER_DATA_DIR never costs someone's files.
 * Returns how many files were removed.
 */
export function resetKeptData(dir: string): number {
  let isFolder: boolean;
  try {
    isFolder = statSync(dir).isDirectory();
  } catch {
    return 0;
  }
  if (!isFolder) throw new DataDirError(`the data folder ${dir} is a file, not a folder: nothing to reset`);
  const lock = lockDataDir(dir);
  try {
    const names = readdirSync(dir).filter((name) => name !== LOCK_FILE);
    const stranger = names.find((name) => !DYNALITE_FILE.test(name) && name !== STAND_INS_FILE && !/^sandbox-stand-ins\.json\.\d+\.tmp$/.test(name));
    if (stranger) throw new DataDirError(`the data folder ${dir} holds ${JSON.stringify(stranger)}, which pd-router did not put there: not resetting it; check PD_ROUTER_DATA_DIR`);
    for (const name of names) rmSync(path.join(dir, name), { force: true });
    return names.length;
  } finally {
    lock.release();
  }
}
