/**
 * The epoch schedule: which images make up each step's batch, and which part of it each worker gets.
 *
 * Everything is a pure function of (seed, epoch, step, rank, world), so a resumed run or another replica
 * derives exactly the same batches without any saved state. Each epoch visits a fresh permutation of the
 * dataset in batches of `batchSize`; the incomplete last batch is dropped (its images are simply left out
 * of that epoch; a different permutation next epoch drops different ones).
 */
import { Rng } from '../rng.js';
import type { MnistSplit } from './mnist.js';

let cached: { seed: number; epoch: number; n: number; perm: Uint32Array } | undefined;

/**
 * The permutation of 0..n-1 used in `epoch`, derived only from (seed, epoch). The last result is cached,
 * so calling this on every step costs nothing; treat the returned array as read-only (it is shared).
 */
export function epochPermutation(seed: number, epoch: number, n: number): Uint32Array {
  if (cached && cached.seed === seed && cached.epoch === epoch && cached.n === n) return cached.perm;
  if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`epochPermutation: n must be a non-negative integer, got ${n}`);
  if (!(Number.isInteger(epoch) && epoch >= 0)) {
    throw new RangeError(`epochPermutation: epoch must be a non-negative integer, got ${epoch}`);
  }
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  Rng.stream(seed, 'shuffle', epoch).shuffle(perm);
  cached = { seed, epoch, n, perm };
  return perm;
}

/** Full batches per epoch: floor(n / batchSize); the remainder is dropped so every step has the same shape. */
export function stepsPerEpoch(n: number, batchSize: number): number {
  if (!(Number.isInteger(batchSize) && batchSize > 0)) {
    throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
  }
  return Math.floor(n / batchSize);
}

/** The per-worker batch size: `batchSize / world`, which must be a whole number so every shard has the same shape. */
export function shardSize(batchSize: number, world: number): number {
  if (!(Number.isInteger(world) && world > 0)) throw new RangeError(`world size must be a positive integer, got ${world}`);
  if (!(Number.isInteger(batchSize) && batchSize > 0)) {
    throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
  }
  if (batchSize % world !== 0) {
    throw new RangeError(`batch size ${batchSize} is not divisible by the number of workers ${world}`);
  }
  return batchSize / world;
}

/**
 * Dataset indices of worker `rank`'s share of step `step`'s global batch: the global batch is
 * perm[step*batchSize, (step+1)*batchSize), and rank r gets its contiguous slice [r*b, (r+1)*b) with
 * b = batchSize / world. Returns a view into `perm` (no copy).
 */
export function batchIndices(perm: Uint32Array, step: number, batchSize: number, rank = 0, world = 1): Uint32Array {
  const b = shardSize(batchSize, world);
  if (!(Number.isInteger(rank) && rank >= 0 && rank < world)) {
    throw new RangeError(`rank must be an integer in [0, ${world}), got ${rank}`);
  }
  const steps = stepsPerEpoch(perm.length, batchSize);
  if (!(Number.isInteger(step) && step >= 0 && step < steps)) {
    throw new RangeError(`step must be an integer in [0, ${steps}) for ${perm.length} images in batches of ${batchSize}, got ${step}`);
  }
  const start = step * batchSize + rank * b;
  return perm.subarray(start, start + b);
}

/**
 * Copies the images at `indices` into one contiguous batch-major buffer (rows*cols floats per image),
 * ready to become a [batch, rows, cols, 1] tensor. Pass `out` to reuse a buffer across steps.
 */
export function gatherImages(split: MnistSplit, indices: ArrayLike<number>, out?: Float32Array): Float32Array {
  const pixels = split.rows * split.cols;
  const size = indices.length * pixels;
  if (out === undefined) out = new Float32Array(size);
  else if (out.length !== size) {
    throw new RangeError(`gatherImages: out has ${out.length} floats, expected ${size} (${indices.length} images of ${pixels})`);
  }
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!(Number.isInteger(i) && i >= 0 && i < split.count)) {
      throw new RangeError(`gatherImages: index ${i} out of range [0, ${split.count})`);
    }
    out.set(split.images.subarray(i * pixels, (i + 1) * pixels), k * pixels);
  }
  return out;
}

/**
 * Copies the labels (digits) of the images at `indices` into `out`, in the same order as
 * `gatherImages`: a conditional model's batch carries each image's digit. Pass `out` to reuse it.
 */
export function gatherLabels(split: MnistSplit, indices: ArrayLike<number>, out?: Uint8Array): Uint8Array {
  if (out === undefined) out = new Uint8Array(indices.length);
  else if (out.length !== indices.length) throw new RangeError(`gatherLabels: out has ${out.length} entries, expected ${indices.length}`);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!(Number.isInteger(i) && i >= 0 && i < split.count)) throw new RangeError(`gatherLabels: index ${i} out of range [0, ${split.count})`);
    out[k] = split.labels[i];
  }
  return out;
}

/** One step's share of the data: the images (as `gatherImages`) and their labels (as `gatherLabels`), into the given buffers. */
export function gatherBatch(split: MnistSplit, indices: ArrayLike<number>, images: Float32Array, labels: Uint8Array): void {
  gatherImages(split, indices, images);
  gatherLabels(split, indices, labels);
}
