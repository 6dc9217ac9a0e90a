/**
 * One replica of the GAN: both networks, their flat parameter copies and Adam states, and the step.
 *
 * The same class runs in `npm run train` (one replica, nothing to reduce) and in every worker of a
 * cluster. The replica knows nothing of sockets: averaging gradients is the reducer's job. Two kinds:
 *   GradientReducer  all-reduces the fusion buffer; every replica then runs Adam on all of it.
 *   ShardedReducer   (the cluster's, ZeRO stage 1) reduce-scatters it; each rank runs Adam on the
 *                    segment it owns only, holding Adam's moments for that segment only, and the
 *                    all-gather carries the updated parameters (float32, bits copied), so replicas
 *                    stay bit-identical and each parameter is computed once.
 * Sharded, the step is skipped on every rank alike: each owner checks its averaged segment (and its
 * local loss), the ranks agree on the verdict (one byte around the ring) before anyone updates, so
 * the owners update their moments in place and hold no copy for a skip (2/N of Adam's state per rank).
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import type { ShardedReducer } from './allreduce/ring.js';
import { flattenTensorsInto, fusionLayout, readVariables, readVariablesAsync, writeVariables, type FusionLayout } from './allreduce/fusion.js';
import { buildGan, type Gan, type ModelName } from './models/index.js';
import type { BatchNormScheme, InitScheme } from './models/types.js';
import type { TrainConfig } from './config.js';
import { joinLatent, oneHotLabels } from './models/labels.js';
import { Adam, allFinite, type AdamArgs, type AdamState } from './optimizer.js';
import { Rng, streamSeed } from './rng.js';
import { discriminatorGradients, disposeGeneratorForward, generatorGradients, recordGeneratorForward, trainableVariables, type DiscriminatorGradients, type GeneratorForward, type GeneratorGradients } from './step.js';

/** Averages a fusion buffer across replicas in place; identity for a single replica. */
export type GradientReducer = (buffer: Float32Array, network: 'D' | 'G') => Promise<void> | void;

export type { ShardedReducer } from './allreduce/ring.js';

/** What a step may be given to combine the replicas' gradients. */
export type Reducer = GradientReducer | ShardedReducer;

function isSharded(r: Reducer): r is ShardedReducer {
  return typeof r !== 'function' && r.kind === 'sharded';
}

/** Everything needed to build a replica. */
export interface ReplicaArgs {
  model: ModelName;
  latent: number;
  seed: number;
  /** `--init`, `--batchnorm` (the model builders' defaults when absent). */
  init?: InitScheme;
  batchNorm?: BatchNormScheme;
  adam: AdamArgs;
}

/** A run's replica arguments, from its training config: `npm run train` and every worker build the same. */
export function replicaArgsOf(config: TrainConfig): ReplicaArgs {
  return { model: config.model, latent: config.latent, seed: config.seed, init: config.init, batchNorm: config.batchNorm, adam: { lr: config.lr, beta1: config.beta1, beta2: config.beta2 } };
}

/** Where a step sits in the run; picks the step's noise and dropout streams. */
export interface StepPosition {
  epoch: number;
  step: number;
  /** This replica's rank (0 for single-process training). */
  rank: number;
  /** Number of replicas (1 for single-process training). */
  world: number;
}

/** A step's losses and discriminator outputs (means over this replica's batch). */
export interface StepLosses {
  lossD: number;
  lossG: number;
  /** Mean D(x) over the real images. */
  dReal: number;
  /** Mean D(G(z)) in the D step. */
  dFake: number;
  /** Mean D(G(z)) in the G step, after the D update. */
  dFakeForG: number;
  /** True when a loss or gradient was not finite and the update was skipped. */
  skipped: boolean;
}

/** What one step measured. Times in milliseconds. */
export interface StepStats extends StepLosses {
  /**
   * discriminator / generator: forward and backward passes of each half (gradient flatten excluded);
   * flatten: gathering both halves' gradients into fusion buffers; reduce: all-reduce; optimizer:
   * Adam and writing the weights back; total: all of them.
   */
  timings: { discriminator: number; generator: number; flatten: number; reduce: number; optimizer: number; total: number };
  /**
   * This replica's share of the squared norm of each network's averaged gradient (NaN when the
   * step was skipped unsharded): its owned segment's Σ g² when the optimizer is sharded, Σ g² / world
   * when every replica holds the whole; the shares of all replicas add up to the squared norm.
   */
  gradSqD: number;
  gradSqG: number;
}

/**
 * One half-step's outcome: the gradients' result plus whether it was applied, and its timings (ms):
 * computeMs is forward + backward (the result's flattenMs apart).
 */
export type HalfStep<T> = T & { skipped: boolean; computeMs: number; reduceMs: number; optimizerMs: number; gradSq: number };

/** One network's training state. */
interface NetworkState {
  vars: tf.Variable[];
  layout: FusionLayout;
  params: Float32Array;
  /** Moments of all parameters, or (sharded) of [shard.lo, shard.hi) only. */
  adam: Adam;
  /**
   * Set once the optimizer is sharded: the reduced buffer's length (G's carries its BatchNorm
   * statistics after the gradients), its segments' bounds, and this rank's parameters [lo, hi).
   */
  shard?: { bufferLength: number; bounds: number[]; lo: number; hi: number };
  /**
   * The buffer the next half-step flattens its gradients into (takeBuffer), reused from step to
   * step: after an unsharded step, the gradient buffer itself (Adam has read it); after a sharded
   * one, the buffer that held the parameters before (the gathered buffer holds them now). Reusing a
   * buffer the ring sent from is safe: it is written again two collectives of this replica later,
   * and every collective completes only after every rank has received the one before it.
   */
  spare?: Float32Array;
  /** The whole buffer `params` is a view of, when a sharded step made it (G's has its statistics after the parameters). */
  paramsBuffer?: Float32Array;
}

export class Replica {
  readonly gan: Gan;
  readonly args: ReplicaArgs;
  private readonly d: NetworkState;
  private readonly g: NetworkState;
  /** G's non-trainable weights (BatchNorm moving statistics). */
  private readonly gStats: { vars: tf.Variable[]; layout: FusionLayout };
  /**
   * A CPU copy of G's statistics, kept current wherever they change (G steps, restores), so that
   * exportState and weightsHash stay synchronous: the webgpu backend cannot read a GPU tensor
   * synchronously in Node. (Parameters already live on the CPU in `params`.)
   */
  private statsCopy: Float32Array;

  /**
   * Builds the GAN and reads its initial weights synchronously, which only backends with a
   * synchronous read can do (cpu, wasm, tfjs-node): webgpu in Node cannot (see `create`).
   */
  constructor(args: ReplicaArgs, deferRead = false) {
    this.args = args;
    this.gan = buildGan(args.model, { latent: args.latent, seed: args.seed, init: args.init, batchNorm: args.batchNorm });
    this.d = this.networkState(this.gan.discriminator, deferRead);
    this.g = this.networkState(this.gan.generator, deferRead);
    const statVars = this.gan.generator.nonTrainableWeights.map((w) => w.read() as tf.Variable);
    this.gStats = { vars: statVars, layout: fusionLayout(statVars) };
    this.statsCopy = deferRead ? new Float32Array(this.gStats.layout.length) : readVariables(this.gStats.vars, this.gStats.layout);
  }

  /** A replica on any backend: the initial weights are read asynchronously (the webgpu backend's only way). */
  static async create(args: ReplicaArgs): Promise<Replica> {
    const r = new Replica(args, true);
    r.d.params = await readVariablesAsync(r.d.vars, r.d.layout);
    r.g.params = await readVariablesAsync(r.g.vars, r.g.layout);
    r.statsCopy = await readVariablesAsync(r.gStats.vars, r.gStats.layout);
    return r;
  }

  private networkState(model: Gan['generator'], deferRead: boolean): NetworkState {
    const vars = trainableVariables(model);
    const layout = fusionLayout(vars);
    return { vars, layout, params: deferRead ? new Float32Array(layout.length) : readVariables(vars, layout), adam: new Adam(layout.length, this.args.adam) };
  }

  /** Adam's ε (the same for both networks). */
  get adamEpsilon(): number {
    return this.d.adam.epsilon;
  }

  /** Bytes of Adam state this replica holds (both networks' moments; 1/N of them when sharded over N ranks). */
  get optimizerBytes(): number {
    return this.d.adam.stateBytes + this.g.adam.stateBytes;
  }

  /** Number of floats in each network's fusion buffer. */
  get sizes(): { D: number; G: number } {
    return { D: this.d.layout.length, G: this.g.layout.length };
  }

  /**
   * This replica's rows of the step's latent noise. The noise of the whole global batch comes from
   * the stream (seed, 'z', epoch, step) and each replica takes its slice, so image i of a step gets
   * the same z whatever the number of workers.
   */
  noise(pos: StepPosition, batch: number): Float32Array {
    const all = Rng.stream(this.args.seed, 'z', pos.epoch, pos.step).fillNormal(new Float32Array(batch * pos.world * this.args.latent));
    return all.subarray(pos.rank * batch * this.args.latent, (pos.rank + 1) * batch * this.args.latent);
  }

  /** Per-step dropout seeds: stream (seed, 'dropout', epoch, step, rank, phase, layer). */
  private dropoutSeeds(pos: StepPosition, phase: 0 | 1): (layer: number) => number {
    return (layer) => streamSeed(this.args.seed, 'dropout', pos.epoch, pos.step, pos.rank, phase, layer);
  }

  /**
   * The discriminator's half of a step: gradients on `real` (batch × image floats in [-1, 1]) and
   * on G(z), averaged by `reduce`, then Adam. Changes D's weights only. `labels` (the real images'
   * digits) are required by a conditional model and ignored by an unconditional one.
   */
  async discriminatorStep(real: Float32Array, batch: number, pos: StepPosition, reduce?: Reducer, labels?: Uint8Array): Promise<HalfStep<DiscriminatorGradients>> {
    const { half, forward } = await this.discriminatorHalf(real, batch, pos, reduce, labels);
    disposeGeneratorForward(forward);
    return half;
  }

  /** D's half, returning G's forward pass it recorded for G's half of the same step (the caller frees it). */
  private async discriminatorHalf(real: Float32Array, batch: number, pos: StepPosition, reduce?: Reducer, labels?: Uint8Array): Promise<{ half: HalfStep<DiscriminatorGradients>; forward: GeneratorForward }> {
    const t0 = performance.now();
    const [realT, zT, onehot] = [tf.tensor(real, [batch, ...this.gan.imageShape], 'float32'), this.noiseTensor(pos, batch), this.labelTensor(labels, batch)];
    let forward: GeneratorForward | undefined;
    try {
      forward = recordGeneratorForward(this.gan, zT, onehot);
      const out = await discriminatorGradients(this.gan, this.d.layout, realT, forward.fake, this.dropoutSeeds(pos, 0), onehot, this.takeBuffer(this.d, this.d.layout.length));
      return { half: await this.finish(this.d, out, out.lossD, t0, 'D', pos.world, reduce), forward };
    } catch (err) {
      if (forward) disposeGeneratorForward(forward);
      throw err;
    } finally {
      tf.dispose([realT, zT, ...(onehot ? [onehot] : [])]);
    }
  }

  /**
   * The generator's half of a step, through the current D. Changes G's weights and BatchNorm
   * statistics only. With several replicas the statistics each replica's forward pass updated ride
   * along in G's fusion buffer and come back averaged, so replicas keep identical statistics.
   * `forward` (trainStep's) is G's forward pass its D half recorded for the same noise and digits;
   * it is consumed. Without it G's forward pass runs here.
   */
  async generatorStep(batch: number, pos: StepPosition, reduce?: Reducer, labels?: Uint8Array, forward?: GeneratorForward): Promise<HalfStep<GeneratorGradients>> {
    const t0 = performance.now();
    const [zT, onehot] = [this.noiseTensor(pos, batch), this.labelTensor(labels, batch)];
    const gradLen = this.g.layout.length;
    // With a reducer, G's BatchNorm statistics ride in the same buffer, after the gradients.
    const fusedStats = reduce !== undefined && this.gStats.layout.length > 0;
    const buf = this.takeBuffer(this.g, gradLen + (fusedStats ? this.gStats.layout.length : 0));
    let out: GeneratorGradients;
    try {
      out = await generatorGradients(this.gan, this.g.layout, zT, this.dropoutSeeds(pos, 1), onehot, forward, buf);
    } finally {
      tf.dispose([zT, ...(onehot ? [onehot] : [])]);
    }
    if (!fusedStats) {
      if (this.gStats.layout.length > 0) await flattenTensorsInto(this.gStats.vars, this.gStats.layout, this.statsCopy);
      return this.finish(this.g, out, out.lossG, t0, 'G', pos.world, reduce);
    }
    await flattenTensorsInto(this.gStats.vars, this.gStats.layout, buf.subarray(gradLen));
    const half = await this.finish(this.g, out, out.lossG, t0, 'G', pos.world, reduce, gradLen);
    this.statsCopy.set(buf.subarray(gradLen));
    writeVariables(this.gStats.vars, this.gStats.layout, this.statsCopy);
    return { ...half, grads: buf.subarray(0, gradLen) };
  }

  /**
   * Reduces `out.grads` (its first `gradLen` floats are gradients), checks them, applies Adam.
   * Sharded, `out.grads` holds the gathered parameters afterwards (and G's averaged statistics).
   */
  private async finish<T extends { grads: Float32Array; flattenMs: number }>(
    net: NetworkState, out: T, loss: number, t0: number, which: 'D' | 'G', world: number, reduce?: Reducer, gradLen = out.grads.length,
  ): Promise<HalfStep<T>> {
    if (reduce && isSharded(reduce)) return this.finishSharded(net, out, loss, t0, reduce, gradLen);
    if (net.shard) throw new Error('this replica\'s optimizer state is sharded: its steps need the sharded reducer');
    const t1 = performance.now();
    if (reduce) await reduce(out.grads, which);
    const t2 = performance.now();
    const grads = gradLen === out.grads.length ? out.grads : out.grads.subarray(0, gradLen);
    // After the reduction every replica holds the same buffer, so every replica skips alike.
    const ok = Number.isFinite(loss) && allFinite(grads);
    if (ok) this.apply(net, grads);
    net.spare = out.grads; // read by Adam: the next half-step of this network may flatten into it
    const t3 = performance.now();
    // Every replica holds the whole averaged gradient: each reports 1/world of its squared norm.
    const gradSq = ok ? net.adam.lastGradSq / (reduce ? world : 1) : NaN;
    return { ...out, skipped: !ok, computeMs: t1 - t0 - out.flattenMs, reduceMs: t2 - t1, optimizerMs: t3 - t2, gradSq };
  }

  /**
   * The sharded half-step: reduce-scatter, the owned segment's gradients checked, the verdict agreed
   * by every rank, then (when every rank's passed) Adam on the owned segment in place and the
   * all-gather of the parameters; otherwise every rank skips alike, nothing updated.
   */
  private async finishSharded<T extends { grads: Float32Array; flattenMs: number }>(
    net: NetworkState, out: T, loss: number, t0: number, reduce: ShardedReducer, gradLen: number,
  ): Promise<HalfStep<T>> {
    const buf = out.grads;
    this.shardOptimizer(reduce);
    const shard = net.shard!;
    if (buf.length !== shard.bufferLength) throw new RangeError(`sharded step: a buffer of ${buf.length} floats, the shard was cut for ${shard.bufferLength}`);
    this.gathered = undefined;
    const t1 = performance.now();
    let updateMs = 0;
    let gradSq = 0;
    const lossFinite = Number.isFinite(loss);
    // Pieces of the owned segment, each as soon as it is reduced (check) or agreed (update); the
    // pieces past the parameters hold BatchNorm statistics, which are averaged, not checked or updated.
    const ok = await reduce.reduceUpdateGather(buf, {
      check: (lo, hi) => {
        const u0 = performance.now();
        const top = Math.min(hi, shard.hi);
        const finite = lossFinite && (top <= lo || allFinite(buf.subarray(lo, top)));
        updateMs += performance.now() - u0;
        return finite;
      },
      update: (lo, hi) => {
        const u0 = performance.now();
        const top = Math.min(hi, shard.hi);
        if (top > lo) {
          const piece = buf.subarray(lo, top);
          // The new parameters overwrite the averaged gradients in place (each is read before written).
          net.adam.stepPiece(net.params.subarray(lo, top), piece, piece, lo - shard.lo);
          gradSq += net.adam.lastGradSq;
        }
        updateMs += performance.now() - u0;
      },
    });
    const t2 = performance.now();
    if (ok) {
      net.adam.endStep();
      // The gathered buffer becomes the parameters (no copy); the one they were in is the next to flatten into.
      net.params = gradLen === buf.length ? buf : buf.subarray(0, gradLen);
      net.spare = net.paramsBuffer;
      net.paramsBuffer = buf;
      writeVariables(net.vars, net.layout, net.params);
    } else {
      net.spare = buf;
    }
    const t3 = performance.now();
    return { ...out, skipped: !ok, computeMs: t1 - t0 - out.flattenMs, reduceMs: t2 - t1 - updateMs, optimizerMs: updateMs + (t3 - t2), gradSq: ok ? gradSq : NaN };
  }

  /** A buffer of `length` floats for a half-step of `net` to flatten into: its spare one when that fits, else new. */
  private takeBuffer(net: NetworkState, length: number): Float32Array {
    const spare = net.spare;
    net.spare = undefined;
    return spare !== undefined && spare.length === length ? spare : new Float32Array(length);
  }

  /**
   * Cuts both networks' Adam states down to this rank's segments (ZeRO stage 1); a no-op when
   * already sharded for this reducer. Every rank must call it alike (the steps call it).
   * Throws when a segment would hold no gradient (more ranks than the buffer allows).
   */
  shardOptimizer(reduce: ShardedReducer): void {
    for (const [net, length] of [[this.d, this.d.layout.length], [this.g, this.g.layout.length + this.gStats.layout.length]] as const) {
      const gradLen = net.layout.length;
      const bounds = reduce.segmentBounds(length);
      if (net.shard) {
        if (net.shard.bounds.join() !== bounds.join()) throw new Error('the optimizer state is sharded for another ring (world changed): restore it first');
        continue;
      }
      // Each segment must hold a parameter (a rank with only statistics to own has nothing to update).
      for (let k = 0; k + 1 < bounds.length; k++) {
        if (!(bounds[k] < bounds[k + 1] && bounds[k] < gradLen)) throw new RangeError(`cannot shard ${gradLen} parameters over ${bounds.length - 1} ranks: segment ${k} holds no parameter`);
      }
      const [lo, end] = reduce.ownedRange(length);
      const hi = Math.min(end, gradLen);
      net.adam.keepRange(lo, hi);
      net.shard = { bufferLength: length, bounds, lo, hi };
    }
  }

  /** Whether the Adam moments are sharded (each rank holds its segments only). */
  get sharded(): boolean {
    return this.d.shard !== undefined;
  }

  /** The gathered full Adam states, valid until the next step (sharded replicas; see gatherOptimizerStates). */
  private gathered?: { D: AdamState; G: AdamState };

  /**
   * Gathers every rank's segment of both Adam states into whole states (a collective: every rank
   * calls it, at the same point; it shards a replica not yet sharded). Afterwards, until the next
   * step, `optimizerStates` and `exportState` return the whole states; checkpoints are written
   * from them. It is an all-gather (every rank gets them) because that is the ring's collective;
   * only rank 0 uses them.
   */
  async gatherOptimizerStates(reduce: ShardedReducer): Promise<{ D: AdamState; G: AdamState }> {
    this.shardOptimizer(reduce);
    const whole = async (net: NetworkState): Promise<AdamState> => {
      const { bufferLength, lo } = net.shard!;
      const gradLen = net.layout.length;
      const part = async (mine: Float32Array) => {
        const buf = new Float32Array(bufferLength);
        buf.set(mine, lo);
        await reduce.allGather(buf);
        return buf.subarray(0, gradLen);
      };
      return { t: net.adam.t, m: await part(net.adam.m), v: await part(net.adam.v) };
    };
    this.gathered = { D: await whole(this.d), G: await whole(this.g) };
    return this.gathered;
  }

  /** Lets go of the states `gatherOptimizerStates` made, once the checkpoint has them (the next step would anyway). */
  dropGatheredStates(): void {
    this.gathered = undefined;
  }

  /** Back to whole, unsharded Adam states (before loading whole states into a sharded replica). */
  private unshard(): void {
    for (const net of [this.d, this.g]) {
      if (!net.shard) continue;
      net.adam = new Adam(net.layout.length, this.args.adam);
      net.shard = undefined;
    }
    this.gathered = undefined;
  }

  private noiseTensor(pos: StepPosition, batch: number): tf.Tensor {
    return tf.tensor(this.noise(pos, batch), [batch, this.args.latent], 'float32');
  }

  /** The one-hot digits of a conditional model's batch; undefined for an unconditional model. */
  private labelTensor(labels: Uint8Array | undefined, batch: number): tf.Tensor | undefined {
    if (this.gan.classes === 0) return undefined;
    if (!labels) throw new RangeError(`model ${this.args.model} is conditional: its step needs the batch's labels`);
    return oneHotLabels(labels, batch);
  }

  /**
   * One D step then one G step; the G step reuses the D step's noise, as the reference trainers do.
   * A conditional model draws its fakes for the real batch's `labels` in both halves.
   */
  async trainStep(real: Float32Array, batch: number, pos: StepPosition, reduce?: Reducer, labels?: Uint8Array): Promise<StepStats> {
    const { half: d, forward } = await this.discriminatorHalf(real, batch, pos, reduce, labels);
    // Between the halves only D's weights change, so D's recorded G(z) is G's half's forward pass.
    let g: HalfStep<GeneratorGradients>;
    try {
      g = await this.generatorStep(batch, pos, reduce, labels, forward);
    } finally {
      disposeGeneratorForward(forward);
    }
    return {
      lossD: d.lossD,
      lossG: g.lossG,
      dReal: d.dReal,
      dFake: d.dFake,
      dFakeForG: g.dFakeForG,
      skipped: d.skipped || g.skipped,
      timings: {
        discriminator: d.computeMs,
        generator: g.computeMs,
        flatten: d.flattenMs + g.flattenMs,
        reduce: d.reduceMs + g.reduceMs,
        optimizer: d.optimizerMs + g.optimizerMs,
        total: d.computeMs + d.flattenMs + d.reduceMs + d.optimizerMs + g.computeMs + g.flattenMs + g.reduceMs + g.optimizerMs,
      },
      gradSqD: d.gradSq,
      gradSqG: g.gradSq,
    };
  }

  private apply(net: NetworkState, grads: Float32Array): void {
    net.adam.step(net.params, grads);
    writeVariables(net.vars, net.layout, net.params);
  }

  /** Generates images (n × image floats in [-1, 1]) from the given noise (and digits, for a conditional model), in inference mode. */
  async generate(z: Float32Array, n: number, labels?: Uint8Array): Promise<Float32Array> {
    const onehot = this.labelTensor(labels, n);
    const out = tf.tidy(() => this.gan.generator.apply(joinLatent(tf.tensor(z, [n, this.args.latent], 'float32'), onehot), { training: false }) as tf.Tensor);
    onehot?.dispose();
    const data = (await out.data()) as Float32Array;
    out.dispose();
    return data.slice();
  }

  /**
   * Both whole Adam states, for checkpoints. A sharded replica has them only after
   * `gatherOptimizerStates` (until its next step); before, this throws.
   */
  optimizerStates(): { D: AdamState; G: AdamState } {
    if (this.sharded) {
      if (!this.gathered) throw new Error('the optimizer state is sharded across the ranks: gatherOptimizerStates() first');
      // The gathered states belong to no optimizer (the next step only drops them): no copy needed.
      return { D: { ...this.gathered.D }, G: { ...this.gathered.G } };
    }
    return { D: this.d.adam.exportState(), G: this.g.adam.exportState() };
  }

  /** Restores both whole Adam states (from a checkpoint or a broadcast); a sharded replica is unsharded first. */
  loadOptimizerStates(states: { D: AdamState; G: AdamState }): void {
    this.unshard();
    this.d.adam.importState(states.D);
    this.g.adam.importState(states.G);
  }

  /**
   * Takes the weights (BatchNorm statistics included) and optimizer states of a loaded checkpoint.
   * Throws when the checkpoint's networks do not have this replica's shapes.
   */
  async restore(from: { generator: Gan['generator']; discriminator: Gan['discriminator']; optimizer: { D: AdamState; G: AdamState } }): Promise<void> {
    for (const [name, ours, theirs] of [['generator', this.gan.generator, from.generator], ['discriminator', this.gan.discriminator, from.discriminator]] as const) {
      const a = ours.weights.map((w) => w.shape.join('x'));
      const b = theirs.weights.map((w) => w.shape.join('x'));
      if (a.join() !== b.join()) throw new RangeError(`the checkpoint's ${name} has weights [${b.join(', ')}], this model has [${a.join(', ')}]`);
      ours.setWeights(theirs.getWeights());
    }
    await this.syncParamsFromModels();
    this.loadOptimizerStates(from.optimizer);
  }

  /**
   * Everything that must be identical across replicas, as one buffer: D and G parameters, G's
   * BatchNorm statistics, both Adams' moments and iteration counts. Rank 0 broadcasts it at start.
   */
  exportState(): Float32Array {
    const stats = this.statsCopy;
    const opt = this.sharded ? this.optimizerStates() : { D: this.d.adam, G: this.g.adam };
    const parts = [this.d.params, this.g.params, stats, opt.D.m, opt.D.v, opt.G.m, opt.G.v, Float32Array.of(opt.D.t, opt.G.t)];
    const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  /** Loads a buffer made by `exportState` (of a replica of the same model). */
  importState(buf: Float32Array): void {
    const [d, g, st] = [this.d.layout.length, this.g.layout.length, this.gStats.layout.length];
    const expected = 3 * d + 3 * g + st + 2;
    if (buf.length !== expected) throw new RangeError(`replica state has ${buf.length} floats, expected ${expected}`);
    this.unshard();
    let o = 0;
    const take = (n: number) => buf.slice(o, (o += n));
    this.d.params = take(d);
    this.g.params = take(g);
    writeVariables(this.d.vars, this.d.layout, this.d.params);
    writeVariables(this.g.vars, this.g.layout, this.g.params);
    this.statsCopy = take(st).slice();
    writeVariables(this.gStats.vars, this.gStats.layout, this.statsCopy);
    const [dm, dv, gm, gv] = [take(d), take(d), take(g), take(g)];
    const [dt, gt] = take(2);
    this.d.adam.importState({ t: dt, m: dm, v: dv });
    this.g.adam.importState({ t: gt, m: gm, v: gv });
  }

  /** sha256 of the weights (D, G, G's statistics): equal on replicas that are in step. */
  weightsHash(): string {
    const h = createHash('sha256');
    for (const a of [this.d.params, this.g.params, this.statsCopy]) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    return h.digest('hex');
  }

  /**
   * Re-reads the flat parameter copies from the models' variables; call after weights were
   * loaded into the models from outside (checkpoint restore, broadcast).
   */
  async syncParamsFromModels(): Promise<void> {
    this.d.params = await readVariablesAsync(this.d.vars, this.d.layout);
    this.g.params = await readVariablesAsync(this.g.vars, this.g.layout);
    this.statsCopy = await readVariablesAsync(this.gStats.vars, this.gStats.layout);
  }
}
