/**
 * One evaluation: classify a set of images and compare with the real-data reference. Works on any
 * images (a generator's, real ones, noise), so the sanity tests use the same path as `npm run eval`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { Rng } from '../rng.js';
import { breathe, classify, FEATURE_SIZE } from './classifier.js';
import type { Classifier } from './classifier-store.js';
import { frechetDistance, gaussianOf } from './frechet.js';
import { conditionalAccuracy, coverage, digitShares, meanConfidence, mnistScore } from './scores.js';
import { evalLabels } from '../models/conditional.js';
import { generatorClasses, joinLatent, oneHotLabels } from '../models/labels.js';
import type { EvalResult } from './summary.js';

export type { EvalResult } from './summary.js';
export { summaryLine } from './summary.js';

/**
 * Scores `count` images ([-1, 1], 784 each) against the classifier's reference. With `labels` (the
 * digits a conditional generator was asked for) the result also has the conditional accuracy.
 */
export async function evaluateImages(classifier: Classifier, images: Float32Array, count: number, labels?: Uint8Array): Promise<EvalResult> {
  const out = await classify(classifier.model, images, count);
  const ref = classifier.reference;
  const cov = coverage(digitShares(out.probs, count), ref.test.shares);
  return {
    images: count,
    fid: frechetDistance(gaussianOf(out.features, count, FEATURE_SIZE), ref.test.gaussian),
    fidFloor: ref.fidFloor,
    score: mnistScore(out.probs, count),
    scoreCeiling: ref.test.score,
    coverage: { ...cov, realShares: ref.test.shares },
    confidence: { generated: meanConfidence(out.probs, count), real: ref.test.confidence },
    classifier: { sha256: classifier.meta.sha256, version: classifier.meta.version, testAccuracy: classifier.meta.testAccuracy },
    ...(labels ? { conditional: conditionalAccuracy(out.probs, labels, count) } : {}),
  };
}

/** The evaluation's latent noise: one stream per seed, so the first k of N images are the same for any N ≥ k. */
export function evalNoise(seed: number, n: number, latent: number): Float32Array {
  return Rng.stream(seed, 'eval').fillNormal(new Float32Array(n * latent));
}

/**
 * The digits an evaluation asks a generator for: image i gets digit i mod 10 from a conditional
 * generator (so FID compares against the test set's near-even digits); none for an unconditional one.
 */
export function evalLabelsFor(generator: tfl.LayersModel, n: number, latent: number): Uint8Array | undefined {
  return generatorClasses(generator, latent) > 0 ? evalLabels(n) : undefined;
}

/** Generates `n` images from `generator` (inference mode) in batches; a conditional one draws the digits in `labels`. */
export async function generateImages(generator: tfl.LayersModel, z: Float32Array, n: number, latent: number, batch = 250, labels?: Uint8Array): Promise<Float32Array> {
  const images = new Float32Array(n * 784);
  for (let i = 0; i < n; i += batch) {
    const b = Math.min(batch, n - i);
    tf.tidy(() => {
      const onehot = labels ? oneHotLabels(labels.subarray(i, i + b), b) : undefined;
      const out = generator.predict(joinLatent(tf.tensor2d(z.subarray(i * latent, (i + b) * latent), [b, latent]), onehot)) as tf.Tensor;
      images.set(out.dataSync(), i * 784);
    });
    await breathe();
  }
  return images;
}

/** In-training evaluation: the classifier plus the run's fixed settings. */
export interface GeneratorEvaluatorArgs {
  classifier: Classifier;
  /** Images per evaluation (`--eval-n`). */
  n: number;
  latent: number;
  /** The run's seed: every evaluation of a run uses the same noise, so epochs compare. */
  seed: number;
}

/** Evaluates a live generator (the replica's) on the same noise each time; returns the result and its seconds. */
export async function evaluateGenerator(args: GeneratorEvaluatorArgs, generator: tfl.LayersModel): Promise<{ result: EvalResult; seconds: number }> {
  const t0 = performance.now();
  const labels = evalLabelsFor(generator, args.n, args.latent);
  const images = await generateImages(generator, evalNoise(args.seed, args.n, args.latent), args.n, args.latent, undefined, labels);
  const result = await evaluateImages(args.classifier, images, args.n, labels);
  return { result, seconds: (performance.now() - t0) / 1000 };
}
