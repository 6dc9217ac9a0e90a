/** Test helpers for TensorFlow.js state. */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

/** A copy of every weight (trainable and not) of a model, by weight name. */
export function snapshotWeights(model: tfl.LayersModel): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const w of model.weights) out.set(w.originalName, (w.read().dataSync() as Float32Array).slice());
  return out;
}

/** Names of weights whose values differ between two snapshots. */
export function changedWeights(a: Map<string, Float32Array>, b: Map<string, Float32Array>): string[] {
  const changed: string[] = [];
  for (const [name, va] of a) {
    const vb = b.get(name)!;
    if (va.length !== vb.length || va.some((x, i) => x !== vb[i])) changed.push(name);
  }
  return changed;
}

/** ||a − b|| / ||b||, in float64. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
}

export { tf };
