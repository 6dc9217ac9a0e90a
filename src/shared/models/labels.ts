/**
 * How a conditional model sees its label: a one-hot vector joined to its input. G takes [z | onehot];
 * the MLP's D takes [image | onehot]; the DCGAN's D takes the image with ten more channels, channel
 * 1 + d all ones for digit d (the one-hot broadcast over the 28 × 28 plane). Both networks stay plain
 * Sequential models, so checkpoints, the fusion layout and the optimizer treat them as any other.
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

/** D's input: images [n, 784] or [n, 28, 28, 1] joined with the one-hot labels; the images when `onehot` is undefined. */
export function joinImages(images: tf.Tensor, onehot?: tf.Tensor): tf.Tensor {
  if (!onehot) return images;
  if (images.rank === 2) return tf.concat([images, onehot], 1);
  const [n, h, w] = images.shape;
  return tf.concat([images, tf.broadcastTo(tf.reshape(onehot, [n, 1, 1, LABEL_CLASSES]), [n, h!, w!, LABEL_CLASSES])], 3);
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
