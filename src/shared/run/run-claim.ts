/**
 * Taking a run directory for a run, before any slow work (MNIST load, worker spawn), and giving it
 * back on every exit path. Shared by `npm run train` (trainer.ts) and the coordinator.
 *
 * - Bounded: the directory is created one level at a time (fsutil.makeDirs), so a path the file
 *   system will not hold (/proc/x) fails at once with one line instead of spinning forever.
 * - Locked: run-lock.ts; a second run on the same directory is refused in one line naming the holder.
 * - Nothing that blocks the next start: a fresh run that ends (stopped, failed, killed by a second
 *   signal) before it wrote anything worth keeping (no checkpoint, no metrics line, no sample) leaves
 *   no directory behind if it created it, and an empty one if the user had made it. A directory left
 *   by a run killed outright at that point (SIGKILL: config.json, empty metrics.jsonl, empty
 *   samples/ and checkpoints/, a stale lock) is accepted by a fresh start with the same --run-dir.
 *   A directory that holds anything else (a checkpoint, logged metrics, a user's file) is never
 *   reused or removed.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, rmdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { makeDirs } from '../fsutil.js';
import { openRunDir, runPaths, RunDirError, type RunPaths } from './run-dir.js';
import { inUse, liveHolder, LOCK_FILE, RunLock } from './run-lock.js';

/** A run directory held by this process. */
export interface RunDirClaim {
  paths: RunPaths;
  /**
   * Releases the lock; a fresh run's directory that holds nothing worth keeping is removed (or
   * emptied, if it existed before the run). Never throws; idempotent.
   */
  release(): Promise<void>;
}

/** What a run writes into its directory before it has trained anything (run-dir.ts `runPaths`). */
const SKELETON = new Set(['config.json', 'metrics.jsonl', 'samples', 'checkpoints', LOCK_FILE]);

/** Whether the run in `root` wrote nothing worth keeping: no checkpoint, no metrics line, no sample grid. */
export async function holdsNothingToKeep(root: string): Promise<boolean> {
  const p = runPaths(root);
  const list = (dir: string) => readdir(dir).catch(() => [] as string[]);
  // `.tmp-…` entries are writes a crash cut short: never complete, never kept.
  if ((await list(p.checkpoints)).some((n) => !n.startsWith('.tmp-'))) return false;
  if ((await list(p.samples)).some((n) => !n.includes('.tmp-'))) return false;
  const metrics = await readFile(p.metrics, 'utf8').catch(() => '');
  return metrics.trim() === '';
}

/** Why a fresh run may not use the existing directory `root`, or undefined when it may. */
async function whyNotFresh(root: string, entries: string[]): Promise<string | undefined> {
  if (entries.every((n) => SKELETON.has(n)) && (await holdsNothingToKeep(root))) return undefined;
  if (existsSync(join(root, 'checkpoints', 'latest'))) return `already exists and holds a run with a checkpoint: continue it with --resume latest --run-dir ${root}, or choose another directory (nothing was changed)`;
  if (entries.includes('config.json') && entries.every((n) => SKELETON.has(n) || n === 'loss.svg')) {
    return 'already exists and holds a run that trained but wrote no checkpoint (nothing to resume): move it aside or choose another directory (nothing was changed)';
  }
  return 'already exists and is not empty; choose another directory (nothing was changed)';
}

/** The one line for a directory that cannot be created. */
function cannotCreate(root: string, err: NodeJS.ErrnoException): RunDirError {
  // Plain mkdir of a missing directory whose parent exists says ENOENT where the file system holds
  // no new directories (procfs, sysfs): say that, not "no such file".
  const why = err.code === 'ENOENT' && err.path && existsSync(dirname(err.path)) ? `${dirname(err.path)} does not take new directories` : (err.message ?? String(err)).split('\n')[0];
  return new RunDirError(`--run-dir ${resolve(root)}: cannot create (${why})`);
}

/**
 * Takes `root` for a run: a fresh run (`resume` false) creates it (or reuses one holding nothing
 * to keep), a resumed one opens it; both take its lock. Throws a one-line RunDirError.
 */
export async function claimRunDir(root: string, resume: boolean, log: (line: string) => void): Promise<RunDirClaim> {
  if (resume) {
    const lock = takeLock(root, log);
    try {
      const paths = await openRunDir(root);
      return { paths, release: async () => lock.releaseSync() };
    } catch (err) {
      lock.releaseSync();
      throw err;
    }
  }
  const existed = existsSync(root);
  if (existed) {
    const entries = await readdir(root).catch((err: NodeJS.ErrnoException) => {
      throw new RunDirError(`--run-dir ${root}: ${err.code === 'ENOTDIR' ? 'exists and is not a directory' : err.message.split('\n')[0]}`);
    });
    // A run in progress is named as such, before its files are.
    const holder = liveHolder(root);
    if (holder) throw new RunDirError(`--run-dir ${inUse(root, holder)}`);
    const why = await whyNotFresh(root, entries);
    if (why) throw new RunDirError(`--run-dir ${root}: ${why}`);
  }
  try {
    await makeDirs(root);
  } catch (err) {
    throw cannotCreate(root, err as NodeJS.ErrnoException);
  }
  let lock: RunLock;
  try {
    lock = takeLock(root, log);
  } catch (err) {
    if (!existed) await rmdir(root).catch(() => undefined);
    throw err;
  }
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    try {
      if (await holdsNothingToKeep(root)) {
        for (const name of ['config.json', 'metrics.jsonl', 'samples', 'checkpoints']) await rm(join(root, name), { recursive: true, force: true });
        lock.releaseSync();
        if (!existed) await rmdir(root); // only if empty: anything someone else put there stays
      }
    } catch { /* best effort: what is left is a directory a fresh start accepts */ }
    lock.releaseSync();
  };
  const paths = runPaths(root);
  try {
    await makeDirs(paths.samples);
    await makeDirs(paths.checkpoints);
  } catch (err) {
    await release();
    throw cannotCreate(root, err as NodeJS.ErrnoException);
  }
  return { paths, release };
}

function takeLock(root: string, log: (line: string) => void): RunLock {
  try {
    return RunLock.acquire(root, log);
  } catch (err) {
    throw new RunDirError(`--run-dir ${(err as Error).message}`);
  }
}

/**
 * `--resume latest --run-dir DIR` where DIR has no checkpoint: what to do instead, in one line
 * (resuming never starts a run afresh by itself: a typo in --run-dir would silently start over).
 */
export async function noCheckpointAdvice(root: string): Promise<string | undefined> {
  if (existsSync(join(root, 'checkpoints', 'latest'))) return undefined;
  if (!existsSync(root)) return `no run in ${root} (a run stopped before its first checkpoint leaves none): start it with --run-dir ${root}, without --resume`;
  if (await holdsNothingToKeep(root)) return `${root} has no checkpoint (its run stopped before the first one): nothing to resume; start it afresh with the same --run-dir, without --resume`;
  return `${root} has no checkpoint (its run logged metrics but stopped before its first checkpoint): nothing to resume; move it aside and start afresh`;
}
