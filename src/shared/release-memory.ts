/**
 * Gives the garbage of a rare, allocation-heavy event back to the system at once: a checkpoint
 * (Adam's gathered moments, the serialised files: about 100 MB for the MLP) or the in-memory
 * snapshot it replaces.
 *
 * Why: a training step allocates almost nothing on the host (its fusion buffers are reused), so
 * nothing else makes V8 collect — it starts a full collection for ArrayBuffer memory only after that
 * grows by 64 MB since the last one — and when it does, glibc keeps the freed blocks resident (its
 * mmap threshold rises to the largest block freed, so the next ones come from the heap). A worker's
 * RSS climbed about 50 MB at each of the first checkpoints and stayed there, 25-45% above its start
 * (tests/soak.test.ts, 2026-12-05: 315 -> 360 MiB at the first checkpoint, rank 0); with a full
 * collection and `malloc_trim` after each it stays flat (RSS memory is what a Slurm `--mem` limit
 * or a container's counts). Cost: tens of ms per checkpoint.
 *
 * `gc` is V8's, made visible the way Jest's leak detector does it; `malloc_trim` is glibc's, called
 * through koffi (already loaded for the BLAS). Where either is missing (not glibc, no koffi) that
 * part is skipped: memory is then released when V8 and the allocator get to it, as before.
 */
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let collect: (() => void) | undefined;
let trim: (() => void) | null | undefined;

function loadTrim(): (() => void) | null {
  if (process.platform !== 'linux') return null;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const mallocTrim = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)');
    return () => void mallocTrim(0);
  } catch {
    return null;
  }
}

/** Runs a full garbage collection, then returns the allocator's free pages to the system. */
export function releaseMemory(): void {
  if (!collect) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (!exposed) setFlagsFromString('--expose-gc');
    collect = exposed ?? (runInNewContext('gc') as () => void);
  }
  collect();
  if (trim === undefined) trim = loadTrim();
  trim?.();
}
