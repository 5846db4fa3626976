import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** A data folder the local stack cannot use; the message names the folder and what to do. */
export class DataDirError extends Error {
  override name = 'DataDirError';
}

export interface DataDirLock {
  release(): void;
}

/** The lock file's name inside the data folder. */
export const LOCK_FILE = 'pd-router.lock';

/** Folders this process holds, so a second stack in the same process is refused too. */
const held = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Make sure `dir` is a folder (creating it if needed) and take it for this process, with a lock
 * file holding the pid. dynalite's own database lock fails later, inside a running stack and
 * with a stack trace; this refuses at start with a message that says which process holds it.
 * A lock left by a process that no longer runs is taken over.
 */
export function lockDataDir(dir: string): DataDirLock {
  const folder = path.resolve(dir);
  try {
    if (!statSync(folder).isDirectory()) throw new DataDirError(`the data folder ${dir} is a file, not a folder: set PD_ROUTER_DATA_DIR to a folder (it is created if missing)`);
  } catch (error) {
    if (error instanceof DataDirError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new DataDirError(`the data folder ${dir} is inside a file, not a folder: set PD_ROUTER_DATA_DIR to a folder path`);
    if (code !== 'ENOENT') throw new DataDirError(`the data folder ${dir} cannot be read (${code}): check its permissions`);
    try {
      mkdirSync(folder, { recursive: true });
    } catch (mkdirError) {
      throw new DataDirError(`the data folder ${dir} cannot be created (${(mkdirError as NodeJS.ErrnoException).code}): check the path and its permissions`);
    }
  }
  const lockFile = path.join(folder, LOCK_FILE);
  const inUse = (pid: number) =>
    new DataDirError(`the data folder ${dir} is in use by another pd-router (pid ${pid}): stop that one first, or set PD_ROUTER_DATA_DIR to another folder`);
  if (held.has(folder)) throw inUse(process.pid);
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(lockFile, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw new DataDirError(`the data folder ${dir} is not writable (${code}): check its permissions`);
      const owner = Number.parseInt(readFileSync(lockFile, 'utf8'), 10);
      // Our own pid in a lock we do not hold: left by a stack of this process that failed to start.
      if (attempt === 0 && (!Number.isInteger(owner) || owner === process.pid || !isAlive(owner))) {
        rmSync(lockFile, { force: true });
        continue;
      }
      throw inUse(owner);
    }
  }
  held.add(folder);
  return {
    release() {
      if (!held.delete(folder)) return;
      try {
        if (Number.parseInt(readFileSync(lockFile, 'utf8'), 10) === process.pid) rmSync(lockFile, { force: true });
      } catch {
        // Already gone: nothing to release.
      }
    },
  };
}
