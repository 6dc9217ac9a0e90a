/**
 * Adam on one flat Float32Array of parameters.
 *
 * The optimizer works on host memory, not on tensors: gradients arrive there anyway (they are
 * all-reduced as one fusion buffer), every replica then runs the same JavaScript on the same bytes
 * so replicas stay bit-identical, and the state (t, m, v) is two plain arrays, trivially saved in a
 * checkpoint or broadcast. The update follows PyTorch's formulation.
 */

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
 * read before it is written). `t` is the iteration count of this update. Returns whether every new
 * parameter is finite (a non-finite gradient makes its parameter NaN: Inf/Inf in the quotient, so
 * the check costs one add per element and no second pass), and Σ g² of the gradients read (their
 * squared norm, for the gradient-norm metric, in the same pass).
 *
 * `mi` and `vi` are the unrounded (double) values, as `m[i] = …` evaluates to: the parameter uses
 * them before their float32 rounding, as the update always has (checkpoints and the cluster's
 * sharded update depend on this one formula).
 */
function adamKernel(
  params: Float32Array, grads: Float32Array, m: Float32Array, v: Float32Array,
  out: Float32Array, mOut: Float32Array, vOut: Float32Array, t: number, a: { lr: number; beta1: number; beta2: number; epsilon: number },
): { finite: boolean; gradSq: number } {
  const { beta1: b1, beta2: b2, epsilon: eps } = a;
  const stepSize = a.lr / (1 - Math.pow(b1, t));
  const invSqrtBc2 = 1 / Math.sqrt(1 - Math.pow(b2, t));
  const c1 = 1 - b1;
  const c2 = 1 - b2;
  let bad = 0;
  let sq = 0;
  for (let i = 0; i < grads.length; i++) {
    const g = grads[i];
    sq += g * g;
    const mi = b1 * m[i] + c1 * g;
    const vi = b2 * v[i] + c2 * g * g;
    mOut[i] = mi;
    vOut[i] = vi;
    const p = Math.fround(params[i] - (stepSize * mi) / (Math.sqrt(vi) * invSqrtBc2 + eps));
    out[i] = p;
    bad += p - p;
  }
  return { finite: bad === 0, gradSq: sq };
}

export class Adam {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  t = 0;
  m: Float32Array;
  v: Float32Array;
  /**
   * The moments a `propose` computed, not yet committed (sharded use only): the step is decided by
   * every rank together after the all-gather, so the old moments must survive a skip.
   */
  private pending?: { m: Float32Array; v: Float32Array };
  /** Σ g² of the gradients the last `step` or `propose` read (the squared norm of that piece). */
  lastGradSq = 0;

  constructor(size: number, args: AdamArgs) {
    this.lr = args.lr;
    this.beta1 = args.beta1;
    this.beta2 = args.beta2;
    this.epsilon = args.epsilon ?? 1e-8;
    this.m = new Float32Array(size);
    this.v = new Float32Array(size);
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
    this.lastGradSq = adamKernel(params, grads, this.m, this.v, params, this.m, this.v, this.t, this).gradSq;
  }

  /**
   * Computes the update of step t + 1 without applying it: the new parameters go to `out`, the new
   * moments to a pending pair; `params` and the moments are left as they were. Returns whether
   * every new parameter is finite. `commit` applies the pending moments; without it, the next
   * `propose` replaces them (the step was skipped).
   *
   * `at`: the arrays are the piece [at, at + params.length) of the parameters this optimizer holds
   * moments for (a step may be proposed piece by piece, each piece once, then committed).
   */
  propose(params: Float32Array, grads: Float32Array, out: Float32Array, at = 0): boolean {
    const size = this.m.length;
    const n = params.length;
    if (grads.length !== n || out.length !== n || !Number.isInteger(at) || at < 0 || at + n > size) {
      throw new RangeError(`Adam.propose: ${n} parameters, ${grads.length} gradients and ${out.length} outputs at ${at} do not fit the ${size} this optimizer holds`);
    }
    this.pending ??= { m: new Float32Array(size), v: new Float32Array(size) };
    const piece = (x: Float32Array) => (at === 0 && n === size ? x : x.subarray(at, at + n));
    const r = adamKernel(params, grads, piece(this.m), piece(this.v), out, piece(this.pending.m), piece(this.pending.v), this.t + 1, this);
    this.lastGradSq = r.gradSq;
    return r.finite;
  }

  /** Makes the last `propose`'s moments current and counts the step (swaps buffers, copies nothing). */
  commit(): void {
    const p = this.pending;
    if (!p) throw new Error('Adam.commit without a proposal');
    [this.m, p.m] = [p.m, this.m];
    [this.v, p.v] = [p.v, this.v];
    this.t += 1;
  }

  /**
   * Keeps only the moments of elements [lo, hi) (this rank's segment of a sharded optimizer); the
   * optimizer then updates that segment alone.
   */
  keepRange(lo: number, hi: number): void {
    if (!(Number.isInteger(lo) && Number.isInteger(hi) && 0 <= lo && lo <= hi && hi <= this.m.length)) throw new RangeError(`Adam.keepRange: [${lo}, ${hi}) is not within [0, ${this.m.length})`);
    this.m = this.m.slice(lo, hi);
    this.v = this.v.slice(lo, hi);
    this.pending = undefined;
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
