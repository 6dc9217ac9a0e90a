/**
 * The system's OpenBLAS, loaded through koffi (an FFI package with prebuilt binaries), so that the
 * wasm backend's matmul-shaped kernels (blas-kernels.ts) can run `cblas_sgemm` directly on the
 * wasm heap.
 *
 * Why: wasm's SIMD128 matmul (XNNPACK, one thread) runs 25–41 GFLOP/s on the dev box, Debian's
 * OpenBLAS 0.3.21 sgemm 100–112 GFLOP/s on one core of the same machine (AVX2/FMA kernels). A
 * TypedArray view of the wasm memory passed for a `float *` parameter reaches C as a pointer into
 * that memory, not a copy (tests/blas.test.ts checks it), so a product costs the call alone.
 *
 * Threads: OPENBLAS_NUM_THREADS, when set to a thread count, wins, and we set it ourselves
 * (openblas_set_num_threads): Debian's OpenMP build reads it at load but then runs
 * omp_get_max_threads() threads anyway (measured 2026-12-04: OPENBLAS_NUM_THREADS=1 reported 2
 * threads on this 2-core machine, so every "one thread per worker" run before had two). Otherwise
 * the cluster launcher tells its workers how many share the host
 * (GAN_WORKERS_ON_HOST) and each takes floor(cores / workers) threads, and a lone process takes
 * every core. That holds for the OpenMP build (libopenblas0-openmp), which is looked for first.
 * The pthreads build gets one thread: its pthread_atfork handler shuts its thread server down in
 * the parent at every fork, and a fork from another thread of the process (tsx's esbuild service,
 * a worker thread) while the main thread waits inside a product drops the queued work, leaving the
 * main thread spinning in exec_blas_async_wait forever. Seen twice here (a CI run and a training
 * run, gdb: blas_server_avail 0, no server thread left); a fork shutting the server down is
 * reproduced in tests/blas.test.ts. The OpenMP build registers no such handler. OPENBLAS_CORETYPE (which kernels a DYNAMIC_ARCH build uses) is read by OpenBLAS
 * itself; we only report the kernels it chose.
 *
 * Determinism: a product is bitwise the same run to run at one thread count, but not across
 * thread counts (OpenBLAS splits the work differently), so "same backend + flags = same numbers"
 * holds with the same BLAS thread count, which the rule above gives every process of one kind.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** `--blas`: use OpenBLAS when the library loads (auto) or never (off). */
export type BlasMode = 'auto' | 'off';
export const BLAS_MODES: readonly BlasMode[] = ['auto', 'off'];

/** What the BLAS choice settled on; printed at start and kept in the run's metadata. */
export interface BlasInfo {
  active: boolean;
  /** The file that was loaded. */
  library?: string;
  /** OpenBLAS' own description (version, build options, kernels). */
  config?: string;
  /** Threads OpenBLAS uses for one product. */
  threads?: number;
  /** One line: what was chosen and why (or how to get it). */
  reason: string;
}

/** The loaded library: a column-major-free (row-major) single-precision GEMM. */
export interface Blas {
  info: BlasInfo;
  /**
   * C = alpha · op(A) · op(B) + beta · C, row-major; op(X) = Xᵀ when the flag is set. A, B and C are
   * views whose first element is the matrix's first element (subarrays of the wasm heap).
   */
  sgemm(
    transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
    a: Float32Array, lda: number, b: Float32Array, ldb: number, beta: number, c: Float32Array, ldc: number,
  ): void;
  /** Threads per product (openblas_set_num_threads); tests use it to compare thread counts. */
  setThreads(n: number): void;
}

/** How to get the library, in the line printed when it is missing. */
export const BLAS_INSTALL_HINT = 'apt-get install libopenblas0-openmp (Debian/Ubuntu; dnf install openblas-openmp on Fedora, brew install openblas on macOS)';

/** openblas_get_parallel(): how the build runs a product on several threads. */
const PARALLEL_BUILD = ['sequential', 'pthreads', 'OpenMP'] as const;

const CBLAS_ROW_MAJOR = 101;
const CBLAS_NO_TRANS = 111;
const CBLAS_TRANS = 112;

/** Where OpenBLAS is looked for, in order, when GAN_BLAS_LIBRARY does not name a file. */
export function blasCandidates(): string[] {
  const triplet = process.arch === 'arm64' ? 'aarch64-linux-gnu' : process.arch === 'x64' ? 'x86_64-linux-gnu' : undefined;
  if (process.platform === 'darwin') {
    return ['/opt/homebrew/opt/openblas/lib/libopenblas.dylib', '/usr/local/opt/openblas/lib/libopenblas.dylib', 'libopenblas.dylib'];
  }
  const out: string[] = [];
  // Debian's packages install under variant directories and point the plain name at one through
  // update-alternatives: look in the directories first, OpenMP first (fork-safe threads, see above).
  if (triplet) for (const variant of ['openblas-openmp', 'openblas-pthread', 'openblas-serial']) out.push(`/usr/lib/${triplet}/${variant}/libopenblas.so.0`);
  out.push('/usr/lib64/openblas-openmp/libopenblas.so.0', 'libopenblas.so.0');
  if (triplet) out.push(`/usr/lib/${triplet}/libopenblas.so.0`);
  out.push('/usr/lib64/libopenblas.so.0', '/usr/lib/libopenblas.so.0', 'libopenblas.so');
  return out;
}

/** BLAS threads for this process (see the file comment). */
export function blasThreads(env: NodeJS.ProcessEnv = process.env, cores = availableParallelism(), build: (typeof PARALLEL_BUILD)[number] = 'OpenMP'): { threads: number; why: string } {
  const set = env.OPENBLAS_NUM_THREADS?.trim();
  if (set !== undefined && /^[1-9]\d{0,3}$/.test(set)) return { threads: Number(set), why: `OPENBLAS_NUM_THREADS=${set}${build === 'pthreads' && set !== '1' ? " (the pthreads build's threads can hang on a fork: see docs/backends.md)" : ''}` };
  const ignored = set ? `OPENBLAS_NUM_THREADS='${set}' is not a thread count, ignored; ` : '';
  const rule = threadRule(env, cores, build);
  return { threads: rule.threads, why: ignored + rule.why };
}

function threadRule(env: NodeJS.ProcessEnv, cores: number, build: (typeof PARALLEL_BUILD)[number]): { threads: number; why: string } {
  if (build === 'pthreads') return { threads: 1, why: `the pthreads build's thread server is not fork-safe; for threads: ${BLAS_INSTALL_HINT}` };
  const workers = Number(env.GAN_WORKERS_ON_HOST);
  if (Number.isSafeInteger(workers) && workers > 1) {
    const threads = Math.max(1, Math.floor(cores / workers));
    return { threads, why: `${workers} workers share ${cores} cores` };
  }
  return { threads: cores, why: `all ${cores} cores of this process` };
}

type KoffiModule = typeof import('koffi');

/**
 * Loads OpenBLAS unless `mode` is off. Never throws for a missing library: the result then has no
 * `blas` and an `info.reason` saying how to get it. GAN_BLAS_LIBRARY names the file to load
 * instead of searching (a missing file is reported like a missing library).
 */
export async function loadBlas(mode: BlasMode, env: NodeJS.ProcessEnv = process.env): Promise<{ blas?: Blas; info: BlasInfo }> {
  if (mode === 'off') return { info: { active: false, reason: 'off (--blas off): plain wasm kernels' } };
  let koffi: KoffiModule;
  try {
    koffi = ((await import('koffi')) as unknown as { default: KoffiModule }).default;
  } catch (err) {
    return { info: { active: false, reason: `the koffi FFI package does not load here (${(err as Error).message.split('\n')[0]}): plain wasm kernels` } };
  }
  // Idle OpenMP threads spin for a while by default, taking the cores from the event loop and from
  // the other workers on the host; the variable is read when libgomp loads, so set it before.
  env.OMP_WAIT_POLICY ??= 'PASSIVE';
  const explicit = env.GAN_BLAS_LIBRARY;
  const candidates = explicit ? [explicit] : blasCandidates();
  const failures: string[] = [];
  for (const path of candidates) {
    let lib: ReturnType<KoffiModule['load']>;
    try {
      lib = koffi.load(path);
    } catch (err) {
      failures.push(`${path}: ${(err as Error).message.split('\n')[0]}`);
      continue;
    }
    let gemm: (...args: unknown[]) => void;
    try {
      gemm = lib.func('void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)');
    } catch {
      failures.push(`${path}: no cblas_sgemm`);
      lib.unload();
      continue;
    }
    const optional = <T>(decl: string): T | undefined => {
      try {
        return lib.func(decl) as T;
      } catch {
        return undefined;
      }
    };
    const setNum = optional<(n: number) => void>('void openblas_set_num_threads(int n)');
    const getNum = optional<() => number>('int openblas_get_num_threads()');
    const getConfig = optional<() => string>('const char *openblas_get_config()');
    const getCore = optional<() => string>('const char *openblas_get_corename()');
    const parallel = optional<() => number>('int openblas_get_parallel()');
    const build = PARALLEL_BUILD[parallel?.() ?? 2] ?? 'OpenMP';
    const rule = blasThreads(env, availableParallelism(), build);
    setNum?.(rule.threads);
    const threads = getNum?.() ?? rule.threads;
    const config = getConfig?.()?.trim();
    const core = getCore?.();
    const coreType = env.OPENBLAS_CORETYPE ? `, OPENBLAS_CORETYPE=${env.OPENBLAS_CORETYPE}` : '';
    const name = config ? config.split(' ').slice(0, 2).join(' ') : 'a CBLAS library';
    const file = loadedFile(path);
    const info: BlasInfo = {
      active: true,
      library: file,
      config,
      threads,
      reason: `${name} (${build}) from ${file}${core ? ` (${core} kernels${coreType})` : ''}, ${threads ?? '?'} thread(s): ${rule.why}`,
    };
    const blas: Blas = {
      info,
      sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) {
        gemm(CBLAS_ROW_MAJOR, tA ? CBLAS_TRANS : CBLAS_NO_TRANS, tB ? CBLAS_TRANS : CBLAS_NO_TRANS, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
      },
      setThreads(n) {
        if (!setNum) throw new Error(`${path} has no openblas_set_num_threads`);
        setNum(n);
        info.threads = getNum?.() ?? n;
      },
    };
    return { blas, info };
  }
  const tried = explicit ? `GAN_BLAS_LIBRARY=${explicit} does not load (${failures[0]?.replace(`${explicit}: `, '') ?? 'unknown error'})` : `no OpenBLAS found (tried ${candidates.join(', ')})`;
  return { info: { active: false, reason: `${tried}: plain wasm kernels; for the native matmul path: ${BLAS_INSTALL_HINT}` } };
}

/** The file the dynamic loader opened for `name` (from /proc/self/maps on Linux), else `name`. */
function loadedFile(name: string): string {
  if (name.startsWith('/')) return name;
  try {
    const stem = name.replace(/\.(so|dylib).*$/, '');
    const hit = readFileSync('/proc/self/maps', 'utf8').split('\n').map((l) => l.slice(l.indexOf('/'))).find((p) => p.includes(`/${stem}`));
    if (hit) return hit.trim();
  } catch {
    // not Linux: the name is all we know
  }
  return name;
}
