/**
 * Small filesystem helpers shared by the coordinator, workers and the side pool.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { withDescriptorRetry } from './fd-retry.js';

/**
 * Write `bytes` to `path` atomically: readers see either the old file or the complete new one, never
 * a torn write, even if the process dies mid-write (samples, plots and checkpoints are read while the
 * run is still writing them).
 *
 * Writes `path.tmp-<pid>-<rand>` in the same directory, fsyncs it, renames it over `path`, then
 * fsyncs the directory so the rename itself is durable. The temp file is removed on failure.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let renamed = false;
  try {
    await writeFileSynced(tmp, bytes);
    await rename(tmp, path);
    renamed = true;
    await fsyncDir(dirname(path));
  } catch (err) {
    if (!renamed) await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** Creates `path` (which must not exist), writes `bytes` and fsyncs it before closing. */
export async function writeFileSynced(path: string, bytes: Uint8Array | string): Promise<void> {
  // A moment without descriptors (EMFILE) must not fail a checkpoint: fd-retry.ts.
  const fh = await withDescriptorRetry(() => open(path, 'wx'));
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync a directory so a rename/create inside it survives a crash. Best effort where unsupported. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await withDescriptorRetry(() => open(dir, 'r'));
  } catch {
    return; // e.g. Windows cannot open directories; the rename is still atomic there.
  }
  try {
    await fh.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EPERM' && code !== 'EISDIR') throw err;
  } finally {
    await fh.close();
  }
}

/** SHA-256 of a file as lowercase hex, streamed (constant memory even for large checkpoints). */
export function sha256File(path: string): Promise<string> {
  return withDescriptorRetry(() => sha256FileOnce(path));
}

function sha256FileOnce(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    const stream = createReadStream(path, { highWaterMark: 1 << 20 });
    stream.on('error', reject);
    stream.on('data', (chunk) => hash.update(chunk));
    stream.on('end', () => resolve(hash.digest('hex')));
  });
}

/**
 * `mkdir -p`, one directory at a time. Node's recursive mkdir reports ENOENT when a missing directory
 * cannot be created (read-only file system, no permission), hiding the cause, and on procfs it never
 * returns at all (Node 20: `mkdir('/proc/x', {recursive: true})`, promise or sync, spins forever);
 * a plain mkdir of each missing directory returns the real error (EROFS, EACCES, ENOTDIR, ENOENT on
 * /proc) at once.
 */
export async function makeDirs(path: string): Promise<void> {
  const missing: string[] = [];
  for (let p = resolve(path); !existsSync(p); p = dirname(p)) {
    missing.unshift(p);
    if (dirname(p) === p) break;
  }
  for (const dir of missing) {
    await mkdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
}
