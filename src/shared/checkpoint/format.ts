/**
 * What a checkpoint holds and how each part is (de)serialised.
 *
 * A checkpoint is a directory:
 *   generator/model.json + weights.bin       TF.js layers format, loadable with tf.loadLayersModel
 *   discriminator/model.json + weights.bin   (BatchNorm moving statistics are among the weights)
 *   optimizer.bin                            float32: D.m, D.v, G.m, G.v (lengths in state.json)
 *   state.json                               epoch, step, Adam iteration counts, RNG scheme, config
 *   manifest.json                            sha256 and size of every file above
 */
import type { AdamState } from '../optimizer.js';

export const CHECKPOINT_FORMAT = 'gan-cluster-checkpoint';
export const CHECKPOINT_VERSION = 1;

/** The files of a checkpoint, relative to its directory, in manifest order. */
export const CHECKPOINT_FILES = [
  'generator/model.json',
  'generator/weights.bin',
  'discriminator/model.json',
  'discriminator/weights.bin',
  'optimizer.bin',
  'state.json',
] as const;

/** state.json. */
export interface CheckpointState {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  model: string;
  latent: number;
  imageShape: number[];
  /** Epochs fully completed. Training resumes in epoch `epoch` (0-based) at step `step`. */
  epoch: number;
  /** Steps already done within epoch `epoch` (0 at an epoch boundary). */
  step: number;
  /** Steps done since the run began. */
  globalStep: number;
  optimizer: {
    lr: number;
    beta1: number;
    beta2: number;
    epsilon: number;
    D: { t: number; size: number };
    G: { t: number; size: number };
  };
  /**
   * Every random stream is a pure function of (seed, purpose, epoch, step, rank), so the seed and
   * the position above are the whole RNG state.
   */
  rng: { seed: number; scheme: string };
  /** The run's training configuration. */
  config: Record<string, unknown>;
  /** Backend that wrote the checkpoint. */
  backend: string;
  createdAt: string;
  /** Package version that wrote it. */
  writer: string;
}

/** manifest.json. */
export interface CheckpointManifest {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  files: { path: string; bytes: number; sha256: string }[];
}

/** One checkpoint file's name. */
export type CheckpointFile = (typeof CHECKPOINT_FILES)[number];

/** The serialised contents of a checkpoint, ready to be written (or sent to the process that writes). */
export type CheckpointFiles = Record<CheckpointFile, Uint8Array>;

/** Packs both Adam states into one float32 buffer: D.m, D.v, G.m, G.v. */
export function packOptimizer(states: { D: AdamState; G: AdamState }): Uint8Array {
  const d = states.D.m.length;
  const g = states.G.m.length;
  const out = new Float32Array(2 * d + 2 * g);
  out.set(states.D.m, 0);
  out.set(states.D.v, d);
  out.set(states.G.m, 2 * d);
  out.set(states.G.v, 2 * d + g);
  return new Uint8Array(out.buffer);
}

/** Inverse of `packOptimizer`. */
export function unpackOptimizer(bytes: Uint8Array, state: CheckpointState): { D: AdamState; G: AdamState } {
  const d = state.optimizer.D.size;
  const g = state.optimizer.G.size;
  if (bytes.byteLength !== 4 * (2 * d + 2 * g)) {
    throw new Error(`optimizer.bin has ${bytes.byteLength} bytes, state.json describes ${4 * (2 * d + 2 * g)}`);
  }
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return {
    D: { t: state.optimizer.D.t, m: all.slice(0, d), v: all.slice(d, 2 * d) },
    G: { t: state.optimizer.G.t, m: all.slice(2 * d, 2 * d + g), v: all.slice(2 * d + g) },
  };
}

/** The checkpoint files made of float32 values; every value must be finite. */
export const FLOAT32_FILES = ['generator/weights.bin', 'discriminator/weights.bin', 'optimizer.bin'] as const satisfies readonly CheckpointFile[];

/** Named runs of a float32 file: weights by model.json's manifest, Adam moments by state.json's sizes. */
function segmentsOf(file: (typeof FLOAT32_FILES)[number], contents: (f: CheckpointFile) => Uint8Array): { name: string; length: number }[] {
  try {
    const json = (f: CheckpointFile) => JSON.parse(new TextDecoder().decode(contents(f)));
    if (file === 'optimizer.bin') {
      const { D, G } = (json('state.json') as CheckpointState).optimizer;
      return [{ name: 'D.m', length: D.size }, { name: 'D.v', length: D.size }, { name: 'G.m', length: G.size }, { name: 'G.v', length: G.size }];
    }
    const net = file.split('/')[0] as 'generator' | 'discriminator';
    const manifest = json(`${net}/model.json`) as { weightsManifest: { weights: { name: string; shape: number[] }[] }[] };
    return manifest.weightsManifest.flatMap((g) => g.weights).map((w) => ({ name: w.name, length: w.shape.reduce((a, b) => a * b, 1) }));
  } catch {
    return []; // unnamed: the index alone is reported
  }
}

/**
 * Where a checkpoint holds NaN or ±Infinity, as one phrase naming the file, the count and the first
 * tensor ("generator/weights.bin holds 3 non-finite values, the first (NaN) in dense_Dense1/kernel
 * at index 0"), or undefined when every value is finite. A model with such weights can only produce
 * NaN images, and training from it can only skip steps.
 */
export function describeNonFinite(contents: (f: CheckpointFile) => Uint8Array): string | undefined {
  for (const file of FLOAT32_FILES) {
    const bytes = contents(file);
    // A Float32Array view needs 4-byte alignment; copy when the buffer is not aligned.
    const values = bytes.byteOffset % 4 === 0 ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 2) : new Float32Array(bytes.slice().buffer, 0, bytes.byteLength >> 2);
    let count = 0;
    let first = -1;
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) {
        if (first < 0) first = i;
        count++;
      }
    }
    if (count === 0) continue;
    let where = `at index ${first}`;
    let start = 0;
    for (const s of segmentsOf(file, contents)) {
      if (first < start + s.length) {
        where = `in ${s.name} at index ${first - start}`;
        break;
      }
      start += s.length;
    }
    return `${file} holds ${count} non-finite value${count === 1 ? '' : 's'}, the first (${values[first]}) ${where}`;
  }
  return undefined;
}
