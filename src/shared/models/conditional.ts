/**
 * Which models are conditional (the digit is an input of G and D) and the label layouts that go
 * with them. No TensorFlow: the coordinator and the CLIs' flag checks use it.
 */
import type { ModelName } from './index.js';

/** Digits 0–9: the width of the one-hot label a conditional model joins to its inputs. */
export const LABEL_CLASSES = 10;

const CONDITIONAL: Record<ModelName, boolean> = { mlp: false, dcgan: false, 'mlp-plain': false, cmlp: true, cdcgan: true, 'cmlp-plain': true };

/** Label classes the model is conditioned on: 10 for a conditional model, 0 for an unconditional one. */
export function modelClasses(model: ModelName): number {
  return CONDITIONAL[model] ? LABEL_CLASSES : 0;
}

/** Columns of a conditional model's sample grids: one row per digit, this many images of each. */
export const DIGIT_GRID_COLUMNS = 8;

/** Labels of a one-row-per-digit grid: row d holds `columns` images of digit d. */
export function digitRowLabels(columns: number): Uint8Array {
  const labels = new Uint8Array(LABEL_CLASSES * columns);
  for (let d = 0; d < LABEL_CLASSES; d++) labels.fill(d, d * columns, (d + 1) * columns);
  return labels;
}

/**
 * Noise of a one-row-per-digit grid from `columns` noise vectors: column c uses vector c in every
 * row, so a column shows one style drawn as each digit.
 */
export function repeatPerRow(z: Float32Array, columns: number, latent: number): Float32Array {
  if (z.length !== columns * latent) throw new RangeError(`repeatPerRow: ${z.length} floats, expected ${columns} × ${latent}`);
  const out = new Float32Array(LABEL_CLASSES * columns * latent);
  for (let d = 0; d < LABEL_CLASSES; d++) out.set(z, d * columns * latent);
  return out;
}

/** Labels of an evaluation of `n` images: image i asks for digit i mod 10, so every digit gets n/10. */
export function evalLabels(n: number): Uint8Array {
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) labels[i] = i % LABEL_CLASSES;
  return labels;
}
