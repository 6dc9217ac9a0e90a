/**
 * The wasm backend's matmul-shaped kernels on OpenBLAS' `cblas_sgemm` (blas.ts), working in place
 * on the wasm heap: operands are TypedArray views of the wasm memory at the tensors' offsets, which
 * koffi hands to C as pointers, so no tensor is copied in or out.
 *
 * - BatchMatMul, _FusedMatMul: one sgemm per batch slice (one for all when `b` is shared and `a` is
 *   not transposed), transposes through the CBLAS flags. _FusedMatMul prefills the output with the
 *   bias (beta = 1) and applies the activation in place afterwards.
 * - Conv2D, FusedConv2D (NHWC): im2col into a bounded column buffer on the heap (a few images at a
 *   time), then cols [rows, KH·KW·CI] × filter [KH·KW·CI, CO] straight into the output.
 * - Conv2DBackpropInput: cols = dy × Wᵀ, then a col2im scatter-add into dx.
 * - Conv2DBackpropFilter: dW = colsᵀ × dy, summed over the chunks (beta = 1 after the first).
 * 1×1 stride-1 unpadded convolutions skip the column buffer. Each kernel returns undefined for a case
 * it does not handle (another dtype, NCHW, a bias or activation shape it can't broadcast, an empty
 * dimension), and the caller runs the plain wasm kernel instead.
 *
 * Why these: at batch 128 the MLP spends nearly all its kernel time in the two matmul kernels and
 * the DCGAN ~90% in the four convolution kernels (tf.profile over training steps, see
 * docs/performance.md); OpenBLAS runs them ~3-4× faster than XNNPACK's SIMD128 code here.
 */
import { backend_util, util } from '@tensorflow/tfjs-core';
import type { NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { Blas } from './blas.js';
import { matMulShape } from './matmul-shape.js';
import { columnKernelsOf } from './kernels/elementwise.js';

type KernelArgs = { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap };

/** Cap on a column buffer (floats): 8M = 32 MiB of wasm heap per chunk of images. */
export const COL_CHUNK_FLOATS = 8 * 1024 * 1024;

function heapF32(be: BackendWasm, t: TensorInfo, size = util.sizeFromShape(t.shape)): Float32Array {
  // Re-read after every allocation: growing the wasm memory detaches old views.
  return be.typedArrayFromHeap({ ...t, shape: [size] }) as Float32Array;
}

/** The whole wasm heap as floats, and a tensor's index in it. */
function heapIndex(view: Float32Array): number {
  return view.byteOffset >> 2;
}

type Activation = 'linear' | 'relu' | 'relu6' | 'elu' | 'sigmoid' | 'leakyrelu' | 'prelu';
const ACTIVATIONS: readonly string[] = ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu', 'prelu'];

/** What a fused kernel adds after the product: a per-column bias, then an activation. */
interface Epilogue {
  bias?: TensorInfo;
  activation: Activation;
  leakyreluAlpha: number;
  prelu?: TensorInfo;
}

/**
 * The fused inputs of a kernel with `cols` output columns, or undefined when they are not per
 * column (a bias or PReLU weight tensor of another size, an unknown activation).
 */
function epilogue(inputs: NamedTensorInfoMap, attrs: NamedAttrMap, cols: number): Epilogue | undefined {
  const activation = String(attrs.activation ?? 'linear');
  if (!ACTIVATIONS.includes(activation)) return undefined;
  const { bias, preluActivationWeights: prelu } = inputs;
  for (const t of [bias, prelu]) {
    if (t == null) continue;
    const size = util.sizeFromShape(t.shape);
    if (t.dtype !== 'float32' || (size !== cols && size !== 1)) return undefined;
  }
  if (activation === 'prelu' && prelu == null) return undefined;
  return { bias: bias ?? undefined, activation: activation as Activation, leakyreluAlpha: Number(attrs.leakyreluAlpha ?? 0.2), prelu: prelu ?? undefined };
}

/** Fills every row of `out` ([rows, cols]) with the bias, so that sgemm with beta = 1 adds the product. */
function fillBias(out: Float32Array, bias: Float32Array, cols: number): void {
  if (bias.length === 1) {
    out.fill(bias[0]);
    return;
  }
  out.set(bias, 0);
  // Doubling copies: memmove-sized moves instead of one set() per row.
  for (let done = cols; done < out.length; ) {
    const n = Math.min(done, out.length - done);
    out.copyWithin(done, 0, n);
    done += n;
  }
}

/** The activation in place over `out` ([rows, cols]), as tfjs' cpu backend computes it. */
function activate(out: Float32Array, cols: number, e: Epilogue, prelu?: Float32Array): void {
  const n = out.length;
  switch (e.activation) {
    case 'linear':
      return;
    case 'relu':
      for (let i = 0; i < n; i++) if (out[i] < 0) out[i] = 0;
      return;
    case 'relu6':
      for (let i = 0; i < n; i++) {
        const v = out[i];
        out[i] = v < 0 ? 0 : v > 6 ? 6 : v;
      }
      return;
    case 'elu':
      for (let i = 0; i < n; i++) {
        const v = out[i];
        if (v < 0) out[i] = Math.exp(v) - 1;
      }
      return;
    case 'sigmoid':
      for (let i = 0; i < n; i++) out[i] = 1 / (1 + Math.exp(-out[i]));
      return;
    case 'leakyrelu': {
      const a = e.leakyreluAlpha;
      for (let i = 0; i < n; i++) if (out[i] < 0) out[i] *= a;
      return;
    }
    case 'prelu': {
      const w = prelu!;
      if (w.length === 1) {
        const a = w[0];
        for (let i = 0; i < n; i++) if (out[i] < 0) out[i] *= a;
        return;
      }
      for (let i = 0, j = 0; i < n; i++, j = j + 1 === cols ? 0 : j + 1) if (out[i] < 0) out[i] *= w[j];
      return;
    }
  }
}

/** Bias before the products (call with the output just allocated); returns the sgemm beta. */
function beginEpilogue(be: BackendWasm, out: TensorInfo, cols: number, e: Epilogue | undefined): number {
  if (e?.bias == null) return 0;
  fillBias(heapF32(be, out), heapF32(be, e.bias), cols);
  return 1;
}

function endEpilogue(be: BackendWasm, out: TensorInfo, cols: number, e: Epilogue | undefined): void {
  if (e == null || e.activation === 'linear') return;
  activate(heapF32(be, out), cols, e, e.prelu ? heapF32(be, e.prelu) : undefined);
}

/**
 * BatchMatMul (and _FusedMatMul's product): a [..., M, K] (or [..., K, M] with transposeA) times
 * b [..., K, N] (or [..., N, K]). Batch layouts: none, one side unbatched, or equal batch shapes.
 */
export function blasMatMul(blas: Blas, args: KernelArgs, fused?: Epilogue): TensorInfo | undefined {
  const { a, b } = args.inputs;
  if (a == null || b == null) return undefined;
  const shape = matMulShape(a, b, args.attrs);
  if (!shape || shape.M === 0 || shape.N === 0 || shape.K === 0) return undefined; // empty products: the wasm kernel's business
  const { tA, tB, M, K, N, batchA, batchB, outer, batch } = shape;
  const be = args.backend as BackendWasm;
  const out = be.makeOutput([...outer, M, N], 'float32');
  const beta = beginEpilogue(be, out, N, fused);
  const A = heapF32(be, a);
  const B = heapF32(be, b);
  const C = heapF32(be, out);
  const lda = tA ? M : K;
  const ldb = tB ? K : N;
  if (batchB === 1 && !tA) {
    // Every batch of `a` against the one `b`: the rows of all batches form one [batchA·M, K] matrix.
    blas.sgemm(false, tB, batchA * M, N, K, 1, A, lda, B, ldb, beta, C, N);
  } else {
    for (let i = 0; i < batch; i++) {
      const ai = batchA === 1 ? A : A.subarray(i * M * K);
      const bi = batchB === 1 ? B : B.subarray(i * K * N);
      blas.sgemm(tA, tB, M, N, K, 1, ai, lda, bi, ldb, beta, C.subarray(i * M * N), N);
    }
  }
  endEpilogue(be, out, N, fused);
  return out;
}

export function blasFusedMatMul(blas: Blas, args: KernelArgs): TensorInfo | undefined {
  const { b } = args.inputs;
  if (b == null || b.shape.length < 2) return undefined;
  const tB = !!(args.attrs ?? {}).transposeB;
  const N = tB ? b.shape[b.shape.length - 2] : b.shape[b.shape.length - 1];
  const e = epilogue(args.inputs, args.attrs ?? {}, N);
  return e && blasMatMul(blas, args, e);
}

export interface ConvAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** A convolution's geometry (NHWC, filter [KH, KW, CI, CO]), in short names. */
export interface Geometry {
  N: number; H: number; W: number; CI: number; OH: number; OW: number; CO: number;
  KH: number; KW: number; SH: number; SW: number; DH: number; DW: number; top: number; left: number;
  /** Taps per output position: KH·KW·CI. */
  R: number;
  /** Output positions per image: OH·OW. */
  P: number;
  /** 1×1, stride 1, no padding, no dilation: x itself is the column matrix. */
  pointwise: boolean;
}

export function geometry(xShape: number[], filterShape: number[], a: ConvAttrs, dilations: ConvAttrs['dilations'] = 1): Geometry | undefined {
  if (a.dataFormat != null && a.dataFormat !== 'NHWC') return undefined;
  if (xShape.length !== 4 || filterShape.length !== 4) return undefined;
  const info = backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape as [number, number, number, number],
    a.strides, dilations, a.pad, a.dimRoundingMode, false, 'channelsLast',
  );
  const g = {
    N: info.batchSize, H: info.inHeight, W: info.inWidth, CI: info.inChannels, OH: info.outHeight, OW: info.outWidth, CO: info.outChannels,
    KH: info.filterHeight, KW: info.filterWidth, SH: info.strideHeight, SW: info.strideWidth, DH: info.dilationHeight, DW: info.dilationWidth,
    top: info.padInfo.top, left: info.padInfo.left,
  };
  if ([g.N, g.H, g.W, g.CI, g.OH, g.OW, g.CO, g.KH, g.KW].some((d) => d <= 0)) return undefined;
  const pointwise = g.KH === 1 && g.KW === 1 && g.SH === 1 && g.SW === 1 && g.top === 0 && g.left === 0 && g.OH === g.H && g.OW === g.W;
  return { ...g, R: g.KH * g.KW * g.CI, P: g.OH * g.OW, pointwise };
}

/** Images per column buffer, so that it stays near COL_CHUNK_FLOATS. */
function imagesPerChunk(g: Geometry): number {
  return Math.max(1, Math.min(g.N, Math.floor(COL_CHUNK_FLOATS / (g.P * g.R))));
}

/**
 * cols[(n-n0, oh, ow), (kh, kw, ci)] = x[n, oh·SH + kh·DH − top, ow·SW + kw·DW − left, ci], 0 outside,
 * for images n0 ≤ n < n1. `heap` is the whole wasm memory as floats; x and cols are indices into it.
 * A tap row (kh fixed) of KW·CI values is one contiguous run of x when it lies inside the image
 * (dilation 1), copied with copyWithin.
 */
export function im2col(heap: Float32Array, x: number, cols: number, n0: number, n1: number, g: Geometry): void {
  const { H, W, CI, OH, OW, KH, KW, SH, SW, DH, DW, top, left } = g;
  const run = KW * CI;
  let c = cols;
  for (let n = n0; n < n1; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const iw0 = ow * SW - left;
        const inside = DW === 1 && iw0 >= 0 && iw0 + KW <= W;
        for (let kh = 0; kh < KH; kh++, c += run) {
          const ih = oh * SH + kh * DH - top;
          if (ih < 0 || ih >= H) {
            heap.fill(0, c, c + run);
            continue;
          }
          const row = x + (n * H + ih) * W * CI;
          if (inside) {
            const s = row + iw0 * CI;
            if (run >= 32) heap.copyWithin(c, s, s + run);
            else for (let j = 0; j < run; j++) heap[c + j] = heap[s + j];
            continue;
          }
          for (let kw = 0, d = c; kw < KW; kw++, d += CI) {
            const iw = iw0 + kw * DW;
            if (iw < 0 || iw >= W) heap.fill(0, d, d + CI);
            else for (let j = 0, s = row + iw * CI; j < CI; j++) heap[d + j] = heap[s + j];
          }
        }
      }
    }
  }
}

/**
 * dx[n, oh·SH + kh − top, ow·SW + kw − left, :] += cols[(n − n0, oh, ow), (kh, kw, :)] for images
 * n0 ≤ n < n1. A tap row (kh fixed) that lies inside the image is one contiguous run of KW·CI
 * values in both arrays, added in one loop. Every dx value receives its terms in (n, oh, ow, kh, kw)
 * order, whichever loop adds them. `heap` is the whole wasm memory as floats; cols and dx are
 * indices into it (one array for both reads and writes: V8 runs that loop about twice as fast).
 */
export function col2imAdd(
  heap: Float32Array, cols: number, dx: number, n0: number, n1: number, H: number, W: number, CI: number, OH: number,
  OW: number, KH: number, KW: number, SH: number, SW: number, top: number, left: number,
): void {
  const run = KW * CI;
  let c = cols;
  for (let n = n0; n < n1; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const iw0 = ow * SW - left;
        const inside = iw0 >= 0 && iw0 + KW <= W;
        for (let kh = 0; kh < KH; kh++, c += run) {
          const ih = oh * SH + kh - top;
          if (ih < 0 || ih >= H) continue;
          const row = dx + (n * H + ih) * W * CI;
          if (inside) {
            for (let j = 0, d = row + iw0 * CI; j < run; j++) heap[d + j] += heap[c + j];
            continue;
          }
          for (let kw = 0; kw < KW; kw++) {
            const iw = iw0 + kw;
            if (iw < 0 || iw >= W) continue;
            for (let j = 0, d = row + iw * CI, s = c + kw * CI; j < CI; j++) heap[d + j] += heap[s + j];
          }
        }
      }
    }
  }
}

/**
 * Runs `each(n0, n1, cols)` over chunks of images with their im2col columns (`cols` is the column
 * buffer's view, or x itself for a pointwise convolution).
 */
function withColumns(be: BackendWasm, x: TensorInfo, g: Geometry, each: (n0: number, n1: number, cols: Float32Array) => void): void {
  if (g.pointwise) {
    each(0, g.N, heapF32(be, x));
    return;
  }
  const nb = imagesPerChunk(g);
  const buf = be.makeOutput([nb * g.P * g.R], 'float32');
  try {
    for (let n0 = 0; n0 < g.N; n0 += nb) {
      const n1 = Math.min(g.N, n0 + nb);
      const xv = heapF32(be, x);
      const cv = heapF32(be, buf);
      const wasm = columnKernelsOf(be);
      if (wasm) wasm.im2col(xv.byteOffset, cv.byteOffset, n0, n1, g.H, g.W, g.CI, g.OH, g.OW, g.KH, g.KW, g.SH, g.SW, g.DH, g.DW, g.top, g.left);
      else im2col(new Float32Array(cv.buffer), heapIndex(xv), heapIndex(cv), n0, n1, g);
      each(n0, n1, cv.subarray(0, (n1 - n0) * g.P * g.R));
    }
  } finally {
    be.disposeData(buf.dataId);
  }
}

/** Conv2D and FusedConv2D: y[(n, oh, ow), co] = cols × filter [R, CO], then bias and activation. */
export function blasConv2D(blas: Blas, args: KernelArgs, fused: boolean): TensorInfo | undefined {
  const { x, filter } = args.inputs;
  const a = (args.attrs ?? {}) as unknown as ConvAttrs;
  if (x == null || filter == null || x.dtype !== 'float32' || filter.dtype !== 'float32') return undefined;
  const g = geometry(x.shape, filter.shape, a, a.dilations ?? 1);
  if (!g) return undefined;
  const e = fused ? epilogue(args.inputs, args.attrs ?? {}, g.CO) : undefined;
  if (fused && !e) return undefined;
  const be = args.backend as BackendWasm;
  const out = be.makeOutput([g.N, g.OH, g.OW, g.CO], 'float32');
  const beta = beginEpilogue(be, out, g.CO, e);
  try {
    withColumns(be, x, g, (n0, n1, cols) => {
      const rows = (n1 - n0) * g.P;
      blas.sgemm(false, false, rows, g.CO, g.R, 1, cols, g.R, heapF32(be, filter), g.CO, beta, heapF32(be, out).subarray(n0 * g.P * g.CO), g.CO);
    });
  } catch (err) {
    be.disposeData(out.dataId);
    throw err;
  }
  endEpilogue(be, out, g.CO, e);
  return out;
}

/** Conv2DBackpropInput: cols = dy [rows, CO] × Wᵀ, scattered back into dx (col2im). */
export function blasConv2DBackpropInput(blas: Blas, args: KernelArgs): TensorInfo | undefined {
  const { dy, filter } = args.inputs;
  const a = (args.attrs ?? {}) as unknown as ConvAttrs & { inputShape: number[] };
  if (dy == null || filter == null || dy.dtype !== 'float32' || filter.dtype !== 'float32') return undefined;
  const g = geometry(a.inputShape, filter.shape, a);
  if (!g || dy.shape.length !== 4 || dy.shape.some((d, i) => d !== [g.N, g.OH, g.OW, g.CO][i])) return undefined;
  const be = args.backend as BackendWasm;
  const dx = be.makeOutput([g.N, g.H, g.W, g.CI], 'float32');
  if (g.pointwise) {
    blas.sgemm(false, true, g.N * g.P, g.CI, g.CO, 1, heapF32(be, dy), g.CO, heapF32(be, filter), g.CO, 0, heapF32(be, dx), g.CI);
    return dx;
  }
  const nb = imagesPerChunk(g);
  const cols = be.makeOutput([nb * g.P * g.R], 'float32');
  try {
    heapF32(be, dx).fill(0);
    for (let n0 = 0; n0 < g.N; n0 += nb) {
      const n1 = Math.min(g.N, n0 + nb);
      const rows = (n1 - n0) * g.P;
      const cv = heapF32(be, cols);
      blas.sgemm(false, true, rows, g.R, g.CO, 1, heapF32(be, dy).subarray(n0 * g.P * g.CO), g.CO, heapF32(be, filter), g.CO, 0, cv, g.R);
      const dxv = heapF32(be, dx);
      const wasm = columnKernelsOf(be);
      if (wasm) wasm.col2imAdd(cv.byteOffset, dxv.byteOffset, n0, n1, g.H, g.W, g.CI, g.OH, g.OW, g.KH, g.KW, g.SH, g.SW, g.top, g.left);
      else col2imAdd(new Float32Array(cv.buffer), heapIndex(cv), heapIndex(dxv), n0, n1, g.H, g.W, g.CI, g.OH, g.OW, g.KH, g.KW, g.SH, g.SW, g.top, g.left);
    }
  } catch (err) {
    be.disposeData(dx.dataId);
    throw err;
  } finally {
    be.disposeData(cols.dataId);
  }
  return dx;
}

/** Conv2DBackpropFilter: dW [R, CO] = Σ over chunks of colsᵀ × dy. */
export function blasConv2DBackpropFilter(blas: Blas, args: KernelArgs): TensorInfo | undefined {
  const { x, dy } = args.inputs;
  const a = (args.attrs ?? {}) as unknown as ConvAttrs & { filterShape: number[] };
  if (x == null || dy == null || x.dtype !== 'float32' || dy.dtype !== 'float32') return undefined;
  const g = geometry(x.shape, a.filterShape, a);
  if (!g || dy.shape.length !== 4 || dy.shape.some((d, i) => d !== [g.N, g.OH, g.OW, g.CO][i])) return undefined;
  const be = args.backend as BackendWasm;
  const dW = be.makeOutput([g.KH, g.KW, g.CI, g.CO], 'float32');
  try {
    withColumns(be, x, g, (n0, n1, cols) => {
      const rows = (n1 - n0) * g.P;
      blas.sgemm(true, false, g.R, g.CO, rows, 1, cols, g.R, heapF32(be, dy).subarray(n0 * g.P * g.CO), g.CO, n0 === 0 ? 0 : 1, heapF32(be, dW), g.CO);
    });
  } catch (err) {
    be.disposeData(dW.dataId);
    throw err;
  }
  return dW;
}
