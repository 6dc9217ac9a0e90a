/**
 * One replica of the GAN: both networks, their flat parameter copies and Adam states, and the step.
 *
 * The same class runs in `npm run train` (one replica, nothing to reduce) and in every worker of a
 * cluster (the reducer all-reduces the fusion buffer with the peers). The replica knows nothing of
 * sockets: averaging gradients is the `GradientReducer`'s job.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusionLayout, readVariables, writeVariables, type FusionLayout } from './allreduce/fusion.js';
import { buildGan, type Gan, type ModelName } from './models/index.js';
import { Adam, type AdamArgs, type AdamState } from './optimizer.js';
import { Rng, streamSeed } from './rng.js';
import { discriminatorGradients, generatorGradients, trainableVariables } from './step.js';

/** Averages a fusion buffer across replicas in place; identity for a single replica. */
export type GradientReducer = (buffer: Float32Array, network: 'D' | 'G') => Promise<void> | void;

/** Everything needed to build a replica. */
export interface ReplicaArgs {
  model: ModelName;
  latent: number;
  seed: number;
  adam: AdamArgs;
}

/** Where a step sits in the run; picks the step's noise and dropout streams. */
export interface StepPosition {
  epoch: number;
  step: number;
  /** This replica's rank (0 for single-process training). */
  rank: number;
}

/** What one step measured. Times in milliseconds. */
export interface StepStats {
  lossD: number;
  lossG: number;
  dReal: number;
  dFake: number;
  dFakeForG: number;
  /** True when a loss or gradient was not finite and the update was skipped. */
  skipped: boolean;
  timings: { discriminator: number; generator: number; reduce: number; optimizer: number; total: number };
}

/** One network's training state. */
interface NetworkState {
  vars: tf.Variable[];
  layout: FusionLayout;
  params: Float32Array;
  adam: Adam;
}

function allFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

export class Replica {
  readonly gan: Gan;
  readonly args: ReplicaArgs;
  private readonly d: NetworkState;
  private readonly g: NetworkState;

  constructor(args: ReplicaArgs) {
    this.args = args;
    this.gan = buildGan(args.model, { latent: args.latent, seed: args.seed });
    this.d = this.networkState(this.gan.discriminator);
    this.g = this.networkState(this.gan.generator);
  }

  private networkState(model: Gan['generator']): NetworkState {
    const vars = trainableVariables(model);
    const layout = fusionLayout(vars);
    return { vars, layout, params: readVariables(vars, layout), adam: new Adam(layout.length, this.args.adam) };
  }

  /** Number of floats in each network's fusion buffer. */
  get sizes(): { D: number; G: number } {
    return { D: this.d.layout.length, G: this.g.layout.length };
  }

  /** The step's latent noise, from the stream (seed, 'z', epoch, step, rank). */
  noise(pos: StepPosition, batch: number): Float32Array {
    return Rng.stream(this.args.seed, 'z', pos.epoch, pos.step, pos.rank).fillNormal(new Float32Array(batch * this.args.latent));
  }

  /**
   * One D step then one G step on `real` (batch × image floats in [-1, 1]).
   * `reduce` averages each fusion buffer across replicas before the optimizer sees it.
   */
  async trainStep(real: Float32Array, batch: number, pos: StepPosition, reduce?: GradientReducer): Promise<StepStats> {
    const t0 = performance.now();
    const { seed } = this.args;
    const dropout = (phase: number) => (layer: number) => streamSeed(seed, 'dropout', pos.epoch, pos.step, pos.rank, phase, layer);
    const realT = tf.tensor(real, [batch, ...this.gan.imageShape], 'float32');
    const zT = tf.tensor(this.noise(pos, batch), [batch, this.args.latent], 'float32');
    let reduceMs = 0;
    let optMs = 0;
    let skipped = false;
    try {
      const dg = discriminatorGradients(this.gan, this.d.layout, realT, zT, dropout(0));
      const t1 = performance.now();
      if (reduce) {
        await reduce(dg.grads, 'D');
      }
      const t2 = performance.now();
      reduceMs += t2 - t1;
      // Every replica sees the same averaged buffer, so every replica skips alike.
      const dOk = Number.isFinite(dg.lossD) && allFinite(dg.grads);
      if (dOk) this.apply(this.d, dg.grads);
      else skipped = true;
      const t3 = performance.now();
      optMs += t3 - t2;

      const gg = generatorGradients(this.gan, this.g.layout, zT, dropout(1));
      const t4 = performance.now();
      if (reduce) await reduce(gg.grads, 'G');
      const t5 = performance.now();
      reduceMs += t5 - t4;
      const gOk = Number.isFinite(gg.lossG) && allFinite(gg.grads);
      if (gOk) this.apply(this.g, gg.grads);
      else skipped = true;
      const t6 = performance.now();
      optMs += t6 - t5;
      return {
        lossD: dg.lossD,
        lossG: gg.lossG,
        dReal: dg.dReal,
        dFake: dg.dFake,
        dFakeForG: gg.dFakeForG,
        skipped,
        timings: { discriminator: t1 - t0, generator: t4 - t3, reduce: reduceMs, optimizer: optMs, total: t6 - t0 },
      };
    } finally {
      realT.dispose();
      zT.dispose();
    }
  }

  private apply(net: NetworkState, grads: Float32Array): void {
    net.adam.step(net.params, grads);
    writeVariables(net.vars, net.layout, net.params);
  }

  /** Generates images (n × image floats in [-1, 1]) from the given noise, in inference mode. */
  generate(z: Float32Array, n: number): Float32Array {
    return tf.tidy(() => {
      const out = this.gan.generator.apply(tf.tensor(z, [n, this.args.latent], 'float32'), { training: false }) as tf.Tensor;
      return out.dataSync() as Float32Array;
    }).slice();
  }

  /** Both Adam states, for checkpoints. */
  optimizerStates(): { D: AdamState; G: AdamState } {
    return { D: this.d.adam.exportState(), G: this.g.adam.exportState() };
  }

  /** Restores both Adam states (from a checkpoint or a broadcast). */
  loadOptimizerStates(states: { D: AdamState; G: AdamState }): void {
    this.d.adam.importState(states.D);
    this.g.adam.importState(states.G);
  }

  /**
   * Re-reads the flat parameter copies from the models' variables; call after weights were
   * loaded into the models from outside (checkpoint restore, broadcast).
   */
  syncParamsFromModels(): void {
    this.d.params = readVariables(this.d.vars, this.d.layout);
    this.g.params = readVariables(this.g.vars, this.g.layout);
  }
}
