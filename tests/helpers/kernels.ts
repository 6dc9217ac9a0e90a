/**
 * Comparing the wasm backend's kernels with the cpu backend's on seeded random inputs (shared by
 * tests/wasm-kernels.test.ts and tests/blas.test.ts). The tests switch the global tfjs backend
 * between wasm and cpu around awaits, so they run serially.
 */
import type { ExecutionContext } from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import { relativeError } from './tf.js';

/** This run's seed: printed in every failure message, so a failure can be replayed. */
export const SEED = (Date.now() ^ (process.pid << 16)) >>> 0;

/** mulberry32: a tiny seeded generator. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let draws = 0;
/** Values uniform in [-1, 1), a fresh stream per call. */
export function rand(shape: number[]): { shape: number[]; data: Float32Array } {
  const r = rng(SEED + 7919 * draws++);
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = 2 * r() - 1;
  return { shape, data };
}

export type Input = { shape: number[]; data: Float32Array | Int32Array | Uint8Array; dtype?: tf.DataType };

/**
 * Runs `f` on fresh tensors made from `inputs` on one backend; returns the output values. `before`
 * runs first inside the same scope (e.g. to allocate padding so the inputs land elsewhere on the heap).
 */
export async function runOn(backend: 'wasm' | 'cpu', inputs: Input[], f: (...ts: tf.Tensor[]) => tf.Tensor, before?: () => void) {
  await tf.setBackend(backend);
  try {
    return tf.tidy(() => {
      before?.();
      const out = f(...inputs.map((i) => tf.tensor(i.data, i.shape, i.dtype ?? 'float32')));
      return { shape: out.shape, values: out.dataSync().slice() };
    });
  } finally {
    await tf.setBackend('wasm');
  }
}

/** Asserts wasm and cpu agree on `f(inputs)` within `tol` (relative, norm-wise), with the case and seed in the message. */
export async function agree(t: ExecutionContext, label: string, inputs: Input[], f: (...ts: tf.Tensor[]) => tf.Tensor, tol: number, before?: () => void) {
  const w = await runOn('wasm', inputs, f, before);
  const c = await runOn('cpu', inputs, f);
  t.deepEqual(w.shape, c.shape, `${label}: shape`);
  const e = relativeError(w.values, c.values);
  t.true(e <= tol, `${label}: relative error ${e.toExponential(2)} > ${tol} (seed ${SEED})`);
}
