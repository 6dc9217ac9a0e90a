/**
 * One GAN step's arithmetic on one replica: losses and gradients, no I/O, no optimizer.
 *
 * Losses are the non-saturating BCE on logits: D = BCE(D(x), 1) + BCE(D(G(z)), 0), G = BCE(D(G(z)), 1),
 * written with softplus so they stay finite for any logit: BCE(l, 1) = softplus(-l), BCE(l, 0) = softplus(l).
 *
 * G's forward pass runs once per step, as in the usual recipe (PyTorch: fake = G(z); D's loss on
 * fake.detach(); after D's update, G's loss on D(fake) backpropagates through the same forward).
 * D's half records it on a tfjs gradient tape (`recordGeneratorForward`) and G's half replays that
 * tape under its own gradient computation instead of running G again: G's weights do not change
 * between the halves (only D's do), so the images, the saved activations and therefore every
 * gradient are the ones a second forward pass would give, bit for bit (tests/step-forward.test.ts),
 * for 9% (MLP) to 18% (DCGAN) less arithmetic per step.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { flattenTensorsInto, type FusionLayout } from './allreduce/fusion.js';
import type { Gan } from './models/index.js';
import { joinLatent } from './models/labels.js';

/** Result of the discriminator's half of a step. */
export interface DiscriminatorGradients {
  /**
   * Gradients of the D loss w.r.t. D's trainable weights, flattened in D's fusion layout: into the
   * caller's buffer when it gave one (`into`: the replica reuses one from step to step), else new.
   */
  grads: Float32Array;
  lossD: number;
  /** Mean D(x) over the real images (probability, after the sigmoid). */
  dReal: number;
  /** Mean D(G(z)) over the generated images, before the D update. */
  dFake: number;
  /** Milliseconds spent gathering the gradient tensors into `grads` (one device read). */
  flattenMs: number;
}

/** Result of the generator's half of a step. */
export interface GeneratorGradients {
  grads: Float32Array;
  lossG: number;
  /** Mean D(G(z)) seen by the generator step (after the D update). */
  dFakeForG: number;
  /** Milliseconds spent gathering the gradient tensors into `grads` (one device read). */
  flattenMs: number;
}

/** Sets the seed of every Dropout layer, so the masks of this call are reproducible. */
export function setDropoutSeeds(model: tfl.LayersModel, seedOf: (layerIndex: number) => number): void {
  model.layers.forEach((layer, i) => {
    if (layer.getClassName() === 'Dropout') (layer as unknown as { seed?: number }).seed = seedOf(i);
  });
}

/**
 * What this file uses of tfjs-core's engine to keep a forward pass's gradient tape past the call
 * that recorded it (tfjs 4.x: `engine.gradients` starts a tape, runs f in a tidy and keeps each
 * kernel's saved tensors as kept clones until its backward pass disposes them). Only
 * `recordGeneratorForward` and `replayGeneratorForward` touch it.
 */
interface TapeEngine {
  startTape(): void;
  endTape(): void;
  tidy<T extends tf.TensorContainer>(name: string, fn: () => T): T;
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
}

/** A recorded kernel call; its saved tensors live until a backward pass or `disposeTape`. */
interface TapeNode {
  saved?: tf.Tensor[];
}

function tapeEngine(): TapeEngine {
  return tf.engine() as unknown as TapeEngine;
}

function disposeTape(tape: TapeNode[]): void {
  for (const node of tape) node.saved?.forEach((t) => t.dispose());
  tape.length = 0;
}

/**
 * G's forward pass of one step, recorded in D's half for G's half. Its BatchNorm statistics are
 * held here, not written: a D half changes no G weight, and G's half writes them, as a second
 * training-mode forward pass would.
 */
export interface GeneratorForward {
  /** G(z): D's fakes in D's half, the input of D in G's half. */
  fake: tf.Tensor;
  /** The recorded kernels, with the activations their gradients need. */
  tape: TapeNode[];
  /** G's non-trainable weights (BatchNorm moving statistics) as this forward pass updated them. */
  statistics: tf.Tensor[];
  /** Set once its tensors are freed (by G's half or `disposeGeneratorForward`). */
  disposed: boolean;
}

/** Runs G(z) in training mode on a gradient tape kept for `generatorGradients`; G's statistics are left as they were. */
export function recordGeneratorForward(gan: Gan, z: tf.Tensor, onehot?: tf.Tensor): GeneratorForward {
  const engine = tapeEngine();
  if (engine.state.gradientDepth !== 0) throw new Error('G\'s forward pass cannot be recorded inside another gradient computation');
  const stats = gan.generator.nonTrainableWeights;
  const before = stats.map((w) => w.read().clone());
  let fake: tf.Tensor;
  let statistics: tf.Tensor[];
  engine.startTape();
  try {
    fake = engine.tidy('generator forward', () => gan.generator.apply(joinLatent(z, onehot), { training: true }) as tf.Tensor);
    statistics = stats.map((w) => w.read().clone());
  } catch (err) {
    disposeTape(engine.state.activeTape ?? []);
    throw err;
  } finally {
    engine.endTape();
    stats.forEach((w, i) => w.write(before[i]));
    before.forEach((t) => t.dispose());
  }
  const tape = engine.state.activeTape ?? [];
  engine.state.activeTape = null;
  return { fake, tape, statistics, disposed: false };
}

/** Frees a recorded forward pass that no G half will use (an abandoned step). */
export function disposeGeneratorForward(forward: GeneratorForward): void {
  if (forward.disposed) return;
  forward.disposed = true;
  disposeTape(forward.tape);
  tf.dispose([forward.fake, ...forward.statistics]);
}

/**
 * Inside G's gradient computation: puts the recorded forward's kernels on the active tape (so the
 * backward pass runs through them and then disposes their saved tensors, as for kernels run there)
 * and writes the statistics that forward pass computed. Returns G(z).
 */
function replayGeneratorForward(gan: Gan, forward: GeneratorForward): tf.Tensor {
  const tape = tapeEngine().state.activeTape;
  if (!tape) throw new Error('a recorded forward pass replays only inside a gradient computation');
  if (forward.disposed) throw new Error('this recorded forward pass was already used or freed');
  tape.push(...forward.tape);
  forward.tape = [];
  gan.generator.nonTrainableWeights.forEach((w, i) => w.write(forward.statistics[i]));
  return forward.fake;
}

function trainableVariables(model: tfl.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

/**
 * D's outputs: the real-vs-fake logit [n, 1] and, for a conditional model, the digit logits
 * [n, classes] (its last layer has 1 + classes units).
 */
function splitLogits(out: tf.Tensor, classes: number): [tf.Tensor, tf.Tensor | undefined] {
  if (classes === 0) return [out, undefined];
  const [source, digits] = tf.split(out, [1, classes], 1);
  return [source, digits];
}

/** Mean softmax cross-entropy of digit logits against one-hot digits. */
function classLoss(logits: tf.Tensor, onehot: tf.Tensor): tf.Scalar {
  return tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), 1))) as tf.Scalar;
}

/** Mean of sigmoid(logits) as a number. */
async function meanProbability(logits: tf.Tensor): Promise<number> {
  const m = tf.tidy(() => tf.mean(tf.sigmoid(logits)));
  const v = (await m.data())[0];
  m.dispose();
  return v;
}

/**
 * The discriminator's gradients on a real batch and the fakes of G's recorded forward pass
 * (`recordGeneratorForward`: G in training mode, as in its own half, its statistics untouched). Real
 * and fake images go through D as one batch (D has no BatchNorm, so this equals two passes, with
 * fewer, larger matmuls). A conditional model gets `onehot` ([batch, 10], the real images' digits,
 * for which G drew the fakes): D's class logits add the cross-entropy of both halves against those
 * digits (AC-GAN: D learns to tell the digit of real and fake images alike).
 */
export async function discriminatorGradients(
  gan: Gan,
  layout: FusionLayout,
  real: tf.Tensor,
  fake: tf.Tensor,
  dropoutSeedOf: (layerIndex: number) => number,
  onehot?: tf.Tensor,
  into?: Float32Array,
): Promise<DiscriminatorGradients> {
  const batch = real.shape[0];
  let logits: tf.Tensor | undefined;
  setDropoutSeeds(gan.discriminator, dropoutSeedOf);
  const { value, grads } = tf.variableGrads(() => {
    const out = gan.discriminator.apply(tf.concat([real, fake]), { training: true }) as tf.Tensor;
    const [source, classes] = splitLogits(out, gan.classes);
    logits = tf.keep(source);
    const [lr, lf] = tf.split(source, [batch, batch]);
    const loss = tf.add(tf.mean(tf.softplus(tf.neg(lr))), tf.mean(tf.softplus(lf)));
    return (classes ? tf.add(loss, classLoss(classes, tf.concat([onehot!, onehot!]))) : loss) as tf.Scalar;
  }, trainableVariables(gan.discriminator));
  const vars = trainableVariables(gan.discriminator);
  const tf0 = performance.now();
  const flat = into ?? new Float32Array(layout.length);
  await flattenTensorsInto(vars.map((v) => grads[v.name]), layout, flat);
  const flattenMs = performance.now() - tf0;
  Object.values(grads).forEach((g) => g.dispose());
  const lossD = (await value.data())[0];
  value.dispose();
  const [lr, lf] = tf.split(logits!, [batch, batch]);
  const dReal = await meanProbability(lr);
  const dFake = await meanProbability(lf);
  tf.dispose([lr, lf, logits!]);
  return { grads: flat, lossD, dReal, dFake, flattenMs };
}

/**
 * The generator's gradients through the (current) discriminator, for noise `z`: through `forward`,
 * G's forward pass recorded in this step's D half for the same z (consumed: its tensors are freed
 * here), or without it through a forward pass run here. Either way G's BatchNorm statistics end as
 * that forward pass updated them. A conditional model's G draws the digits `onehot` and its loss
 * adds D's cross-entropy of the fakes against them.
 */
export async function generatorGradients(
  gan: Gan,
  layout: FusionLayout,
  z: tf.Tensor,
  dropoutSeedOf: (layerIndex: number) => number,
  onehot?: tf.Tensor,
  forward?: GeneratorForward,
  into?: Float32Array,
): Promise<GeneratorGradients> {
  let logits: tf.Tensor | undefined;
  setDropoutSeeds(gan.discriminator, dropoutSeedOf);
  let result: { value: tf.Scalar; grads: tf.NamedTensorMap };
  try {
    result = tf.variableGrads(() => {
      const fake = forward ? replayGeneratorForward(gan, forward) : (gan.generator.apply(joinLatent(z, onehot), { training: true }) as tf.Tensor);
        const out = gan.discriminator.apply(fake, { training: true }) as tf.Tensor;
      const [source, classes] = splitLogits(out, gan.classes);
      logits = tf.keep(source);
      const loss = tf.mean(tf.softplus(tf.neg(source)));
      return (classes ? tf.add(loss, classLoss(classes, onehot!)) : loss) as tf.Scalar;
    }, trainableVariables(gan.generator));
  } finally {
    if (forward) disposeGeneratorForward(forward);
  }
  const { value, grads } = result;
  const vars = trainableVariables(gan.generator);
  const tf0 = performance.now();
  const flat = into ?? new Float32Array(layout.length);
  await flattenTensorsInto(vars.map((v) => grads[v.name]), layout, flat);
  const flattenMs = performance.now() - tf0;
  Object.values(grads).forEach((g) => g.dispose());
  const lossG = (await value.data())[0];
  value.dispose();
  const dFakeForG = await meanProbability(logits!);
  logits!.dispose();
  return { grads: flat, lossG, dFakeForG, flattenMs };
}

export { trainableVariables };
