/**
 * One GAN step's arithmetic on one replica: losses and gradients, no I/O, no optimizer.
 *
 * Losses are the non-saturating BCE on logits: D = BCE(D(x), 1) + BCE(D(G(z)), 0), G = BCE(D(G(z)), 1),
 * written with softplus so they stay finite for any logit: BCE(l, 1) = softplus(-l), BCE(l, 0) = softplus(l).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { flattenTensorsAsync, type FusionLayout } from './allreduce/fusion.js';
import type { Gan } from './models/index.js';
import { joinLatent } from './models/labels.js';

/** Result of the discriminator's half of a step. */
export interface DiscriminatorGradients {
  /** Gradients of the D loss w.r.t. D's trainable weights, flattened in D's fusion layout. */
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
 * Runs `fn` and then restores the model's non-trainable weights (BatchNorm moving statistics), so a
 * forward pass in training mode that is not the generator's own step leaves G untouched.
 */
export function withFrozenStatistics<T>(model: tfl.LayersModel, fn: () => T): T {
  const saved = model.nonTrainableWeights.map((w) => w.read().clone());
  try {
    return fn();
  } finally {
    model.nonTrainableWeights.forEach((w, i) => w.write(saved[i]));
    saved.forEach((t) => t.dispose());
  }
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
 * The discriminator's gradients on a real batch and a batch generated from `z`. Real and fake
 * images go through D as one batch (D has no BatchNorm, so this equals two passes, with fewer,
 * larger matmuls). G runs in training mode, as it does in its own step, with its statistics frozen.
 * A conditional model gets `onehot` ([batch, 10], the real images' digits): G draws the fakes for
 * the same digits, and D's class logits add the cross-entropy of both halves against those digits
 * (AC-GAN: D learns to tell the digit of real and fake images alike).
 */
export async function discriminatorGradients(
  gan: Gan,
  layout: FusionLayout,
  real: tf.Tensor,
  z: tf.Tensor,
  dropoutSeedOf: (layerIndex: number) => number,
  onehot?: tf.Tensor,
): Promise<DiscriminatorGradients> {
  const batch = real.shape[0];
  const fake = tf.tidy(() => withFrozenStatistics(gan.generator, () => gan.generator.apply(joinLatent(z, onehot), { training: true }) as tf.Tensor));
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
  fake.dispose();
  const vars = trainableVariables(gan.discriminator);
  const tf0 = performance.now();
  const flat = await flattenTensorsAsync(vars.map((v) => grads[v.name]), layout);
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
 * The generator's gradients through the (current) discriminator, for noise `z`. A conditional
 * model's G draws the digits `onehot` and its loss adds D's cross-entropy of the fakes against them.
 */
export async function generatorGradients(
  gan: Gan,
  layout: FusionLayout,
  z: tf.Tensor,
  dropoutSeedOf: (layerIndex: number) => number,
  onehot?: tf.Tensor,
): Promise<GeneratorGradients> {
  let logits: tf.Tensor | undefined;
  setDropoutSeeds(gan.discriminator, dropoutSeedOf);
  const { value, grads } = tf.variableGrads(() => {
    const fake = gan.generator.apply(joinLatent(z, onehot), { training: true }) as tf.Tensor;
    const out = gan.discriminator.apply(fake, { training: true }) as tf.Tensor;
    const [source, classes] = splitLogits(out, gan.classes);
    logits = tf.keep(source);
    const loss = tf.mean(tf.softplus(tf.neg(source)));
    return (classes ? tf.add(loss, classLoss(classes, onehot!)) : loss) as tf.Scalar;
  }, trainableVariables(gan.generator));
  const vars = trainableVariables(gan.generator);
  const tf0 = performance.now();
  const flat = await flattenTensorsAsync(vars.map((v) => grads[v.name]), layout);
  const flattenMs = performance.now() - tf0;
  Object.values(grads).forEach((g) => g.dispose());
  const lossG = (await value.data())[0];
  value.dispose();
  const dFakeForG = await meanProbability(logits!);
  logits!.dispose();
  return { grads: flat, lossG, dFakeForG, flattenMs };
}

export { trainableVariables };
