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

export class Adam {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  t = 0;
  m: Float32Array;
  v: Float32Array;

  constructor(size: number, args: AdamArgs) {
    this.lr = args.lr;
    this.beta1 = args.beta1;
    this.beta2 = args.beta2;
    this.epsilon = args.epsilon ?? 1e-8;
    this.m = new Float32Array(size);
    this.v = new Float32Array(size);
  }

  /** Applies one update to `params` in place with the (already averaged) `grads`. */
  step(params: Float32Array, grads: Float32Array): void {
    if (params.length !== this.m.length || grads.length !== this.m.length) {
      throw new RangeError(`Adam.step: expected ${this.m.length} parameters and gradients, got ${params.length} and ${grads.length}`);
    }
    this.t += 1;
    const { beta1: b1, beta2: b2, epsilon: eps, m, v } = this;
    const stepSize = this.lr / (1 - Math.pow(b1, this.t));
    const invSqrtBc2 = 1 / Math.sqrt(1 - Math.pow(b2, this.t));
    const c1 = 1 - b1;
    const c2 = 1 - b2;
    for (let i = 0; i < params.length; i++) {
      const g = grads[i];
      const mi = (m[i] = b1 * m[i] + c1 * g);
      const vi = (v[i] = b2 * v[i] + c2 * g * g);
      params[i] -= (stepSize * mi) / (Math.sqrt(vi) * invSqrtBc2 + eps);
    }
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
