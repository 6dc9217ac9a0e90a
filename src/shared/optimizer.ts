/**
 * Adam on one flat Float32Array of parameters.
 *
 * The optimizer works on host memory, not on tensors: gradients arrive there anyway (they are
 * all-reduced as one fusion buffer), every replica then runs the same code on the same bytes so
 * replicas stay bit-identical, and the state (t, m, v) is two float32 arrays, trivially saved in a
 * checkpoint or broadcast. The update follows PyTorch's formulation; it runs in WebAssembly SIMD
 * (adam-simd.wat) with the bits of the JavaScript reference kernel here.
 */
import { ADAM_SIMD_BASE64 } from './adam-simd-binary.js';

/** Adam hyper-parameters. */
export interface AdamArgs {
  /** Learning rate (default 2e-4 in this project). */
  lr: number;
  /** Decay of the first-moment estimate (default 0.5). */
  beta1: number;
  /** Decay of the second-moment estimate (default 0.999). */
  beta2: number;
  /** Added to the denominator for stability (default 1e-8, as PyTorch). */
  epsilon?: number;
}

/** Adam's state: iteration count and both moment vectors. */
export interface AdamState {
  t: number;
  m: Float32Array;
  v: Float32Array;
}

/**
 * The update of elements [0, grads.length): reads params, grads, m, v and writes the new parameters
 * to `out` and the new moments to `mOut`, `vOut` (any of them may alias its input: each element is
 * read before it is written). `t` is the iteration count of this update. Returns Σ g² of the
 * gradients read (their squared norm, for the gradient-norm metric, in the same pass). Whether to
 * update at all is decided before, on the gradients (a non-finite one skips the step).
 *
 * `mi` and `vi` are the unrounded (double) values, as `m[i] = …` evaluates to: the parameter uses
 * them before their float32 rounding, as the update always has (checkpoints and the cluster's
 * sharded update depend on this one formula).
 *
 * The reference: adam-simd.wat computes the same doubles two at a time and is what `Adam` runs
 * where WebAssembly SIMD is available (everywhere Node 20 runs); this one is the fallback and the
 * test's reference, bit for bit.
 */
function adamKernelJs(
  params: Float32Array, grads: Float32Array, m: Float32Array, v: Float32Array,
  out: Float32Array, mOut: Float32Array, vOut: Float32Array, t: number, a: { lr: number; beta1: number; beta2: number; epsilon: number },
): number {
  const { beta1: b1, beta2: b2, epsilon: eps } = a;
  const stepSize = a.lr / (1 - Math.pow(b1, t));
  const invSqrtBc2 = 1 / Math.sqrt(1 - Math.pow(b2, t));
  const c1 = 1 - b1;
  const c2 = 1 - b2;
  let sq = 0;
  for (let i = 0; i < grads.length; i++) {
    const g = grads[i];
    sq += g * g;
    const mi = b1 * m[i] + c1 * g;
    const vi = b2 * v[i] + c2 * g * g;
    mOut[i] = mi;
    vOut[i] = vi;
    out[i] = params[i] - (stepSize * mi) / (Math.sqrt(vi) * invSqrtBc2 + eps);
  }
  return sq;
}

/**
 * Whether every value is finite: the test that skips a step (a non-finite gradient anywhere).
 * x − x is 0 for a finite x and NaN for ±Infinity or NaN, so the sums stay 0 exactly when all are
 * finite; four independent sums and no branch run about twice as fast as a Number.isFinite loop
 * (1.0 against 2.0 ns per value on 1.5 M values here).
 */
export function allFinite(a: Float32Array): boolean {
  const n = a.length;
  let b0 = 0;
  let b1 = 0;
  let b2 = 0;
  let b3 = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    b0 += a[i] - a[i];
    b1 += a[i + 1] - a[i + 1];
    b2 += a[i + 2] - a[i + 2];
    b3 += a[i + 3] - a[i + 3];
  }
  let bad = b0 + b1 + b2 + b3;
  for (; i < n; i++) bad += a[i] - a[i];
  return bad === 0;
}

/** Where an optimizer's moments live, and the kernel that updates them. */
interface Moments {
  readonly m: Float32Array;
  readonly v: Float32Array;
  /**
   * The update of moments [at, at + params.length) with these parameters and gradients; the new
   * parameters go to `out` (which may be `params` or `grads`). Returns Σ g².
   */
  update(params: Float32Array, grads: Float32Array, out: Float32Array, at: number, t: number, a: AdamHyper): number;
}

type AdamHyper = { lr: number; beta1: number; beta2: number; epsilon: number };

/** Moments in ordinary arrays, updated by the JavaScript kernel. */
class JsMoments implements Moments {
  readonly m: Float32Array;
  readonly v: Float32Array;
  constructor(size: number) {
    this.m = new Float32Array(size);
    this.v = new Float32Array(size);
  }
  update(params: Float32Array, grads: Float32Array, out: Float32Array, at: number, t: number, a: AdamHyper): number {
    const whole = at === 0 && params.length === this.m.length;
    const m = whole ? this.m : this.m.subarray(at, at + params.length);
    const v = whole ? this.v : this.v.subarray(at, at + params.length);
    return adamKernelJs(params, grads, m, v, out, m, v, t, a);
  }
}

/** Floats of parameters and of gradients copied into the wasm memory per kernel call: 2 × 32 KB, cache-resident. */
const SIMD_CHUNK = 8192;
type AdamSimdExport = (
  p: number, g: number, m: number, v: number, n: number,
  b1: number, b2: number, c1: number, c2: number, stepSize: number, invSqrtBc2: number, eps: number, sq: number,
) => number;

let simdModule: WebAssembly.Module | null | undefined;
/** adam-simd.wat's module, compiled once; null where this runtime lacks WebAssembly SIMD. */
function adamSimdModule(): WebAssembly.Module | null {
  if (simdModule === undefined) {
    const bytes = Buffer.from(ADAM_SIMD_BASE64, 'base64');
    simdModule = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  }
  return simdModule;
}

/**
 * Moments in a wasm memory of their own (sized once, never grown, so the views stay valid), updated
 * by adam-simd.wat: per chunk, the parameters and gradients are copied in, the kernel updates the
 * moments in place and the chunk's new parameters are copied out. Memory layout: [chunk of
 * parameters | chunk of gradients | m | v].
 */
class SimdMoments implements Moments {
  readonly m: Float32Array;
  readonly v: Float32Array;
  private readonly p: Float32Array;
  private readonly g: Float32Array;
  private readonly kernel: AdamSimdExport;
  constructor(size: number, module: WebAssembly.Module) {
    const bytes = 4 * (2 * SIMD_CHUNK + 2 * size);
    const memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(bytes / 65536)) });
    this.kernel = new WebAssembly.Instance(module, { env: { memory } }).exports.adam as AdamSimdExport;
    this.p = new Float32Array(memory.buffer, 0, SIMD_CHUNK);
    this.g = new Float32Array(memory.buffer, 4 * SIMD_CHUNK, SIMD_CHUNK);
    this.m = new Float32Array(memory.buffer, 8 * SIMD_CHUNK, size);
    this.v = new Float32Array(memory.buffer, 8 * SIMD_CHUNK + 4 * size, size);
  }
  update(params: Float32Array, grads: Float32Array, out: Float32Array, at: number, t: number, a: AdamHyper): number {
    const { beta1: b1, beta2: b2, epsilon: eps } = a;
    // The same constants, computed the same way, as adamKernelJs.
    const stepSize = a.lr / (1 - Math.pow(b1, t));
    const invSqrtBc2 = 1 / Math.sqrt(1 - Math.pow(b2, t));
    const [mAt, vAt] = [this.m.byteOffset + 4 * at, this.v.byteOffset + 4 * at];
    let sq = 0;
    for (let s = 0; s < params.length; s += SIMD_CHUNK) {
      const e = Math.min(params.length, s + SIMD_CHUNK);
      // Both read before anything is written: `out` may be either input.
      this.p.set(params.subarray(s, e));
      this.g.set(grads.subarray(s, e));
      sq = this.kernel(this.p.byteOffset, this.g.byteOffset, mAt + 4 * s, vAt + 4 * s, e - s, b1, b2, 1 - b1, 1 - b2, stepSize, invSqrtBc2, eps, sq);
      out.set(e - s === SIMD_CHUNK ? this.p : this.p.subarray(0, e - s), s);
    }
    return sq;
  }
}

/** Which kernel updates an optimizer's moments: 'simd' where the runtime has WebAssembly SIMD (the default), 'js' to force the reference. */
export type AdamKernel = 'simd' | 'js';

function newMoments(size: number, kernel: AdamKernel | undefined): Moments {
  const module = kernel === 'js' ? null : adamSimdModule();
  if (kernel === 'simd' && !module) throw new Error('this runtime has no WebAssembly SIMD');
  return module ? new SimdMoments(size, module) : new JsMoments(size);
}

export class Adam {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  t = 0;
  private moments: Moments;
  /** Σ g² of the gradients the last `step` or `stepPiece` read (the squared norm of that piece). */
  lastGradSq = 0;

  constructor(size: number, args: AdamArgs, kernel?: AdamKernel) {
    this.lr = args.lr;
    this.beta1 = args.beta1;
    this.beta2 = args.beta2;
    this.epsilon = args.epsilon ?? 1e-8;
    this.moments = newMoments(size, kernel);
  }

  /** First moments (a view: read it, or `set` it; it stays this optimizer's). */
  get m(): Float32Array {
    return this.moments.m;
  }

  /** Second moments (as `m`). */
  get v(): Float32Array {
    return this.moments.v;
  }

  /** The kernel this optimizer runs. */
  get kernel(): AdamKernel {
    return this.moments instanceof SimdMoments ? 'simd' : 'js';
  }

  /** Number of parameters whose moments this optimizer holds. */
  get size(): number {
    return this.m.length;
  }

  /** Applies one update to `params` in place with the (already averaged) `grads`. */
  step(params: Float32Array, grads: Float32Array): void {
    if (params.length !== this.m.length || grads.length !== this.m.length) {
      throw new RangeError(`Adam.step: expected ${this.m.length} parameters and gradients, got ${params.length} and ${grads.length}`);
    }
    this.t += 1;
    this.lastGradSq = this.moments.update(params, grads, params, 0, this.t, this);
  }

  /**
   * The update of step t + 1 on one piece: the new parameters go to `out` (which may be `grads`:
   * each element is read before it is written), the piece's moments are updated in place. The
   * arrays are the piece [at, at + params.length) of the parameters this optimizer holds moments
   * for. A step may run piece by piece, each piece once, then `endStep` counts it. No copy of the
   * old moments is kept: a step to be skipped must be known before (the sharded step agrees on it
   * across ranks first), which is what lets a sharded optimizer hold 2/N of the moments, not 4/N.
   */
  stepPiece(params: Float32Array, grads: Float32Array, out: Float32Array, at = 0): void {
    const size = this.m.length;
    const n = params.length;
    if (grads.length !== n || out.length !== n || !Number.isInteger(at) || at < 0 || at + n > size) {
      throw new RangeError(`Adam.stepPiece: ${n} parameters, ${grads.length} gradients and ${out.length} outputs at ${at} do not fit the ${size} this optimizer holds`);
    }
    this.lastGradSq = this.moments.update(params, grads, out, at, this.t + 1, this);
  }

  /** Counts the step whose pieces `stepPiece` updated. */
  endStep(): void {
    this.t += 1;
  }

  /** Bytes of optimizer state this instance holds (both moment vectors). */
  get stateBytes(): number {
    return this.m.byteLength + this.v.byteLength;
  }

  /**
   * Keeps only the moments of elements [lo, hi) (this rank's segment of a sharded optimizer); the
   * optimizer then updates that segment alone.
   */
  keepRange(lo: number, hi: number): void {
    if (!(Number.isInteger(lo) && Number.isInteger(hi) && 0 <= lo && lo <= hi && hi <= this.m.length)) throw new RangeError(`Adam.keepRange: [${lo}, ${hi}) is not within [0, ${this.m.length})`);
    const kept = newMoments(hi - lo, this.kernel);
    kept.m.set(this.m.subarray(lo, hi));
    kept.v.set(this.v.subarray(lo, hi));
    this.moments = kept;
  }

  exportState(): AdamState {
    return { t: this.t, m: this.m.slice(), v: this.v.slice() };
  }

  importState(state: AdamState): void {
    if (state.m.length !== this.m.length || state.v.length !== this.v.length) {
      throw new RangeError(`Adam state has ${state.m.length} moments, this optimizer has ${this.m.length}`);
    }
    if (!Number.isInteger(state.t) || state.t < 0) throw new RangeError(`Adam state has a bad iteration count ${state.t}`);
    this.t = state.t;
    this.m.set(state.m);
    this.v.set(state.v);
  }
}
