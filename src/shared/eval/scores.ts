/**
 * Scores computed from classifier outputs alone (no TensorFlow): the MNIST score (Inception Score
 * with the MNIST classifier), digit coverage and mean confidence.
 */
import { argmax, NUM_CLASSES } from './classifier.js';

/** exp(E_x KL(p(y|x) ‖ p(y))): 1 for a generator that always shows the same (or no clear) digit, up to 10 for confident, balanced digits. */
export function mnistScore(probs: Float32Array, count: number): number {
  const marginal = new Float64Array(NUM_CLASSES);
  for (let i = 0; i < count; i++) for (let k = 0; k < NUM_CLASSES; k++) marginal[k] += probs[i * NUM_CLASSES + k];
  for (let k = 0; k < NUM_CLASSES; k++) marginal[k] /= count;
  let kl = 0;
  for (let i = 0; i < count; i++) {
    for (let k = 0; k < NUM_CLASSES; k++) {
      const p = probs[i * NUM_CLASSES + k];
      if (p > 0) kl += p * (Math.log(p) - Math.log(marginal[k]));
    }
  }
  return Math.exp(kl / count);
}

/** Share of each digit among the images (by the classifier's most probable class). */
export function digitShares(probs: Float32Array, count: number): number[] {
  const counts = new Array<number>(NUM_CLASSES).fill(0);
  for (let i = 0; i < count; i++) counts[argmax(probs, i * NUM_CLASSES, NUM_CLASSES)]++;
  return counts.map((c) => c / count);
}

/** Digit coverage of generated images against the real shares. */
export interface Coverage {
  /** Share of each digit 0..9 among the generated images. */
  shares: number[];
  /** KL(generated shares ‖ real shares) in nats: 0 when balanced like the test set, ln(1/share) ≈ 2.3 for one digit only. */
  kl: number;
  /** Digits with under a quarter of their real share. */
  underQuarter: number[];
  /** Mode collapse: at least one digit has under a quarter of its real share. */
  collapsed: boolean;
}

export function coverage(shares: number[], realShares: number[]): Coverage {
  let kl = 0;
  for (let k = 0; k < NUM_CLASSES; k++) if (shares[k] > 0) kl += shares[k] * Math.log(shares[k] / realShares[k]);
  const underQuarter = shares.flatMap((s, k) => (s < realShares[k] / 4 ? [k] : []));
  return { shares, kl: Math.max(kl, 0), underQuarter, collapsed: underQuarter.length > 0 };
}

/** Mean of the largest class probability. */
export function meanConfidence(probs: Float32Array, count: number): number {
  let s = 0;
  for (let i = 0; i < count; i++) s += probs[i * NUM_CLASSES + argmax(probs, i * NUM_CLASSES, NUM_CLASSES)];
  return s / count;
}

/** How often the classifier sees the digit that was asked for: overall and per requested digit. */
export interface ConditionalAccuracy {
  /** Share of images classified as their requested digit. */
  accuracy: number;
  /** perDigit[d]: that share among the images requested as digit d (NaN when none were). */
  perDigit: number[];
}

/** The conditional accuracy of images generated for `labels` (the requested digits). */
export function conditionalAccuracy(probs: Float32Array, labels: Uint8Array, count: number): ConditionalAccuracy {
  const asked = new Array<number>(NUM_CLASSES).fill(0);
  const right = new Array<number>(NUM_CLASSES).fill(0);
  for (let i = 0; i < count; i++) {
    asked[labels[i]]++;
    if (argmax(probs, i * NUM_CLASSES, NUM_CLASSES) === labels[i]) right[labels[i]]++;
  }
  return { accuracy: right.reduce((a, b) => a + b, 0) / count, perDigit: asked.map((n, d) => (n === 0 ? NaN : right[d] / n)) };
}
