/**
 * How a conditional model sees its label (AC-GAN): G takes [z | one-hot digit]; D takes the image
 * alone and answers with 1 + 10 logits (real vs fake, and the digit; the losses are in step.ts).
 * Both networks stay plain Sequential models, so checkpoints, the fusion layout and the optimizer
 * treat them as any other.
 *
 * Why not the digit joined to D's input (the plain cGAN): measured here, cmlp built that way
 * reached 9.9% conditional accuracy (chance) after 1,000 steps (--limit 12800, batch 64, 5
 * epochs, FID 153.0): D told real from fake without looking at the digit, so G ignored it.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { LABEL_CLASSES } from './conditional.js';

/** One-hot float32 [n, 10] of digit labels; refuses a label outside 0..9 (tf.oneHot would give a zero row). */
export function oneHotLabels(labels: Uint8Array, n: number): tf.Tensor2D {
  if (labels.length !== n) throw new RangeError(`${labels.length} labels for ${n} images`);
  for (let i = 0; i < n; i++) if (labels[i] >= LABEL_CLASSES) throw new RangeError(`label ${labels[i]} at ${i} is outside 0..${LABEL_CLASSES - 1}`);
  return tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), LABEL_CLASSES), 'float32') as tf.Tensor2D);
}

/** G's input: z [n, latent] joined with the one-hot labels [n, 10], or z itself when `onehot` is undefined. */
export function joinLatent(z: tf.Tensor, onehot?: tf.Tensor): tf.Tensor {
  return onehot ? tf.concat([z, onehot], 1) : z;
}

/**
 * The label classes a generator was built for, read from its input width: a conditional G takes
 * latent + 10 floats. Lets code that holds only a generator (evaluation, a loaded checkpoint) tell.
 */
export function generatorClasses(generator: tfl.LayersModel, latent: number): number {
  const width = generator.inputs[0]?.shape[1];
  if (width === latent) return 0;
  if (width === latent + LABEL_CLASSES) return LABEL_CLASSES;
  throw new RangeError(`the generator takes inputs of width ${width}, neither z (${latent}) nor z plus a digit (${latent + LABEL_CLASSES})`);
}

/**
 * Runs the generator in inference mode on z [n × latent] (and, for a conditional one, the digits),
 * returning n images as floats in [-1, 1]. Refuses labels for an unconditional generator and their
 * absence for a conditional one.
 */
export async function generateWith(generator: tfl.LayersModel, z: Float32Array, n: number, latent: number, labels?: Uint8Array): Promise<Float32Array> {
  const classes = generatorClasses(generator, latent);
  if (classes > 0 && !labels) throw new RangeError('this generator is conditional: it needs the digit of each image');
  if (classes === 0 && labels) throw new RangeError('this generator is unconditional: it draws no chosen digit');
  const out = tf.tidy(() => {
    const onehot = labels ? oneHotLabels(labels, n) : undefined;
    return generator.predict(joinLatent(tf.tensor2d(z.subarray(0, n * latent), [n, latent]), onehot)) as tf.Tensor;
  });
  // An asynchronous read: the only kind the webgpu backend can do in Node.
  const data = (await out.data()) as Float32Array;
  out.dispose();
  return data.slice();
}
