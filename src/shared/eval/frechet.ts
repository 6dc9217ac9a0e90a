/**
 * Gaussian statistics of feature sets and the Fréchet distance between two Gaussians:
 *   d² = |μ1 − μ2|² + tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½).
 * Everything is in Float64. tr (Σ1 Σ2)^½ is computed as Σ √λ of the symmetric PSD matrix
 * Σ1^½ Σ2 Σ1^½ (same eigenvalues as Σ1 Σ2), so only symmetric eigendecompositions are needed, which
 * stay stable when the covariances are singular (a collapsed generator, a constant image).
 * The eigensolver is ml-matrix's (JAMA's tred2/tql2), not hand-written.
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';

/** Mean and covariance of a feature set. */
export interface Gaussian {
  dim: number;
  count: number;
  mean: Float64Array;
  /** dim × dim, row-major, divided by (count − 1). */
  cov: Float64Array;
}

/** Mean and (unbiased) covariance of `count` rows of `dim` features, accumulated in Float64. */
export function gaussianOf(features: ArrayLike<number>, count: number, dim: number): Gaussian {
  if (count < 2) throw new RangeError(`need at least 2 feature vectors for a covariance, got ${count}`);
  const mean = new Float64Array(dim);
  for (let i = 0; i < count; i++) for (let j = 0; j < dim; j++) mean[j] += features[i * dim + j];
  for (let j = 0; j < dim; j++) mean[j] /= count;
  const cov = new Float64Array(dim * dim);
  const row = new Float64Array(dim);
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < dim; j++) row[j] = features[i * dim + j] - mean[j];
    for (let a = 0; a < dim; a++) {
      const ra = row[a];
      if (ra === 0) continue;
      const off = a * dim;
      for (let b = a; b < dim; b++) cov[off + b] += ra * row[b];
    }
  }
  for (let a = 0; a < dim; a++) {
    for (let b = a; b < dim; b++) {
      const v = cov[a * dim + b] / (count - 1);
      cov[a * dim + b] = v;
      cov[b * dim + a] = v;
    }
  }
  return { dim, count, mean, cov };
}

function toMatrix(a: Float64Array, dim: number): Matrix {
  const m = new Matrix(dim, dim);
  for (let i = 0; i < dim; i++) for (let j = 0; j < dim; j++) m.set(i, j, a[i * dim + j]);
  return m;
}

/** Symmetric PSD square root: V diag(√max(λ, 0)) Vᵀ. */
function sqrtPsd(m: Matrix): Matrix {
  const e = new EigenvalueDecomposition(m, { assumeSymmetric: true });
  const v = e.eigenvectorMatrix;
  const d = e.realEigenvalues.map((x) => Math.sqrt(Math.max(x, 0)));
  const vd = v.clone();
  for (let i = 0; i < vd.rows; i++) for (let j = 0; j < vd.columns; j++) vd.set(i, j, vd.get(i, j) * d[j]);
  return vd.mmul(v.transpose());
}

/** tr (Σ1 Σ2)^½ for symmetric PSD Σ1, Σ2. */
export function traceSqrtProduct(cov1: Float64Array, cov2: Float64Array, dim: number): number {
  const s1 = sqrtPsd(toMatrix(cov1, dim));
  const m = s1.mmul(toMatrix(cov2, dim)).mmul(s1);
  // Symmetrise away rounding so the symmetric solver sees exactly a symmetric matrix.
  const sym = m.add(m.transpose()).mul(0.5);
  const e = new EigenvalueDecomposition(sym, { assumeSymmetric: true });
  return e.realEigenvalues.reduce((s, x) => s + Math.sqrt(Math.max(x, 0)), 0);
}

/** Fréchet distance (squared, as FID reports it) between two Gaussians of the same dimension. */
export function frechetDistance(a: Gaussian, b: Gaussian): number {
  if (a.dim !== b.dim) throw new RangeError(`feature dimensions differ: ${a.dim} vs ${b.dim}`);
  const dim = a.dim;
  let meanTerm = 0;
  for (let j = 0; j < dim; j++) meanTerm += (a.mean[j] - b.mean[j]) ** 2;
  let trace = 0;
  for (let j = 0; j < dim; j++) trace += a.cov[j * dim + j] + b.cov[j * dim + j];
  const d = meanTerm + trace - 2 * traceSqrtProduct(a.cov, b.cov, dim);
  // Rounding can leave a tiny negative number for identical distributions.
  return Math.max(d, 0);
}
