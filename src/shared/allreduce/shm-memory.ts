/**
 * The operating system's side of the shared-memory data plane (shm-transport.ts): files in
 * /dev/shm mapped into this process, and futexes on words inside them, through libc (koffi, already
 * loaded for the BLAS). Linux only; `shmAvailable()` says whether this process can use it.
 *
 * Why a futex and not spinning: the ranks of one host share its cores with their own compute (on
 * 2 cores, 2 ranks), so a rank that waits must give its core back. Node has no way to block on a
 * word another process writes (Atomics.wait needs a SharedArrayBuffer, and V8's waiters are
 * per process), so the wait is libc's `syscall(SYS_futex, FUTEX_WAIT)`, run by koffi on libuv's
 * thread pool (`.async`) so the event loop (heartbeats, stop messages) keeps running; the wake is
 * a plain synchronous call (~1 µs). Measured here: a wake crosses processes and reaches the waiting
 * rank's event loop in ~40 µs (a ping-pong of 2,000 round trips, 81 µs each); the transport spins
 * a few µs first, so data that is already there costs no thread hop. Waits are cut into slices of
 * at most WAIT_SLICE_MS so a closed transport, a dead peer and the collective timeout are noticed
 * without a wake. No FUTEX_PRIVATE_FLAG: the word is shared between processes.
 */
import { createRequire } from 'node:module';

export const SHM_DIR = '/dev/shm';
/** Longest single futex wait, ms: the bound on noticing a dead peer or a close that sent no wake. */
export const WAIT_SLICE_MS = 100;

const O_RDWR = 0o2;
const O_CREAT = 0o100;
const O_EXCL = 0o200;
const O_NOFOLLOW = 0o400000;
const PROT_READ_WRITE = 3;
const MAP_SHARED = 1;
const FUTEX_WAIT = 0;
const FUTEX_WAKE = 1;
const SYS_FUTEX: Record<string, number> = { x64: 202, arm64: 98 };

interface Libc {
  open(path: string, flags: number, mode: number): number;
  ftruncate(fd: number, len: number): number;
  close(fd: number): number;
  mmap(addr: null, len: number, prot: number, flags: number, fd: number, off: number): unknown;
  munmap(addr: unknown, len: number): number;
  syscall: ((n: number, addr: number, op: number, val: number, ts: Buffer | null, a2: number, v3: number) => number) & {
    async(n: number, addr: number, op: number, val: number, ts: Buffer | null, a2: number, v3: number, cb: (err: unknown, res: number) => void): void;
  };
  errno(): number;
  koffi: typeof import('koffi');
}

let libc: Libc | null | undefined;

function load(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (process.platform !== 'linux' || SYS_FUTEX[process.arch] === undefined) return null;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const lib = koffi.load('libc.so.6');
    // syscall is variadic; integer and pointer arguments are passed as for a fixed prototype on
    // x86-64 and arm64, which is what this one declares.
    libc = {
      open: lib.func('int open(const char *path, int flags, int mode)'),
      ftruncate: lib.func('int ftruncate(int fd, long len)'),
      close: lib.func('int close(int fd)'),
      mmap: lib.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off)'),
      munmap: lib.func('int munmap(void *addr, size_t len)'),
      syscall: lib.func('long syscall(long n, intptr_t addr, int op, int val, void *ts, intptr_t a2, int v3)') as Libc['syscall'],
      errno: () => koffi.errno(),
      koffi,
    };
  } catch {
    libc = null;
  }
  return libc;
}

/** True when this process can map /dev/shm files and wait on futexes (Linux, glibc, koffi). */
export function shmAvailable(): boolean {
  return load() !== null;
}

/** A file of /dev/shm mapped read-write into this process. */
export class SharedMapping {
  /** The whole mapping. */
  readonly bytes: ArrayBuffer;
  /** The mapping as 32-bit words (flags and counters, Atomics). */
  readonly words: Int32Array;
  private unmapped = false;

  private constructor(
    readonly path: string,
    private readonly ptr: unknown,
    private readonly base: number,
    readonly byteLength: number,
  ) {
    const c = load()!;
    this.bytes = c.koffi.view(ptr, byteLength);
    this.words = new Int32Array(this.bytes);
  }

  /** Creates `path` (never an existing file: O_EXCL, no symlinks), mode 0600, `byteLength` bytes of zeros, and maps it. */
  static create(path: string, byteLength: number): SharedMapping {
    return SharedMapping.map(path, byteLength, O_CREAT | O_EXCL);
  }

  /** Maps an existing `path` of at least `byteLength` bytes (made by `create`, in another process). */
  static open(path: string, byteLength: number): SharedMapping {
    return SharedMapping.map(path, byteLength, 0);
  }

  private static map(path: string, byteLength: number, flags: number): SharedMapping {
    const c = load();
    if (!c) throw new Error('shared memory: not available in this process (Linux with glibc and koffi needed)');
    const fd = c.open(path, O_RDWR | O_NOFOLLOW | flags, 0o600);
    if (fd < 0) throw new Error(`shared memory: cannot ${flags & O_CREAT ? 'create' : 'open'} ${path} (errno ${c.errno()})`);
    try {
      if (flags & O_CREAT && c.ftruncate(fd, byteLength) !== 0) throw new Error(`shared memory: cannot size ${path} to ${byteLength} bytes (errno ${c.errno()})`);
      const ptr = c.mmap(null, byteLength, PROT_READ_WRITE, MAP_SHARED, fd, 0);
      const base = Number(c.koffi.address(ptr));
      if (base === -1 || base === 0) throw new Error(`shared memory: cannot map ${path} (errno ${c.errno()})`);
      return new SharedMapping(path, ptr, base, byteLength);
    } finally {
      c.close(fd);
    }
  }

  /** Wakes every process waiting on word `index` (FUTEX_WAKE). */
  wake(index: number): void {
    if (this.unmapped) return;
    load()!.syscall(SYS_FUTEX[process.arch], this.base + index * 4, FUTEX_WAKE, 0x7fffffff, null, 0, 0);
  }

  /**
   * Waits on libuv's thread pool until word `index` no longer holds `value`, a wake, or `ms`
   * (≤ WAIT_SLICE_MS) passes; resolves either way (the caller re-reads the word).
   */
  waitWhile(index: number, value: number, ms: number): Promise<void> {
    if (this.unmapped) return Promise.resolve();
    const ts = Buffer.alloc(16);
    const ns = Math.max(0, Math.min(ms, WAIT_SLICE_MS)) * 1e6;
    ts.writeBigInt64LE(BigInt(Math.floor(ns / 1e9)), 0);
    ts.writeBigInt64LE(BigInt(Math.floor(ns % 1e9)), 8);
    return new Promise((resolve) => load()!.syscall.async(SYS_FUTEX[process.arch], this.base + index * 4, FUTEX_WAIT, value, ts, 0, 0, () => resolve()));
  }

  /** Unmaps; the caller makes sure no wait on it is still in flight and no view is used again. */
  unmap(): void {
    if (this.unmapped) return;
    this.unmapped = true;
    load()!.munmap(this.ptr, this.byteLength);
  }
}
