/**
 * Path flags checked for what they must be before anything is written: `--classifier DIR` (created
 * and trained into when missing), `--out`, `--json`, `--curve-keys`, `--token-file`. A wrong kind of
 * path used to get far: `eval --classifier /etc/passwd` made `/etc/passwd.lock/` beside the file and
 * trained a classifier for minutes before failing; `sample --out /no/such/dir/x.png` failed with raw
 * errno text naming a temporary file. Each CLI names its path flags and their kind once; a wrong one
 * is a FlagError: one line naming the flag, the path and the reason in plain words, exit 2.
 *
 * Kinds:
 * - 'dir': a directory, or a path where one can be created (its nearest existing ancestor is a
 *   writable directory);
 * - 'file': a file to write: not a directory or device, in an existing writable directory;
 * - 'file-or-create': a file that is read when it exists (then a regular file) and created when it
 *   does not (then as 'file').
 * Nothing under /proc, /sys or /dev is accepted for any kind: kernel file systems, where a write
 * is a command and Node's recursive mkdir can hang.
 *
 * Costs: a few stat/access calls per given flag, at start. The check is advisory against races
 * (the path can change after it); the writers still fail safely, only less clearly.
 */
import { accessSync, constants, statSync, type Stats } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import { FlagError, type FlagValues } from './config.js';

export type PathKind = 'dir' | 'file' | 'file-or-create';

const KERNEL_FS = ['/proc', '/sys', '/dev'];

/** An errno error in plain words (no syscall, no path: the caller names the path). */
export function plainReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const words: Record<string, string> = {
    EROFS: 'read-only file system',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    ENOENT: 'no such file or directory',
    ENOTDIR: 'a part of the path is a file, not a directory',
    EISDIR: 'is a directory',
    ENOSPC: 'no space left on the device',
    EDQUOT: 'disk quota exceeded',
    ENAMETOOLONG: 'name too long',
    ELOOP: 'too many symbolic links',
  };
  return (code && words[code]) ?? (err as Error).message.split('\n')[0]!;
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The nearest ancestor of `path` (itself excluded) that exists, and what it is. */
function nearestExisting(path: string): { dir: string; stat: Stats } {
  for (let p = dirname(path); ; p = dirname(p)) {
    const stat = statOrUndefined(p);
    if (stat) return { dir: p, stat };
    if (dirname(p) === p) throw new Error(`no existing ancestor of ${path}`);
  }
}

/** Why nothing can be created in `dir` (a writable directory is needed), or undefined when it can. */
function notCreatableIn(dir: string, stat: Stats): string | undefined {
  if (!stat.isDirectory()) return `${dir} is a file, not a directory`;
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
    return undefined;
  } catch (err) {
    return `cannot create anything in ${dir} (${plainReason(err)})`;
  }
}

/** Why `path` cannot be used as `kind`, in plain words, or undefined when it can. */
export function pathProblem(path: string, kind: PathKind): string | undefined {
  const abs = resolve(path);
  const kernel = KERNEL_FS.find((k) => abs === k || abs.startsWith(k + sep));
  if (kernel) return `is under ${kernel}, a kernel file system, not a place for files: choose a directory on disk`;
  let stat: Stats | undefined;
  try {
    stat = statOrUndefined(abs);
  } catch (err) {
    return `cannot be used (${plainReason(err)})`;
  }
  if (kind === 'dir') {
    if (stat) return stat.isDirectory() ? undefined : 'is a file, not a directory';
  } else if (stat) {
    if (stat.isDirectory()) return 'is a directory, expected a file';
    if (!stat.isFile()) return 'is not a regular file (a device, pipe or socket)';
    if (kind === 'file-or-create') return undefined;
  }
  const { dir, stat: parent } = nearestExisting(abs);
  if (kind !== 'dir' && dir !== dirname(abs)) return `no such directory: ${dirname(abs)}`;
  const why = notCreatableIn(dir, parent);
  return why && `cannot be created: ${why}`;
}

/**
 * Checks each path flag given in `flags` (those of `kinds`, by flag name); throws a FlagError for
 * the first that cannot be what it must be: `--flag PATH: <why>`.
 */
export function checkPathFlags(flags: FlagValues, kinds: Record<string, PathKind>): void {
  for (const [name, kind] of Object.entries(kinds)) {
    const value = flags[name];
    if (typeof value !== 'string') continue;
    const problem = pathProblem(value, kind);
    if (problem) throw new FlagError(`--${name} ${value}: ${problem}`);
  }
}
