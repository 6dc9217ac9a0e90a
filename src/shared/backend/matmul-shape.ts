/**
 * The shape of a BatchMatMul / _FusedMatMul as both fast paths (wasm-kernels.ts, blas-kernels.ts)
 * read it: a [..., M, K] (or [..., K, M] transposed) times b [..., K, N] (or [..., N, K]). Only the
 * unambiguous batch layouts: no batch, one side unbatched, or identical batch shapes.
 */
import { backend_util, util, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';

export interface MatMulShape {
  tA: boolean;
  tB: boolean;
  M: number;
  K: number;
  N: number;
  batchA: number;
  batchB: number;
  /** The broadcast batch shape of the output, and its size. */
  outer: number[];
  batch: number;
}

/** The product's dimensions, or undefined for what the fast paths leave to the original kernel. */
export function matMulShape(a: TensorInfo, b: TensorInfo, attrs: NamedAttrMap | undefined): MatMulShape | undefined {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return undefined;
  const { transposeA, transposeB } = (attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
  const tA = !!transposeA;
  const tB = !!transposeB;
  const aR = a.shape.length;
  const bR = b.shape.length;
  const M = tA ? a.shape[aR - 1] : a.shape[aR - 2];
  const K = tA ? a.shape[aR - 2] : a.shape[aR - 1];
  const Kb = tB ? b.shape[bR - 1] : b.shape[bR - 2];
  const N = tB ? b.shape[bR - 2] : b.shape[bR - 1];
  if (K !== Kb) return undefined; // the original kernel reports the mismatch
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = util.sizeFromShape(outerA);
  const batchB = util.sizeFromShape(outerB);
  if (batchA !== 1 && batchB !== 1 && (outerA.length !== outerB.length || outerA.some((d, i) => d !== outerB[i]))) return undefined;
  const outer = backend_util.assertAndGetBroadcastShape(outerA, outerB);
  return { tA, tB, M, K, N, batchA, batchB, outer, batch: util.sizeFromShape(outer) };
}
