/** The numbers of an evaluation and their one-line summary; no TensorFlow (the coordinator uses it). */
import type { ConditionalAccuracy, Coverage } from './scores.js';

/** The numbers of one evaluation (also the JSON `--json` writes). */
export interface EvalResult {
  images: number;
  /** FID in the classifier's feature space against the test images. */
  fid: number;
  /** The train images' FID against the test images: the best a generator can expect. */
  fidFloor: number;
  /** MNIST score (Inception Score with the classifier). */
  score: number;
  /** The test images' MNIST score. */
  scoreCeiling: number;
  coverage: Coverage & { realShares: number[] };
  confidence: { generated: number; real: number };
  classifier: { sha256: string; version: number; testAccuracy: number };
  /** A conditional generator's images: how often the classifier sees the requested digit. */
  conditional?: ConditionalAccuracy;
}

/** One line for logs: FID, score, coverage. */
export function summaryLine(r: EvalResult): string {
  const c = r.coverage;
  return `FID ${r.fid.toFixed(3)} (floor ${r.fidFloor.toFixed(3)}) | MNIST score ${r.score.toFixed(3)} (ceiling ${r.scoreCeiling.toFixed(3)}) | coverage KL ${c.kl.toFixed(3)}, ${c.underQuarter.length} digit(s) under a quarter share${c.collapsed ? ` (${c.underQuarter.join(', ')}): MODE COLLAPSE` : ''} | confidence ${r.confidence.generated.toFixed(3)} (real ${r.confidence.real.toFixed(3)})${r.conditional ? ` | conditional accuracy ${(100 * r.conditional.accuracy).toFixed(1)}%` : ''}`;
}
