/**
 * The DCGAN of the TensorFlow reports (the Keras DCGAN tutorial's models):
 * G: Dense(100→7·7·256, no bias), BatchNorm, LeakyReLU, reshape, Conv2DTranspose 128 (k5 s1),
 *    64 (k5 s2), 1 (k5 s2, tanh), BatchNorm + LeakyReLU between, no biases.
 * D: Conv2D 64 (k5 s2), Conv2D 128 (k5 s2), each LeakyReLU + Dropout(0.3), flatten, Dense 1 logit.
 * LeakyReLU keeps Keras' default slope (0.3), as the report does.
 * The conditional variant (`cdcgan`, an AC-GAN): G's Dense takes z joined with a one-hot digit
 * (latent + 10 floats, models/labels.ts); D's last Dense has 1 + 10 units, the real-vs-fake logit
 * and the digit's logits (step.ts).
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { dense } from './dense.js';
import { dropout } from './dropout.js';
import { batchNorm, seededInit } from './init.js';
import type { Gan, GanBuildArgs } from './types.js';

export function buildDcgan(args: GanBuildArgs, classes = 0): Gan {
  // G has no biases, so only the kernels' scheme matters for it (fan-ins are for the biases).
  const gInit = seededInit(args.seed, 'G', args.init);
  const generator = tfl.sequential({ name: 'generator' });
  generator.add(dense({ units: 7 * 7 * 256, useBias: false, inputShape: [args.latent + classes], kernelInitializer: gInit(args.latent + classes).kernelInitializer }));
  generator.add(batchNorm(args.batchNorm));
  generator.add(tfl.layers.leakyReLU());
  generator.add(tfl.layers.reshape({ targetShape: [7, 7, 256] }));
  for (const [filters, strides] of [[128, 1], [64, 2]]) {
    generator.add(tfl.layers.conv2dTranspose({ filters, kernelSize: 5, strides, padding: 'same', useBias: false, kernelInitializer: gInit(filters * 25).kernelInitializer }));
    generator.add(batchNorm(args.batchNorm));
    generator.add(tfl.layers.leakyReLU());
  }
  generator.add(tfl.layers.conv2dTranspose({ filters: 1, kernelSize: 5, strides: 2, padding: 'same', useBias: false, activation: 'tanh', kernelInitializer: gInit(25).kernelInitializer }));

  const dInit = seededInit(args.seed, 'D', args.init);
  const discriminator = tfl.sequential({ name: 'discriminator' });
  let inputShape: number[] | undefined = [28, 28, 1];
  let channels = 1;
  for (const filters of [64, 128]) {
    discriminator.add(tfl.layers.conv2d({ filters, kernelSize: 5, strides: 2, padding: 'same', inputShape, ...dInit(channels * 25) }));
    [inputShape, channels] = [undefined, filters];
    discriminator.add(tfl.layers.leakyReLU());
    discriminator.add(dropout({ rate: 0.3 }));
  }
  discriminator.add(tfl.layers.flatten());
  discriminator.add(dense({ units: 1 + classes, ...dInit(7 * 7 * 128) }));
  return { name: classes > 0 ? 'cdcgan' : 'dcgan', latent: args.latent, classes, generator, discriminator, imageShape: [28, 28, 1] };
}
