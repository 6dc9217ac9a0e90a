/**
 * The run directory's lock: one process at a time trains into a run directory.
 *
 * Why: two runs writing one directory (two `--resume latest` of one run, a fresh start onto a
 * directory that is training) interleave metrics.jsonl, rewind each other's metrics and rotate each
 * other's checkpoints; both "finish" and the run is garbage. Train, the cluster launcher and the
 * coordinator take this lock before they write anything into the directory.
 *
 * Design: `<run-dir>/run.lock`, created with O_EXCL (`wx`), holding one JSON line naming the holder:
 * host, PID, the process's start time as the kernel counts it (Linux: /proc/self/stat field 22 and
 * the boot id) and a wall-clock start. O_EXCL works on local file systems and on NFSv3+; an flock
 * would not survive NFS and says nothing about who holds it.
 *
 * A lock left by a process that is gone (SIGKILL, a node reboot, an OOM kill) is stale. Stale means:
 * the same host, and the PID is not alive, or it is alive but is another process (another boot, or
 * another start time: PIDs are reused, and in a container the run is often PID 1 every time); or an
 * earlier run of this same Slurm job, requeued since (a node failure: the lock names the dead node). A
 * stale lock is taken over with a line saying so. A lock from another host cannot be checked from
 * here: it is refused, naming the host and PID, and the line says which file to delete once that
 * run is known to be gone.
 *
 * Taking a stale lock over: rename it aside, check the renamed file is the one judged stale (another
 * starter may have taken it over first and written its own), then create ours with O_EXCL; two
 * starters racing for one stale lock end with exactly one holder.
 *
 * Released on every exit path: `release()` from the caller's `finally`, and a synchronous
 * `process.on('exit')` backstop for paths that call process.exit (a second stop signal).
 */
import { linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** The lock file's name inside the run directory. */
export const LOCK_FILE = 'run.lock';

/** What a lock file says about its holder. */
export interface LockHolder {
  host: string;
  pid: number;
  /** Linux: the kernel's start time of the process (clock ticks since boot), and the boot it counts from. */
  procStart?: string;
  bootId?: string;
  startedAt: string;
  /** Under Slurm: the job and its restart count (SLURM_JOB_ID, SLURM_RESTART_COUNT). */
  slurmJob?: string;
  slurmRestart?: number;
}

/** Thrown when the lock is held by another run (or cannot be taken); the message is one line. */
export class RunLockError extends Error {}

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The kernel's start time of process `pid` (field 22 of /proc/PID/stat), or undefined off Linux or when gone. */
function procStart(pid: number): string | undefined {
  const stat = readOr(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

/** This process, as a lock file names it. */
export function thisHolder(): LockHolder {
  const slurm = process.env.SLURM_JOB_ID ? { slurmJob: process.env.SLURM_JOB_ID, slurmRestart: slurmRestart() } : {};
  return { host: hostname(), pid: process.pid, procStart: procStart(process.pid), bootId: readOr('/proc/sys/kernel/random/boot_id')?.trim(), startedAt: new Date().toISOString(), ...slurm };
}

function slurmRestart(): number {
  return Number(process.env.SLURM_RESTART_COUNT ?? 0) || 0;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // another user's live process
  }
}

/** Why the holder's lock is stale (its process is gone), or undefined when it may still be running. */
export function staleBecause(h: LockHolder): string | undefined {
  // Slurm starts a requeued job only once its previous run has ended, on whichever node it died.
  if (h.slurmJob !== undefined && h.slurmJob === process.env.SLURM_JOB_ID && slurmRestart() > (h.slurmRestart ?? 0)) return `Slurm job ${h.slurmJob} was requeued since (restart ${slurmRestart()})`;
  if (h.host !== hostname()) return undefined;
  const boot = readOr('/proc/sys/kernel/random/boot_id')?.trim();
  if (h.bootId && boot && h.bootId !== boot) return `pid ${h.pid} ran before this host last booted`;
  if (!alive(h.pid)) return `pid ${h.pid} is gone`;
  const start = procStart(h.pid);
  if (h.procStart && start && start !== h.procStart) return `pid ${h.pid} is now another process`;
  return undefined;
}

/** The one line refusing `dir` to a second run; a holder on another host cannot be checked from here. */
export function inUse(dir: string, h: LockHolder): string {
  return `${dir}: in use by another run, ${describeHolder(h)}${h.host === hostname() ? '' : `; if that run is gone, delete ${join(dir, LOCK_FILE)}`}`;
}

/** One-line description of a holder. */
export function describeHolder(h: LockHolder): string {
  return `pid ${h.pid} on host ${h.host} (started ${h.startedAt})`;
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const h = JSON.parse(text) as LockHolder;
    return typeof h.host === 'string' && Number.isInteger(h.pid) && h.pid > 0 ? h : undefined;
  } catch {
    return undefined;
  }
}

/** Reads the lock of `dir` without taking it: its holder while that one may still run, else undefined. */
export function liveHolder(dir: string): LockHolder | undefined {
  const text = readOr(join(dir, LOCK_FILE));
  const h = text === undefined ? undefined : parseHolder(text);
  return h && !staleBecause(h) ? h : undefined;
}

/** A held run-directory lock. */
export class RunLock {
  private released = false;
  private readonly onExit = () => this.releaseSync();

  private constructor(readonly path: string, private readonly content: string) {
    process.once('exit', this.onExit);
  }

  /**
   * Takes the lock of `dir` (which must exist), taking over a stale one (`log` says so); throws a
   * one-line RunLockError naming the holder when another run holds it.
   */
  static acquire(dir: string, log: (line: string) => void): RunLock {
    const path = join(dir, LOCK_FILE);
    const content = JSON.stringify(thisHolder()) + '\n';
    // Three tries: a stale lock taken over by a racing starter first shows up as held, not stale.
    for (let attempt = 0; attempt < 3; attempt++) {
      let fd: number;
      try {
        fd = openSync(path, 'wx');
      } catch (err) {
        // "EROFS: read-only file system, open '…/run.lock'": the cause, without the path again.
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new RunLockError(`${dir}: cannot create its ${LOCK_FILE} (${(err as Error).message.split('\n')[0].split(', ')[0]})`);
        const text = readOr(path);
        if (text === undefined) continue; // released meanwhile
        const holder = parseHolder(text);
        // An unreadable lock (a crash between create and write leaves it empty) names no live holder.
        const why = holder ? staleBecause(holder) : 'it names no holder';
        if (!holder || why) {
          if (takeOver(path, text)) log(`run lock ${path}: taking over a stale lock (${why}${holder ? `; it was ${describeHolder(holder)}` : ''})`);
          continue;
        }
        throw new RunLockError(inUse(dir, holder));
      }
      try {
        writeSync(fd, content);
      } finally {
        closeSync(fd);
      }
      return new RunLock(path, content);
    }
    throw new RunLockError(`${path}: could not take the run lock (other runs keep taking it)`);
  }

  /** Removes the lock file if it is still ours; idempotent. */
  releaseSync(): void {
    if (this.released) return;
    this.released = true;
    process.off('exit', this.onExit);
    if (readOr(this.path) === this.content) {
      try {
        unlinkSync(this.path);
      } catch { /* gone already */ }
    }
  }
}

/** Moves a stale lock out of the way; false when what was moved was not the stale lock (it was put back). */
function takeOver(path: string, staleText: string): boolean {
  const aside = `${path}.stale-${process.pid}`;
  try {
    renameSync(path, aside);
  } catch {
    return false; // another starter moved it first
  }
  const moved = readOr(aside);
  if (moved !== staleText) {
    // Another starter took it over and wrote a live lock between our read and our rename: put it back.
    try {
      linkSync(aside, path);
    } catch { /* a third one holds it now; theirs stands */ }
    try {
      unlinkSync(aside);
    } catch { /* gone */ }
    return false;
  }
  unlinkSync(aside);
  return true;
}
