/**
 * What real MNIST looks like to the classifier: the test set's feature Gaussian, digit shares,
 * score and confidence, plus the real-data floor (FID of the 60k train images vs the test images)
 * and ceiling (the test images' MNIST score). Computed once when the classifier is built and kept
 * beside it (reference.json), so an evaluation only classifies the generated images.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { accuracy, classify, FEATURE_SIZE } from './classifier.js';
import { frechetDistance, gaussianOf, type Gaussian } from './frechet.js';
import { digitShares, meanConfidence, mnistScore } from './scores.js';

export interface ReferenceStats {
  test: { gaussian: Gaussian; shares: number[]; score: number; confidence: number; accuracy: number; count: number };
  /** FID of the train images against the test images: what a perfect generator would get (the floor). */
  fidFloor: number;
  trainCount: number;
}

export interface ReferenceArgs {
  classifier: tfl.LayersModel;
  test: { images: Float32Array; labels: Uint8Array; count: number };
  train: { images: Float32Array; count: number };
}

export async function computeReference(args: ReferenceArgs): Promise<ReferenceStats> {
  const t = await classify(args.classifier, args.test.images, args.test.count);
  const gaussian = gaussianOf(t.features, t.count, FEATURE_SIZE);
  const tr = await classify(args.classifier, args.train.images, args.train.count);
  const fidFloor = frechetDistance(gaussianOf(tr.features, tr.count, FEATURE_SIZE), gaussian);
  return {
    test: { gaussian, shares: digitShares(t.probs, t.count), score: mnistScore(t.probs, t.count), confidence: meanConfidence(t.probs, t.count), accuracy: accuracy(t.probs, args.test.labels, t.count), count: t.count },
    fidFloor,
    trainCount: tr.count,
  };
}

/** JSON form (typed arrays as plain arrays). */
export function referenceToJson(r: ReferenceStats): string {
  const g = r.test.gaussian;
  return JSON.stringify({ ...r, test: { ...r.test, gaussian: { dim: g.dim, count: g.count, mean: Array.from(g.mean), cov: Array.from(g.cov) } } });
}

export function referenceFromJson(text: string): ReferenceStats {
  const r = JSON.parse(text) as ReferenceStats & { test: { gaussian: { mean: number[]; cov: number[] } } };
  const g = r.test.gaussian;
  if (!g || g.dim !== FEATURE_SIZE || g.mean.length !== FEATURE_SIZE || g.cov.length !== FEATURE_SIZE * FEATURE_SIZE) throw new Error(`reference statistics have the wrong feature size`);
  return { ...r, test: { ...r.test, gaussian: { dim: g.dim, count: g.count, mean: Float64Array.from(g.mean), cov: Float64Array.from(g.cov) } } };
}
