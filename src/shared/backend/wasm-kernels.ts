/**
 * Kernel registrations that make the wasm backend (tfjs-backend-wasm 4.22, SIMD, one thread) fast
 * and complete for training the MLP GAN and the DCGAN.
 *
 * Why each one exists (figures: best of 3-5 runs at batch 128 on the 2-core dev box, timed around
 * the op plus dataSync with /tmp benchmark scripts that call tf.matMul / tf.conv2dTranspose /
 * tf.tile / engine().runKernel before and after registerWasmKernels(); GFLOP/s = 2*MACs/time; the
 * box is shared, so expect +-25% noise):
 *
 * - BatchMatMul, _FusedMatMul: the wasm kernel uses XNNPACK only for untransposed, unbatched
 *   products; transposeA/transposeB (every dense-layer backward pass) fall to a naive C++ loop. We
 *   transpose the operand explicitly (wasm Transpose) and run the plain product; for a*b^T with a
 *   small first dimension we compute (b*a^T)^T instead, which moves fewer values. Batched products
 *   (none occur in the two GANs) fold a batch of `a` against one `b` into a single product, or loop
 *   over slices. Before -> after, MLP shapes [128,K]x[K,N]: transposeB 1.4-2.2 -> 11-15 GFLOP/s,
 *   transposeA 0.5-0.6 -> 16-28 GFLOP/s (plain is 20-29). The original _FusedMatMul is also WRONG
 *   outside its XNNPACK path: its loop adds bias[min(i*N+j, len-1)], i.e. the last bias value to
 *   every row after the first (relative error ~0.3 vs cpu); routing those cases here fixes that.
 * - Conv2DBackpropFilter: not registered for wasm at all, so nothing with a trainable conv could
 *   train. Computed as a stride-1 convolution with batch and channels swapped (see below), run by
 *   the wasm Conv2D kernel (XNNPACK): 17-20 GFLOP/s on the DCGAN's big layers (D conv2 / G convT2:
 *   150 ms; G convT1: 520 ms), i.e. about the forward conv's speed.
 * - Conv2DBackpropInput (the forward pass of Conv2DTranspose and Conv2D's input gradient): the wasm
 *   kernel is a naive loop at 2.2-3.1 GFLOP/s. Stride 1 now runs as a conv with the flipped filter
 *   (XNNPACK), other strides as a plain product dy x W^T (XNNPACK) plus a col2im scatter-add in JS.
 *   Before -> after: G convT1 (s1, 10.3 GFLOP) 3300-3800 -> 355-400 ms; D conv2 dx / G convT2 (s2)
 *   995 -> 115-150 ms; G convT3 (s2) 36-39 -> 7-10 ms.
 * - Tile (the batch-norm gradient tiles per-channel vectors over the batch): the wasm kernel takes
 *   ~80 ns per output element. A copyWithin version: [1,1,1,12544] x [1,1,128,1] 149 -> 4 ms,
 *   [1,1,1,64] x [128,14,14,1] 103 -> 4 ms.
 * - Identity: shares the input's data instead of copying it (kernels/identity.ts says why).
 * - LeakyRelu, its gradient as one kernel (LeakyReluGrad, used by gradients.ts), Sum and Mean over
 *   leading axes, Dropout's mask (AleaDropoutMask, used by models/dropout.ts), and the column
 *   buffers of blas-kernels.ts: SIMD on the heap, the same bits (kernels/elementwise.wat says why).
 * - Conv2D forward stays as is (XNNPACK, 22-27 GFLOP/s except ~9 for the 1-channel input layer).
 *
 * Whole training steps at batch 128 (variableGrads of BCE-on-logits, D step and G step through D):
 * MLP 1.8-1.9 s -> 0.12-0.2 s per step; DCGAN could not run before, now D 1.8 s and G 2.3 s per
 * step, spent mostly in Conv2DBackpropInput, Conv2DBackpropFilter and Conv2D, all near the
 * single-thread XNNPACK speed.
 */
import {
  _FusedMatMul,
  backend_util,
  BatchMatMul,
  broadcast_util,
  Conv2DBackpropFilter,
  Conv2D,
  Conv2DBackpropInput,
  FusedConv2D,
  Identity,
  LeakyRelu,
  Mean,
  Slice,
  Sum,
  Tile,
  findBackend,
  getKernel,
  registerKernel,
  Transpose,
  unregisterKernel,
  util,
} from '@tensorflow/tfjs-core';
import type { KernelBackend, KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { Blas } from './blas.js';
import { matMulShape } from './matmul-shape.js';
import { DROPOUT_MASK, dropoutMask, elementwiseAvailable, LEAKY_RELU_GRAD, leakyReluGrad, makeLeadingReduction, makeLeakyRelu } from './kernels/elementwise.js';
import {
  blasConv2D, blasConv2DBackpropFilter, blasConv2DBackpropInput, blasFusedMatMul, blasMatMul, col2imAdd, COL_CHUNK_FLOATS,
} from './blas-kernels.js';
import { makeSharedIdentity } from './kernels/identity.js';
import type { Kernel, KernelArgs } from './kernels/types.js';

const BACKEND = 'wasm';
/** Marks kernel functions installed here, so that a second `registerWasmKernels()` call is a no-op. */
const MARK = Symbol.for('gan-cluster.wasm-kernels');


/** A TensorInfo sharing `t`'s data under another shape of the same size. Not ref-counted: never dispose it. */
function view(t: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: t.dataId, shape, dtype: t.dtype };
}

function heapF32(be: BackendWasm, t: TensorInfo): Float32Array {
  // Re-read after every allocation or kernel call: growing the wasm memory detaches old views.
  return be.typedArrayFromHeap(t) as Float32Array;
}

function dispose(be: BackendWasm, ...ts: TensorInfo[]): void {
  for (const t of ts) be.disposeData(t.dataId);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Looks a kernel up on the wasm backend, failing loudly if tfjs changed underneath us. */
function wasmKernel(name: string): Kernel {
  const k = getKernel(name, BACKEND);
  if (!k) throw new Error(`registerWasmKernels: the wasm backend has no '${name}' kernel (is @tensorflow/tfjs-backend-wasm loaded?)`);
  return k.kernelFunc as unknown as Kernel;
}

/** Swaps the last two axes with the wasm Transpose kernel; returns a fresh tensor the caller disposes. */
function transposeLast2(transpose: Kernel, backend: KernelBackend, x: TensorInfo): TensorInfo {
  const r = x.shape.length;
  const perm = [...Array(r - 2).keys(), r - 1, r - 2];
  return transpose({ inputs: { x }, backend, attrs: { perm } });
}

/**
 * Shared by BatchMatMul and _FusedMatMul: makes every product a plain (untransposed, unbatched) one,
 * which the original kernel runs through XNNPACK. Transposed operands are transposed explicitly;
 * a batch of `a` against one `b` becomes a single [batch*M, K] x [K, N] product; other batches
 * loop over slices. For _FusedMatMul, `bias` and `prelu` are rank-1 of length N (or undefined),
 * which XNNPACK applies per output column, so they are passed unchanged to every product. Returns
 * undefined for batch layouts that need general broadcasting (left to the original kernel).
 */
function plainProduct(
  orig: Kernel,
  transpose: Kernel,
  args: KernelArgs,
  fused?: { bias?: TensorInfo; prelu?: TensorInfo },
): TensorInfo | undefined {
  const { inputs, backend } = args;
  const { a, b } = inputs;
  if (a == null || b == null) return undefined;
  const shape = matMulShape(a, b, args.attrs);
  if (!shape) return undefined;
  const { tA, tB, M, K, N, batchA, batchB, outer, batch } = shape;
  const outShape = [...outer, M, N];
  const be = backend as BackendWasm;
  const extra = fused ? { bias: fused.bias, preluActivationWeights: fused.prelu } : {};

  const temps: TensorInfo[] = [];
  const aT = tA ? transposeLast2(transpose, backend, a) : a; // [..., M, K]
  if (tA) temps.push(aT);
  const bT = tB ? transposeLast2(transpose, backend, b) : b; // [..., K, N]
  if (tB) temps.push(bT);
  const plainAttrs = { ...(args.attrs ?? {}), transposeA: false, transposeB: false };
  try {
    if (batchB === 1) {
      // Rows of every batch of `a` against the one `b`: a single [batchA*M, K] x [K, N] product.
      const out = orig({
        inputs: { a: view(aT, [1, batchA * M, K]), b: view(bT, [1, K, N]), ...extra },
        backend,
        attrs: plainAttrs,
      });
      out.shape = outShape;
      return out;
    }
    // batchB > 1: one XNNPACK product per batch slice, copied through the heap.
    const out = be.makeOutput([batch, M, N], 'float32');
    for (let i = 0; i < batch; i++) {
      let ai = view(aT, [1, M, K]);
      if (batchA !== 1) {
        ai = be.makeOutput([1, M, K], 'float32');
        heapF32(be, ai).set(heapF32(be, view(aT, [batchA * M * K])).subarray(i * M * K, (i + 1) * M * K));
      }
      const bi = be.makeOutput([1, K, N], 'float32');
      heapF32(be, bi).set(heapF32(be, view(bT, [batchB * K * N])).subarray(i * K * N, (i + 1) * K * N));
      const ri = orig({ inputs: { a: ai, b: bi, ...extra }, backend, attrs: plainAttrs });
      heapF32(be, view(out, [batch * M * N])).set(heapF32(be, ri), i * M * N);
      dispose(be, bi, ri);
      if (ai.dataId !== aT.dataId) dispose(be, ai);
    }
    out.shape = outShape;
    return out;
  } finally {
    dispose(be, ...temps);
  }
}

function makeBatchMatMul(orig: Kernel, transpose: Kernel): Kernel {
  return (args) => {
    const attrs = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
    const { a, b } = args.inputs;
    if (a == null || b == null) return orig(args);
    const plain = !attrs.transposeA && !attrs.transposeB;
    const unbatched = util.sizeFromShape(a.shape.slice(0, -2)) === 1 && util.sizeFromShape(b.shape.slice(0, -2)) === 1;
    if (plain && unbatched) return orig(args); // already XNNPACK
    if (unbatched && !attrs.transposeA && attrs.transposeB && a.dtype === 'float32' && b.dtype === 'float32') {
      // a [M,K] x b[N,K]^T (a dense layer's input gradient dy x W^T): transposing b costs K*N moves
      // (plus XNNPACK packing K*N), computing (b x a^T)^T costs M*K + M*N, which is less when M is
      // the batch size and K, N are layer widths. (b is the left operand there, so XNNPACK caches
      // nothing on the caller's tensors.)
      const M = a.shape[a.shape.length - 2];
      const K = a.shape[a.shape.length - 1];
      const N = b.shape[b.shape.length - 2];
      if (b.shape[b.shape.length - 1] === K && M * K + M * N < K * N) {
        const be = args.backend as BackendWasm;
        const aT = transpose({ inputs: { x: view(a, [M, K]) }, backend: args.backend, attrs: { perm: [1, 0] } }); // [K, M]
        let outT: TensorInfo;
        try {
          outT = orig({ inputs: { a: view(b, [1, N, K]), b: view(aT, [1, K, M]) }, backend: args.backend, attrs: { transposeA: false, transposeB: false } });
        } finally {
          dispose(be, aT);
        }
        try {
          const out = transpose({ inputs: { x: view(outT, [N, M]) }, backend: args.backend, attrs: { perm: [1, 0] } });
          const outer = broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
          out.shape = [...outer, M, N];
          return out;
        } finally {
          dispose(be, outT);
        }
      }
    }
    return plainProduct(orig, transpose, args) ?? orig(args);
  };
}

/**
 * _FusedMatMul: the original kernel is right only on its XNNPACK path (no transpose, batch 1, bias
 * of length N). Its fallback loop broadcasts a rank-1 bias wrongly (it adds bias[min(i*N+j, len-1)],
 * i.e. the last bias value to every row after the first), so every other case is routed through
 * plainProduct. A length-1 bias is expanded to length N, since XNNPACK reads N values from it.
 */
function makeFusedMatMul(orig: Kernel, transpose: Kernel): Kernel {
  return (args) => {
    const attrs = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
    const { a, b, bias, preluActivationWeights: prelu } = args.inputs;
    if (a == null || b == null || a.shape.length !== 3 || b.shape.length !== 3) return orig(args);
    const be = args.backend as BackendWasm;
    const N = attrs.transposeB ? b.shape[1] : b.shape[2];
    const biasSize = bias == null ? N : util.sizeFromShape(bias.shape);
    const preluSize = prelu == null ? N : util.sizeFromShape(prelu.shape);
    // Per-column bias and prelu weights are what XNNPACK and per-slice products can apply.
    if ((biasSize !== N && biasSize !== 1) || (preluSize !== N && preluSize !== 1)) return orig(args);
    if (!attrs.transposeA && !attrs.transposeB && a.shape[0] === 1 && b.shape[0] === 1 && biasSize === N) {
      return orig(args); // already XNNPACK
    }
    let biasN: TensorInfo | undefined;
    if (bias != null) {
      biasN = view(bias, [N]);
      if (biasSize !== N) {
        biasN = be.makeOutput([N], 'float32');
        heapF32(be, biasN).fill(heapF32(be, bias)[0]);
      }
    }
    try {
      return plainProduct(orig, transpose, args, { bias: biasN, prelu }) ?? orig(args);
    } finally {
      if (biasN != null && biasN.dataId !== bias?.dataId) dispose(be, biasN);
    }
  };
}

interface ConvAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function checkConvArgs(kernel: string, attrs: ConvAttrs, ...ts: TensorInfo[]): void {
  if (attrs.dataFormat != null && attrs.dataFormat !== 'NHWC') {
    throw new Error(`wasm ${kernel}: only dataFormat 'NHWC' is supported, got '${attrs.dataFormat}'`);
  }
  for (const t of ts) {
    if (t.dtype !== 'float32') throw new Error(`wasm ${kernel}: only float32 tensors are supported, got ${t.dtype}`);
    if (t.shape.length !== 4) throw new Error(`wasm ${kernel}: expected rank-4 tensors, got shape [${t.shape}]`);
  }
}

/**
 * dW[kh,kw,ci,co] = sum over (n,oh,ow) of x[n, oh*SH+kh-top, ow*SW+kw-left, ci] * dy[n,oh,ow,co].
 *
 * That sum is itself a stride-1 convolution with the roles swapped: batch <-> channels. With
 * xT = x as [CI, H, W, N] (CI images of N channels) and dyT = dy as [OH, OW, N, CO] (a filter of
 * OH x OW taps, dilated by the stride), conv2d(xT, dyT, stride 1, dilation [SH, SW], pads top/left
 * as in the forward conv) is [CI, KH, KW, CO], i.e. dW with its axes permuted. The wasm Conv2D kernel
 * runs that through XNNPACK's convolution (an implicit-im2col GEMM), so no column buffer is built
 * in JS. The bottom/right pads are chosen to make the output exactly KH x KW; where the forward conv
 * never reached the last rows/columns of x (some 'valid' shapes) they would be negative, so x is
 * cropped instead.
 */

type Shape4 = [number, number, number, number];

/**
 * Geometry shared by both convolution gradients: tfjs' conv info for the forward conv with input
 * `xShape` and filter `filterShape`, checked against dy's shape, unpacked into short names.
 */
function convGradGeometry(kernel: string, a: ConvAttrs, xShape: Shape4, filterShape: Shape4, dy: TensorInfo) {
  const info = backend_util.computeConv2DInfo(xShape, filterShape, a.strides, 1, a.pad, a.dimRoundingMode, false, 'channelsLast');
  if (!sameShape(dy.shape, info.outShape)) {
    throw new Error(`wasm ${kernel}: dy has shape [${dy.shape}], expected [${info.outShape}]`);
  }
  return {
    info,
    N: info.batchSize, H: info.inHeight, W: info.inWidth, CI: info.inChannels,
    OH: info.outHeight, OW: info.outWidth, CO: info.outChannels,
    KH: info.filterHeight, KW: info.filterWidth, SH: info.strideHeight, SW: info.strideWidth,
    top: info.padInfo.top, left: info.padInfo.left,
  };
}

function makeConv2DBackpropFilter(k: { conv2d: Kernel; transpose: Kernel; slice: Kernel }): Kernel {
  return ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const a = attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number] };
    checkConvArgs('Conv2DBackpropFilter', a, x, dy);
    const g = convGradGeometry('Conv2DBackpropFilter', a, x.shape as Shape4, a.filterShape, dy);
    const { N, H, W, CI, OH, OW, CO, KH, KW, SH, SW, top, left } = g;
    const be = backend as BackendWasm;
    // Input rows/columns the forward conv read: [-top, (OH-1)*SH + KH - top).
    const usedH = (OH - 1) * SH + KH - top;
    const usedW = (OW - 1) * SW + KW - left;
    const temps: TensorInfo[] = [];
    try {
      let xs = x;
      let h = H;
      let w = W;
      if (usedH < H || usedW < W) {
        h = Math.min(H, usedH);
        w = Math.min(W, usedW);
        xs = k.slice({ inputs: { x }, backend, attrs: { begin: [0, 0, 0, 0], size: [N, h, w, CI] } });
        temps.push(xs);
      }
      const xT = k.transpose({ inputs: { x: xs }, backend, attrs: { perm: [3, 1, 2, 0] } }); // [CI, h, w, N]
      temps.push(xT);
      const dyT = k.transpose({ inputs: { x: dy }, backend, attrs: { perm: [1, 2, 0, 3] } }); // [OH, OW, N, CO]
      temps.push(dyT);
      const bottom = usedH - h;
      const right = usedW - w;
      const r = k.conv2d({
        inputs: { x: xT, filter: dyT },
        backend,
        attrs: {
          strides: [1, 1],
          pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
          dataFormat: 'NHWC',
          dilations: [SH, SW],
          dimRoundingMode: undefined,
        } as unknown as NamedAttrMap,
      }); // [CI, KH, KW, CO]
      temps.push(r);
      if (!sameShape(r.shape, [CI, KH, KW, CO])) {
        throw new Error(`wasm Conv2DBackpropFilter: internal shape error, got [${r.shape}] for [${CI},${KH},${KW},${CO}]`);
      }
      return k.transpose({ inputs: { x: r }, backend, attrs: { perm: [1, 2, 0, 3] } });
    } finally {
      dispose(be, ...temps);
    }
  };
}

/** wf[kh,kw,co,ci] = w[KH-1-kh, KW-1-kw, ci, co]. */
function flipFilter(w: Float32Array, wf: Float32Array, KH: number, KW: number, CI: number, CO: number): void {
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      const src = ((KH - 1 - kh) * KW + (KW - 1 - kw)) * CI * CO;
      const dst = (kh * KW + kw) * CO * CI;
      for (let ci = 0; ci < CI; ci++) {
        for (let co = 0, si = src + ci * CO, di = dst + ci; co < CO; co++, si++, di += CI) wf[di] = w[si];
      }
    }
  }
}

/**
 * dx[n, oh*SH+kh-top, ow*SW+kw-left, ci] += sum over co of dy[n,oh,ow,co] * W[kh,kw,ci,co].
 * Stride 1: one XNNPACK conv with the flipped filter. Otherwise: the plain product
 * cols[(n,oh,ow), (kh,kw,ci)] = dy x W^T (XNNPACK), then a col2im scatter-add in JS, a few images
 * at a time so the column buffer stays bounded.
 */
function makeConv2DBackpropInput(k: { matMul: Kernel; transpose: Kernel; conv2d: Kernel }): Kernel {
  const { matMul, transpose } = k;
  return ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const a = attrs as unknown as ConvAttrs & { inputShape: [number, number, number, number] };
    checkConvArgs('Conv2DBackpropInput', a, dy, filter);
    const g = convGradGeometry('Conv2DBackpropInput', a, a.inputShape, filter.shape as Shape4, dy);
    const { N, H, W, CI, OH, OW, CO, KH, KW, SH, SW, top, left } = g;
    const be = backend as BackendWasm;
    // Stride 1: dx is the 'full' convolution of dy with the flipped filter, which XNNPACK's conv runs
    // directly: dx[ih] = sum over kh' of dy[ih + kh' - padTop'] * Wf[kh'], Wf[kh',kw',co,ci] =
    // W[KH-1-kh', KW-1-kw', ci, co], padTop' = KH-1-top, padBottom' = H-OH+top (likewise for width).
    const pads = [KH - 1 - top, H - OH + top, KW - 1 - left, W - OW + left];
    if (SH === 1 && SW === 1 && pads.every((p) => p >= 0)) {
      const wf = be.makeOutput([KH, KW, CO, CI], 'float32');
      flipFilter(heapF32(be, filter), heapF32(be, wf), KH, KW, CI, CO);
      try {
        return k.conv2d({
          inputs: { x: dy, filter: wf },
          backend,
          attrs: {
            strides: [1, 1],
            pad: [[0, 0], [pads[0], pads[1]], [pads[2], pads[3]], [0, 0]],
            dataFormat: 'NHWC',
            dilations: [1, 1],
            dimRoundingMode: undefined,
          } as unknown as NamedAttrMap,
        });
      } finally {
        dispose(be, wf);
      }
    }
    const R = KH * KW * CI;
    const wT = transpose({ inputs: { x: view(filter, [R, CO]) }, backend, attrs: { perm: [1, 0] } }); // [CO, R]
    const dx = be.makeOutput([N, H, W, CI], 'float32');
    heapF32(be, dx).fill(0);
    // Whole images per chunk, so that the column buffer stays near COL_CHUNK_FLOATS (wT is the same
    // tensor for every chunk, so XNNPACK packs it once).
    const perImage = OH * OW * R;
    const nb = Math.max(1, Math.min(N, Math.floor(COL_CHUNK_FLOATS / perImage)));
    try {
      for (let n0 = 0; n0 < N; n0 += nb) {
        const n1 = Math.min(N, n0 + nb);
        const rows = (n1 - n0) * OH * OW;
        let dyc = view(dy, [rows, CO]);
        if (n1 - n0 !== N) {
          dyc = be.makeOutput([rows, CO], 'float32');
          heapF32(be, dyc).set(heapF32(be, dy).subarray(n0 * OH * OW * CO, n1 * OH * OW * CO));
        }
        let cols: TensorInfo;
        try {
          cols = matMul({ inputs: { a: dyc, b: wT }, backend, attrs: { transposeA: false, transposeB: false } }); // [rows, R]
        } finally {
          if (dyc.dataId !== dy.dataId) dispose(be, dyc);
        }
        const out = heapF32(be, dx);
        const cv = heapF32(be, cols);
        col2imAdd(new Float32Array(cv.buffer), cv.byteOffset >> 2, out.byteOffset >> 2, n0, n1, H, W, CI, OH, OW, KH, KW, SH, SW, top, left);
        dispose(be, cols);
      }
    } catch (e) {
      dispose(be, dx);
      throw e;
    } finally {
      dispose(be, wT);
    }
    return dx;
  };
}

/**
 * out = x tiled `reps` times along each axis. Writes the first copy of each axis block recursively,
 * then replicates it with copyWithin (doubling), i.e. memcpy-sized moves instead of per-element
 * index arithmetic.
 */
function makeTile(orig: Kernel): Kernel {
  return (args) => {
    const { inputs, backend } = args;
    const x = inputs.x as TensorInfo;
    const reps = (args.attrs as unknown as { reps: number[] }).reps;
    if (x.dtype === 'string' || x.dtype === 'complex64' || reps.length !== x.shape.length) return orig(args);
    const be = backend as BackendWasm;
    const rank = x.shape.length;
    const outShape = x.shape.map((d, i) => d * reps[i]);
    const out = be.makeOutput(outShape, x.dtype);
    if (util.sizeFromShape(outShape) === 0) return out;
    const xv = be.typedArrayFromHeap(x);
    const ov = be.typedArrayFromHeap(out);
    if (rank === 0) {
      ov[0] = xv[0];
      return out;
    }
    const xStrides = util.computeStrides(x.shape);
    const oStrides = util.computeStrides(outShape);
    const fill = (d: number, xOff: number, oOff: number): void => {
      const inner = d === rank - 1 ? 1 : oStrides[d];
      const xd = x.shape[d];
      if (d === rank - 1) {
        ov.set(xv.subarray(xOff, xOff + xd), oOff);
      } else {
        const xs = xStrides[d];
        for (let i = 0; i < xd; i++) fill(d + 1, xOff + i * xs, oOff + i * inner);
      }
      const block = xd * inner;
      for (let done = 1; done < reps[d]; ) {
        const n = Math.min(done, reps[d] - done);
        ov.copyWithin(oOff + done * block, oOff, oOff + n * block);
        done += n;
      }
    };
    fill(0, 0, 0);
    return out;
  };
}

function marked(f: Kernel): KernelFunc {
  (f as unknown as Record<symbol, boolean>)[MARK] = true;
  return f as unknown as KernelFunc;
}

function isOurs(name: string): boolean {
  const k = getKernel(name, BACKEND);
  return !!k && !!(k.kernelFunc as unknown as Record<symbol, boolean>)[MARK];
}

/** Replaces a wasm kernel (keeping its setupFunc/disposeFunc) or adds a missing one. */
const replaced = new Map<string, Kernel>();
function install(name: string, make: (orig: Kernel | undefined) => Kernel): void {
  if (isOurs(name)) return;
  const prev: KernelConfig | undefined = getKernel(name, BACKEND);
  if (prev) replaced.set(name, prev.kernelFunc as unknown as Kernel);
  const kernelFunc = marked(make(prev ? (prev.kernelFunc as unknown as Kernel) : undefined));
  if (prev) unregisterKernel(name, BACKEND);
  registerKernel({ ...prev, kernelName: name, backendName: BACKEND, kernelFunc });
}

/** The OpenBLAS the kernels use, when one is loaded (see setWasmBlas). */
let activeBlas: Blas | undefined;

/**
 * Routes the matmul-shaped kernels (BatchMatMul, _FusedMatMul, Conv2D, FusedConv2D and both
 * convolution gradients) through `blas` (blas-kernels.ts), or back to the wasm kernels with
 * undefined. Takes effect at the next kernel call.
 */
export function setWasmBlas(blas: Blas | undefined): void {
  activeBlas = blas;
}

/** The BLAS the kernels use now, if any. */
export function wasmBlas(): Blas | undefined {
  return activeBlas;
}

type BlasKernel = (blas: Blas, args: KernelArgs) => TensorInfo | undefined;

/** `kernel`, with `blasKernel` in front of it while a BLAS is set (for the cases it handles). */
function withBlas(blasKernel: BlasKernel, kernel: Kernel): Kernel {
  return (args) => (activeBlas ? blasKernel(activeBlas, args) : undefined) ?? kernel(args);
}

/**
 * Installs the kernels above on the wasm backend. Idempotent; call after `tf.setBackend('wasm')`
 * (the kernels it wraps must already be registered, which importing tfjs-backend-wasm does).
 * Whether the matmul-shaped ones use OpenBLAS is decided per call by setWasmBlas.
 */
export function registerWasmKernels(): void {
  const transpose = wasmKernel(Transpose);
  // The untouched wasm BatchMatMul (XNNPACK for plain products) and Conv2D, kept before we replace them.
  const origMatMul = isOurs(BatchMatMul) ? undefined : wasmKernel(BatchMatMul);
  const origConv2D = isOurs(Conv2D) ? undefined : wasmKernel(Conv2D);
  install(BatchMatMul, (orig) => withBlas(blasMatMul, makeBatchMatMul(orig!, transpose)));
  install(_FusedMatMul, (orig) => withBlas(blasFusedMatMul, makeFusedMatMul(orig!, transpose)));
  install(Conv2D, (orig) => withBlas((blas, args) => blasConv2D(blas, args, false), orig!));
  install(FusedConv2D, (orig) => withBlas((blas, args) => blasConv2D(blas, args, true), orig!));
  // The conv kernels only issue plain, unbatched products and plain convolutions: the original
  // kernels are what they need.
  const plainMatMul = origMatMul ?? wasmKernel(BatchMatMul);
  const plainConv2D = origConv2D ?? wasmKernel(Conv2D);
  install(Conv2DBackpropFilter, () => withBlas(blasConv2DBackpropFilter, makeConv2DBackpropFilter({ conv2d: plainConv2D, transpose, slice: wasmKernel(Slice) })));
  install(Conv2DBackpropInput, () => withBlas(blasConv2DBackpropInput, makeConv2DBackpropInput({ matMul: plainMatMul, transpose, conv2d: plainConv2D })));
  install(Tile, (orig) => makeTile(orig!));
  install(Identity, (orig) => makeSharedIdentity(orig!));
  const backend = findBackend(BACKEND) as unknown as BackendWasm | undefined;
  if (backend && elementwiseAvailable(backend)) {
    install(LeakyRelu, (orig) => makeLeakyRelu(orig!));
    install(LEAKY_RELU_GRAD, () => leakyReluGrad);
    install(DROPOUT_MASK, () => dropoutMask);
    install(Sum, (orig) => makeLeadingReduction(orig!, false));
    install(Mean, (orig) => makeLeadingReduction(orig!, true));
  }
}

/** The tfjs kernel one of ours replaced (for tests that compare the two); undefined if none. */
export function replacedWasmKernel(name: string): Kernel | undefined {
  return replaced.get(name);
}
