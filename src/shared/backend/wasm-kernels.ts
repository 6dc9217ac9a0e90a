/**
 * Kernel registrations that make the wasm backend fast and complete for GAN training.
 * (Doc with measurements: see the end of development; filled in below.)
 */
import {
  _FusedMatMul,
  backend_util,
  BatchMatMul,
  broadcast_util,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  getKernel,
  registerKernel,
  Transpose,
  unregisterKernel,
  util,
} from '@tensorflow/tfjs-core';
import type { KernelBackend, KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

const BACKEND = 'wasm';
/** Marks kernel functions installed here, so that a second `registerWasmKernels()` call is a no-op. */
const MARK = Symbol.for('gan-cluster.wasm-kernels');

type KernelArgs = { inputs: NamedTensorInfoMap; backend: KernelBackend; attrs?: NamedAttrMap };
type Kernel = (args: KernelArgs) => TensorInfo;

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
 * Shared by BatchMatMul and _FusedMatMul: removes transposes (explicit Transpose, then a plain
 * product) and folds a batch of `a` against a single `b` into one product, so that the original
 * kernel takes its XNNPACK path. Returns undefined where the shapes are outside what we handle.
 */
function plainProduct(
  orig: Kernel,
  transpose: Kernel,
  args: KernelArgs,
  fused: boolean,
): TensorInfo | undefined {
  const { inputs, backend } = args;
  const attrs = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
  const { a, b } = inputs;
  if (a == null || b == null) return undefined;
  const tA = !!attrs.transposeA;
  const tB = !!attrs.transposeB;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return undefined;
  const aR = a.shape.length;
  const bR = b.shape.length;
  const M = tA ? a.shape[aR - 1] : a.shape[aR - 2];
  const K = tA ? a.shape[aR - 2] : a.shape[aR - 1];
  const Kb = tB ? b.shape[bR - 1] : b.shape[bR - 2];
  const N = tB ? b.shape[bR - 2] : b.shape[bR - 1];
  if (K !== Kb) return undefined; // let the original kernel report the mismatch
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = util.sizeFromShape(outerA);
  const batchB = util.sizeFromShape(outerB);
  // Only the unambiguous batch layouts: no batch, one side unbatched, or identical batch shapes.
  if (batchA !== 1 && batchB !== 1 && !sameShape(outerA, outerB)) return undefined;
  const outer = broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  const batch = util.sizeFromShape(outer);
  const outShape = [...outer, M, N];
  const be = backend as BackendWasm;
  const extra = fused ? { bias: inputs.bias, preluActivationWeights: inputs.preluActivationWeights } : {};
  if (fused && batchB !== 1) return undefined; // fused batched products: rare, leave to the original kernel
  if (fused && batch !== 1 && inputs.preluActivationWeights != null) return undefined;

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
      const ai = be.makeOutput([1, M, K], 'float32');
      const bi = be.makeOutput([1, K, N], 'float32');
      const ia = batchA === 1 ? 0 : i;
      heapF32(be, ai).set(heapF32(be, view(aT, [batchA * M * K])).subarray(ia * M * K, (ia + 1) * M * K));
      heapF32(be, bi).set(heapF32(be, view(bT, [batchB * K * N])).subarray(i * K * N, (i + 1) * K * N));
      const ri = orig({ inputs: { a: ai, b: bi }, backend, attrs: plainAttrs });
      heapF32(be, view(out, [batch * M * N])).set(heapF32(be, ri), i * M * N);
      dispose(be, ai, bi, ri);
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
    const plain = !attrs.transposeA && !attrs.transposeB;
    if (a == null || b == null) return orig(args);
    if (plain && util.sizeFromShape(a.shape.slice(0, -2)) === 1 && util.sizeFromShape(b.shape.slice(0, -2)) === 1) {
      return orig(args); // already XNNPACK
    }
    return plainProduct(orig, transpose, args, false) ?? orig(args);
  };
}

function makeFusedMatMul(orig: Kernel, transpose: Kernel): Kernel {
  return (args) => {
    const attrs = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
    const { a, b } = args.inputs;
    if (a == null || b == null) return orig(args);
    if (!attrs.transposeA && !attrs.transposeB && a.shape[0] === 1 && b.shape[0] === 1) return orig(args);
    return plainProduct(orig, transpose, args, true) ?? orig(args);
  };
}

/**
 * col[(n,oh,ow), (kh,kw,ci)] = x[n, oh*SH+kh-top, ow*SW+kw-left, ci], zero outside x. Rows are
 * filled with contiguous runs of CI values, which is several times faster in JS than writing the
 * transposed layout directly (strided stores).
 */
function im2col(
  x: Float32Array, col: Float32Array, N: number, H: number, W: number, CI: number, OH: number, OW: number,
  KH: number, KW: number, SH: number, SW: number, top: number, left: number,
): void {
  let o = 0;
  const run = KW * CI;
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * SH + kh - top;
          if (ih < 0 || ih >= H) {
            col.fill(0, o, o + run);
            o += run;
            continue;
          }
          const xRow = (n * H + ih) * W;
          for (let kw = 0; kw < KW; kw++, o += CI) {
            const iw = ow * SW + kw - left;
            if (iw < 0 || iw >= W) {
              col.fill(0, o, o + CI);
              continue;
            }
            const xi = (xRow + iw) * CI;
            for (let c = 0; c < CI; c++) col[o + c] = x[xi + c];
          }
        }
      }
    }
  }
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
 * dW[kh,kw,ci,co] = sum over (n,oh,ow) of x[n, oh*sh+kh-top, ow*sw+kw-left, ci] * dy[n,oh,ow,co],
 * computed as the plain product colT[(kh,kw,ci), (n,oh,ow)] x dy[(n,oh,ow), co].
 */
function makeConv2DBackpropFilter(matMul: Kernel, transpose: Kernel): Kernel {
  return ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const a = attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number] };
    checkConvArgs('Conv2DBackpropFilter', a, x, dy);
    const info = backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number], a.filterShape, a.strides, 1, a.pad, a.dimRoundingMode, false, 'channelsLast');
    const { batchSize: N, inHeight: H, inWidth: W, inChannels: CI, outHeight: OH, outWidth: OW, outChannels: CO } = info;
    const { filterHeight: KH, filterWidth: KW, strideHeight: SH, strideWidth: SW } = info;
    const top = info.padInfo.top;
    const left = info.padInfo.left;
    if (!sameShape(dy.shape, info.outShape)) {
      throw new Error(`wasm Conv2DBackpropFilter: dy has shape [${dy.shape}], expected [${info.outShape}]`);
    }
    const be = backend as BackendWasm;
    const P = N * OH * OW;
    const R = KH * KW * CI;
    const colInfo = be.makeOutput([P, R], 'float32');
    const col = heapF32(be, colInfo);
    const xv = heapF32(be, x);
    const T0 = performance.now();
    im2col(xv, col, N, H, W, CI, OH, OW, KH, KW, SH, SW, top, left);
    const T1 = performance.now();
    try {
      const dyT = transpose({ inputs: { x: view(dy, [P, CO]) }, backend, attrs: { perm: [1, 0] } });
      const T2 = performance.now();
      const dWT = matMul({ inputs: { a: dyT, b: colInfo }, backend, attrs: { transposeA: false, transposeB: false } });
      const T3 = performance.now();
      dispose(be, dyT);
      const dW = transpose({ inputs: { x: dWT }, backend, attrs: { perm: [1, 0] } });
      dispose(be, dWT);
      if (process.env.WK_DEBUG) console.log(`  bpf dyT ${(T2 - T1).toFixed(1)} mm ${(T3 - T2).toFixed(1)} dWT ${(performance.now() - T3).toFixed(1)}`);
      dW.shape = [KH, KW, CI, CO];
      if (process.env.WK_DEBUG) console.log(`  bpf im2col ${(T1 - T0).toFixed(1)} matmul ${(performance.now() - T1).toFixed(1)}`);
      return dW;
    } finally {
      dispose(be, colInfo);
    }
  };
}

/**
 * dx[n, oh*sh+kh-top, ow*sw+kw-left, ci] += sum over co of dy[n,oh,ow,co] * W[kh,kw,ci,co]:
 * the plain product cols[(n,oh,ow), (kh,kw,ci)] = dy x W^T, then a col2im scatter-add.
 */
function makeConv2DBackpropInput(matMul: Kernel, transpose: Kernel): Kernel {
  return ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const a = attrs as unknown as ConvAttrs & { inputShape: [number, number, number, number] };
    checkConvArgs('Conv2DBackpropInput', a, dy, filter);
    const info = backend_util.computeConv2DInfo(
      a.inputShape, filter.shape as [number, number, number, number], a.strides, 1, a.pad, a.dimRoundingMode, false, 'channelsLast');
    const { batchSize: N, inHeight: H, inWidth: W, inChannels: CI, outHeight: OH, outWidth: OW, outChannels: CO } = info;
    const { filterHeight: KH, filterWidth: KW, strideHeight: SH, strideWidth: SW } = info;
    const top = info.padInfo.top;
    const left = info.padInfo.left;
    if (!sameShape(dy.shape, info.outShape)) {
      throw new Error(`wasm Conv2DBackpropInput: dy has shape [${dy.shape}], expected [${info.outShape}]`);
    }
    const be = backend as BackendWasm;
    const P = N * OH * OW;
    const R = KH * KW * CI;
    const wT = transpose({ inputs: { x: view(filter, [R, CO]) }, backend, attrs: { perm: [1, 0] } }); // [CO, R]
    let cols: TensorInfo;
    try {
      cols = matMul({ inputs: { a: view(dy, [P, CO]), b: wT }, backend, attrs: { transposeA: false, transposeB: false } });
    } finally {
      dispose(be, wT);
    }
    try {
      const dx = be.makeOutput([N, H, W, CI], 'float32');
      const out = heapF32(be, dx);
      const cv = heapF32(be, cols);
      out.fill(0);
      const rowW = W * CI;
      for (let n = 0; n < N; n++) {
        for (let oh = 0; oh < OH; oh++) {
          for (let ow = 0; ow < OW; ow++) {
            const cBase = ((n * OH + oh) * OW + ow) * R;
            for (let kh = 0; kh < KH; kh++) {
              const ih = oh * SH + kh - top;
              if (ih < 0 || ih >= H) continue;
              const dRow = (n * H + ih) * rowW;
              for (let kw = 0; kw < KW; kw++) {
                const iw = ow * SW + kw - left;
                if (iw < 0 || iw >= W) continue;
                const d = dRow + iw * CI;
                const c0 = cBase + (kh * KW + kw) * CI;
                for (let c = 0; c < CI; c++) out[d + c] += cv[c0 + c];
              }
            }
          }
        }
      }
      return dx;
    } finally {
      dispose(be, cols);
    }
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
function install(name: string, make: (orig: Kernel | undefined) => Kernel): void {
  if (isOurs(name)) return;
  const prev: KernelConfig | undefined = getKernel(name, BACKEND);
  const kernelFunc = marked(make(prev ? (prev.kernelFunc as unknown as Kernel) : undefined));
  if (prev) unregisterKernel(name, BACKEND);
  registerKernel({ ...prev, kernelName: name, backendName: BACKEND, kernelFunc });
}

/**
 * Installs the kernels above on the wasm backend. Idempotent; call after `tf.setBackend('wasm')`
 * (the kernels it wraps must already be registered, which importing tfjs-backend-wasm does).
 */
export function registerWasmKernels(): void {
  const transpose = wasmKernel(Transpose);
  // The untouched wasm BatchMatMul (XNNPACK for plain products), kept before we replace it.
  const origMatMul = isOurs(BatchMatMul) ? undefined : wasmKernel(BatchMatMul);
  install(BatchMatMul, (orig) => makeBatchMatMul(orig!, transpose));
  install(_FusedMatMul, (orig) => makeFusedMatMul(orig!, transpose));
  // The conv kernels only issue plain, unbatched products: the original kernel is what they need.
  const plainMatMul = origMatMul ?? wasmKernel(BatchMatMul);
  install(Conv2DBackpropFilter, () => makeConv2DBackpropFilter(plainMatMul, transpose));
  install(Conv2DBackpropInput, () => makeConv2DBackpropInput(plainMatMul, transpose));
}
