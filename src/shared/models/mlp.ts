/**
 * The MLP GAN of the reference report with code:
 * G: Dense 100→256→512→1024→784, LeakyReLU(0.2) then BatchNorm after each hidden layer, tanh out.
 * D: Dense 784→1024→512→256→1, LeakyReLU(0.2) + Dropout(0.3) after each hidden layer, logit out.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { seededInit } from './init.js';
import type { Gan, GanBuildArgs } from './types.js';

const IMAGE_SIZE = 28 * 28;

/** Switches of the test variant (`mlp-plain`); the defaults are the reference model. */
export interface MlpVariant {
  batchNorm: boolean;
  dropout: number;
}

export function buildMlpGan(args: GanBuildArgs, variant: MlpVariant = { batchNorm: true, dropout: 0.3 }): Gan {
  const gInit = seededInit(args.seed, 'G');
  const generator = tfl.sequential({ name: 'generator' });
  let inputShape: number[] | undefined = [args.latent];
  for (const units of [256, 512, 1024]) {
    generator.add(tfl.layers.dense({ units, inputShape, kernelInitializer: gInit() }));
    inputShape = undefined;
    generator.add(tfl.layers.leakyReLU({ alpha: 0.2 }));
    if (variant.batchNorm) generator.add(tfl.layers.batchNormalization());
  }
  generator.add(tfl.layers.dense({ units: IMAGE_SIZE, activation: 'tanh', kernelInitializer: gInit() }));

  const dInit = seededInit(args.seed, 'D');
  const discriminator = tfl.sequential({ name: 'discriminator' });
  inputShape = [IMAGE_SIZE];
  for (const units of [1024, 512, 256]) {
    discriminator.add(tfl.layers.dense({ units, inputShape, kernelInitializer: dInit() }));
    inputShape = undefined;
    discriminator.add(tfl.layers.leakyReLU({ alpha: 0.2 }));
    if (variant.dropout > 0) discriminator.add(tfl.layers.dropout({ rate: variant.dropout }));
  }
  discriminator.add(tfl.layers.dense({ units: 1, kernelInitializer: dInit() }));
  return { name: variant.batchNorm && variant.dropout > 0 ? 'mlp' : 'mlp-plain', latent: args.latent, generator, discriminator, imageShape: [IMAGE_SIZE] };
}
