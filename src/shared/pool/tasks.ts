/**
 * Side-pool tasks: CPU-bound work (PNG encoding, SVG rendering, hashing) run in piscina worker
 * threads so the training process keeps its event loop free for network I/O.
 *
 * Worker-thread constraint: this module (and everything it imports) must never import TensorFlow;
 * native tfjs crashes inside worker threads. Tasks work on plain typed arrays only.
 *
 * Every task is also a plain exported function, usable (and testable) on any thread. The default
 * export is the piscina entry point that dispatches `{ op, args }` messages and transfers large
 * results back instead of copying them.
 */
import { threadId } from 'node:worker_threads';
import { move } from 'piscina';
import { sha256File } from '../fsutil.js';
import { tileGrid, type TileGridArgs } from '../images/grid.js';
import { encodeGrayPng } from '../images/png.js';
import { renderLossSvg as renderCharts, type LossChart, type PlotOptions } from '../images/plot.js';

/** Arguments of {@link encodeGridPng}: see `tileGrid` for the geometry. */
export interface GridPngArgs extends TileGridArgs {
  /** `count * rows * cols` floats in [-1, 1] (generator tanh output), image after image. */
  images: Float32Array;
  count: number;
  rows: number;
  cols: number;
}

/** Tile generator samples into a grid and encode it as a grayscale PNG (deterministic bytes). */
export function encodeGridPng(args: GridPngArgs): Uint8Array {
  const { images, count, rows, cols, ...grid } = args;
  return encodeGrayPng(tileGrid(images, count, rows, cols, grid));
}

/** Arguments of {@link renderLossSvg}. */
export interface LossSvgArgs {
  charts: LossChart | LossChart[];
  options?: PlotOptions;
}

/** Render loss curves (one or more stacked panels) as a standalone SVG document. */
export function renderLossSvg(args: LossSvgArgs): Promise<string> {
  return renderCharts(args.charts, args.options);
}

/** Which thread ran the task (for tests/diagnostics: proves work happens off the main thread). */
export function threadInfo(): { threadId: number } {
  return { threadId };
}

/** Messages accepted by the piscina entry point. */
export type TaskMessage =
  | { op: 'gridPng'; args: GridPngArgs }
  | { op: 'lossSvg'; args: LossSvgArgs }
  | { op: 'sha256File'; args: { path: string } }
  | { op: 'threadInfo'; args?: undefined }
  | { op: 'busy'; args: { ms: number } };

/** Spin the CPU for `ms` milliseconds (tests/diagnostics: a task that would block an event loop). */
export function busy(ms: number): { threadId: number; iterations: number } {
  const end = performance.now() + ms;
  let iterations = 0;
  while (performance.now() < end) iterations++;
  return { threadId, iterations };
}

/** piscina entry point: run one task; PNG bytes are transferred back rather than copied. */
export default async function run(msg: TaskMessage): Promise<unknown> {
  switch (msg.op) {
    case 'gridPng':
      return move(encodeGridPng(msg.args));
    case 'lossSvg':
      return renderLossSvg(msg.args);
    case 'sha256File':
      return sha256File(msg.args.path);
    case 'threadInfo':
      return threadInfo();
    case 'busy':
      return busy(msg.args.ms);
    default:
      throw new Error(`side pool: unknown op ${(msg as { op: unknown }).op}`);
  }
}
