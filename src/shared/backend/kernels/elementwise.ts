/**
 * Our WebAssembly SIMD kernels on the wasm backend (elementwise.wat), run on tfjs-backend-wasm's own
 * heap: that module imports the backend's memory, so tensors are read and written where they lie.
 * Registered by wasm-kernels.ts: LeakyRelu, its gradient in one kernel (LeakyReluGrad, used by
 * gradients.ts), Sum and Mean over leading axes, Dropout's mask (AleaDropoutMask, used by
 * models/dropout.ts); and im2col / col2im for blas-kernels.ts (`columnKernelsOf`). Each gives the
 * bits of what it replaces (elementwise.wat says why those are slow, and how the same float32
 * operations are kept); tests/wasm-kernels.test.ts and tests/models.test.ts compare them on fresh
 * random inputs. Cases they do not cover (other dtypes, other axes) go to the replaced kernel.
 */
import { util, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { ELEMENTWISE_BASE64 } from './elementwise-binary.js';
import type { Kernel, KernelArgs } from './types.js';


/** The gradient of LeakyRelu as one kernel (inputs x, dy; attribute alpha): registered for wasm only. */
export const LEAKY_RELU_GRAD = 'LeakyReluGrad';
/** Dropout's mask from alea's state (no inputs; attributes shape, s0, s1, s2, c, keep): registered for wasm only. */
export const DROPOUT_MASK = 'AleaDropoutMask';

interface ElementwiseExports {
  leakyRelu(x: number, out: number, n: number, alpha: number): void;
  leakyReluGrad(x: number, dy: number, out: number, n: number, alpha: number): void;
  sumLeading(x: number, out: number, rows: number, cols: number, divisor: number): void;
  dropoutMask(out: number, n: number, s0: number, s1: number, s2: number, c: number, keep: number): void;
  im2col(
    x: number, cols: number, n0: number, n1: number, H: number, W: number, CI: number, OH: number, OW: number,
    KH: number, KW: number, SH: number, SW: number, DH: number, DW: number, top: number, left: number,
  ): void;
  col2imAdd(
    cols: number, dx: number, n0: number, n1: number, H: number, W: number, CI: number, OH: number, OW: number,
    KH: number, KW: number, SH: number, SW: number, top: number, left: number,
  ): void;
}

let module: WebAssembly.Module | null | undefined;
const instances = new WeakMap<WebAssembly.Memory, ElementwiseExports | null>();

/**
 * The kernels, instantiated once on this backend's memory; undefined where they cannot run (no
 * WebAssembly SIMD, or a backend build whose memory is hidden or shared, as the threaded one's is).
 */
function instanceOn(be: BackendWasm): ElementwiseExports | undefined {
  const memory = (be.wasm as unknown as { asm?: { memory?: unknown } }).asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) return undefined;
  let k = instances.get(memory);
  if (k === undefined) {
    const bytes = Buffer.from(ELEMENTWISE_BASE64, 'base64');
    if (module === undefined) module = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
    try {
      k = module ? (new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as ElementwiseExports) : null;
    } catch {
      k = null; // a LinkError: a memory this module cannot import
    }
    instances.set(memory, k);
  }
  return k ?? undefined;
}

/** The kernels on `be`, for the kernel functions below: registered only where `elementwiseAvailable` said so. */
function kernelsOf(be: BackendWasm): ElementwiseExports {
  const k = instanceOn(be);
  if (!k) throw new Error('the element-wise wasm kernels cannot run on this backend');
  return k;
}

/** Whether elementwise.wat can run on this wasm backend (WebAssembly SIMD, its memory importable). */
export function elementwiseAvailable(be: BackendWasm): boolean {
  return instanceOn(be) !== undefined;
}

/** im2col and col2imAdd of elementwise.wat on this backend's heap (byte offsets), where they can run. */
export function columnKernelsOf(be: BackendWasm): Pick<ElementwiseExports, 'im2col' | 'col2imAdd'> | undefined {
  return instanceOn(be);
}

/** Byte offset of a tensor's data on the heap. */
function offsetOf(be: BackendWasm, t: TensorInfo): number {
  return (be.dataIdMap.get(t.dataId) as unknown as { memoryOffset: number }).memoryOffset;
}

export function makeLeakyRelu(replaced: Kernel): Kernel {
  return (args) => {
    const x = args.inputs.x as TensorInfo;
    const size = util.sizeFromShape(x.shape);
    if (x.dtype !== 'float32' || size === 0) return replaced(args);
    const be = args.backend as BackendWasm;
    const out = be.makeOutput(x.shape, 'float32');
    kernelsOf(be).leakyRelu(offsetOf(be, x), offsetOf(be, out), size, (args.attrs as { alpha: number }).alpha);
    return out;
  };
}

/** dx = x > 0 ? dy : dy · alpha, as tfjs' gradient computes it with Greater, Multiply and Select. */
export function leakyReluGrad(args: KernelArgs): TensorInfo {
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  if (x.dtype !== 'float32' || dy.dtype !== 'float32' || !util.arraysEqual(x.shape, dy.shape)) {
    throw new Error(`${LEAKY_RELU_GRAD}: x and dy must be float32 of one shape, got ${x.dtype} [${x.shape}] and ${dy.dtype} [${dy.shape}]`);
  }
  const be = args.backend as BackendWasm;
  const out = be.makeOutput(x.shape, 'float32');
  const size = util.sizeFromShape(x.shape);
  if (size > 0) kernelsOf(be).leakyReluGrad(offsetOf(be, x), offsetOf(be, dy), offsetOf(be, out), size, (args.attrs as { alpha: number }).alpha);
  return out;
}

/**
 * Sum (mean: divided by the count) over the leading `k` axes of a float32 tensor, k ≥ 1 and fewer
 * than all: the bias gradients and BatchNorm's moments. Anything else goes to the replaced kernel.
 */
export function makeLeadingReduction(replaced: Kernel, mean: boolean): Kernel {
  return (args) => {
    const x = args.inputs.x as TensorInfo;
    const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
    const axes = util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
    const k = axes.length;
    const leading = k >= 1 && k < x.shape.length && axes.every((a, i) => a === i);
    const rows = util.sizeFromShape(x.shape.slice(0, k));
    const cols = util.sizeFromShape(x.shape.slice(k));
    if (x.dtype !== 'float32' || !leading || rows === 0 || cols === 0) return replaced(args);
    const be = args.backend as BackendWasm;
    const outShape = keepDims ? [...x.shape.slice(0, k).map(() => 1), ...x.shape.slice(k)] : x.shape.slice(k);
    const out = be.makeOutput(outShape, 'float32');
    kernelsOf(be).sumLeading(offsetOf(be, x), offsetOf(be, out), rows, cols, mean ? rows : 1);
    return out;
  };
}

/** floor(u + keep) / keep over alea's next numbers, as models/dropout.ts builds it with tfjs' ops. */
export function dropoutMask(args: KernelArgs): TensorInfo {
  const a = args.attrs as { shape: number[]; s0: number; s1: number; s2: number; c: number; keep: number };
  const be = args.backend as BackendWasm;
  const out = be.makeOutput(a.shape, 'float32');
  const size = util.sizeFromShape(a.shape);
  if (size > 0) kernelsOf(be).dropoutMask(offsetOf(be, out), size, a.s0, a.s1, a.s2, a.c, a.keep);
  return out;
}
