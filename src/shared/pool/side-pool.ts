/**
 * `SidePool`: a small piscina worker pool for CPU-bound side work of a training process (sample-grid
 * PNGs, loss-curve SVGs, file hashes), so the main event loop stays free for network I/O.
 *
 * The workers load `tasks.ts`/`tasks.js`, which never imports TensorFlow (native tfjs crashes in
 * worker threads); only plain typed arrays and numbers cross the thread boundary.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { TileGridArgs } from '../images/grid.js';
import type { LossChart, LossSeries, PlotOptions } from '../images/plot.js';
import type { TaskMessage } from './tasks.js';

/** Options for {@link SidePool}. */
export interface SidePoolOptions {
  /**
   * Worker threads (default 1). Side work is occasional and the trainer itself is CPU-bound, so one
   * thread is enough and steals the least; use 2 if PNG/SVG work queues up behind hashing.
   */
  threads?: number;
  /** Keep idle threads this long before exiting them (default 60 s; minimum one stays warm). */
  idleTimeoutMs?: number;
  /**
   * Renice worker threads by this much on Linux (default 0) to favour the training thread. Uses
   * piscina's optional `@napi-rs/nice`; ignored if unavailable.
   */
  niceIncrement?: number;
}

/**
 * The piscina worker module. Compiled and run by plain node: `tasks.js` next to this file. From
 * sources under tsx (or ava's `--import=tsx`): `worker-entry.mjs`, a plain-JS shim that loads
 * `tasks.ts` through tsx inside the worker, because tsx does not hook worker threads on Node 20 even
 * though they inherit `--import tsx` via execArgv (see that file).
 */
function workerFile(): string {
  const dir = dirname(fileURLToPath(import.meta.url));
  const js = join(dir, 'tasks.js');
  if (existsSync(js)) return js;
  const entry = join(dir, 'worker-entry.mjs');
  if (existsSync(entry)) return entry;
  throw new Error(`SidePool: no worker module (tasks.js or worker-entry.mjs) in ${dir}`);
}

/** Copy `values` into a fresh Float64Array (ours to transfer), keeping the caller's data intact. */
function ownedCopy(values: ArrayLike<number>, transfer: ArrayBuffer[]): Float64Array {
  const copy = Float64Array.from(values as ArrayLike<number>);
  transfer.push(copy.buffer);
  return copy;
}

/**
 * Typed front end to the side-work pool. All methods are async and run in worker threads; inputs are
 * copied before big buffers are transferred, so the caller's arrays are never detached or mutated.
 * Call {@link close} at shutdown (it waits for queued tasks).
 */
export class SidePool {
  private readonly pool: Piscina<TaskMessage, unknown>;
  private closing: Promise<void> | undefined;

  constructor(opts: SidePoolOptions = {}) {
    const threads = opts.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`SidePool: bad threads ${threads}`);
    const filename = workerFile();
    this.pool = new Piscina<TaskMessage, unknown>({
      filename,
      minThreads: 1,
      maxThreads: threads,
      idleTimeout: opts.idleTimeoutMs ?? 60_000,
      niceIncrement: opts.niceIncrement ?? 0,
      name: 'default',
    });
  }

  /** Number of worker threads the pool may use. */
  get threads(): number {
    return this.pool.maxThreads;
  }

  /**
   * Tile `count` generator samples (`rows * cols` floats each, in [-1, 1]) into a grid and encode it
   * as a grayscale PNG. Resolves to the PNG bytes; write them with `writeFileAtomic`.
   */
  async gridPng(images: Float32Array, count: number, rows: number, cols: number, args: TileGridArgs = {}): Promise<Uint8Array> {
    const need = count * rows * cols;
    if (!(images.length >= need)) {
      throw new RangeError(`SidePool.gridPng: need ${need} floats for ${count} images of ${rows}x${cols}, got ${images.length}`);
    }
    const copy = images.slice(0, need); // a private buffer we can transfer
    const msg: TaskMessage = { op: 'gridPng', args: { ...args, images: copy, count, rows, cols } };
    return (await this.run(msg, { transferList: [copy.buffer] })) as Uint8Array;
  }

  /** Render loss curves (one chart or several stacked panels) as a standalone SVG string. */
  async lossSvg(charts: LossChart | LossChart[], options?: PlotOptions): Promise<string> {
    const transfer: ArrayBuffer[] = [];
    const copyChart = (c: LossChart): LossChart => ({
      title: c.title,
      xLabel: c.xLabel,
      yLabel: c.yLabel,
      step: ownedCopy(c.step, transfer),
      series: c.series.map(
        (s): LossSeries => ({
          name: s.name,
          values: ownedCopy(s.values, transfer),
          ...(s.step ? { step: ownedCopy(s.step, transfer) } : {}),
        }),
      ),
    });
    const copied = Array.isArray(charts) ? charts.map(copyChart) : copyChart(charts);
    const msg: TaskMessage = { op: 'lossSvg', args: { charts: copied, options } };
    return (await this.run(msg, { transferList: transfer })) as string;
  }

  /** SHA-256 (lowercase hex) of a file, streamed in a worker thread. */
  async sha256File(path: string): Promise<string> {
    return (await this.run({ op: 'sha256File', args: { path } })) as string;
  }

  /** Diagnostics: the worker's `threadId` (differs from the main thread's 0). */
  async threadInfo(): Promise<{ threadId: number }> {
    return (await this.run({ op: 'threadInfo' })) as { threadId: number };
  }

  /** Diagnostics/tests: keep a worker's CPU busy for `ms` milliseconds. */
  async busy(ms: number): Promise<{ threadId: number; iterations: number }> {
    return (await this.run({ op: 'busy', args: { ms } })) as { threadId: number; iterations: number };
  }

  /**
   * Finish queued tasks, then stop the worker threads. Idempotent; tasks submitted afterwards reject
   * (piscina itself would quietly start a new worker for them).
   */
  close(): Promise<void> {
    this.closing ??= this.pool.close();
    return this.closing;
  }

  private run(msg: TaskMessage, opts?: { transferList?: ArrayBuffer[] }): Promise<unknown> {
    if (this.closing) return Promise.reject(new Error('SidePool is closed'));
    return this.pool.run(msg, opts);
  }
}
