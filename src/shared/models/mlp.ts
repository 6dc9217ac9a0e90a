/**
 * The MLP GAN of the reference report with code:
 * G: Dense 100→256→512→1024→784, LeakyReLU(0.2) then BatchNorm after each hidden layer, tanh out.
 * D: Dense 784→1024→512→256→1, LeakyReLU(0.2) + Dropout(0.3) after each hidden layer, logit out.
 * The conditional variant (`cmlp`, an AC-GAN): G's first layer takes z joined with a one-hot digit
 * (latent + 10 floats, models/labels.ts); D's last layer has 1 + 10 units, the real-vs-fake logit
 * and the digit's logits (step.ts).
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { dense } from './dense.js';
import { dropout } from './dropout.js';
import { batchNorm, seededInit } from './init.js';
import type { Gan, GanBuildArgs } from './types.js';

const IMAGE_SIZE = 28 * 28;

/** Switches of the variants (`mlp-plain`, `cmlp`, `cmlp-plain`); the defaults are the reference model. */
export interface MlpVariant {
  batchNorm: boolean;
  dropout: number;
  /** Label classes joined to G's and D's inputs; 0 (the default) for the unconditional model. */
  classes?: number;
}

export function buildMlpGan(args: GanBuildArgs, variant: MlpVariant = { batchNorm: true, dropout: 0.3 }): Gan {
  const classes = variant.classes ?? 0;
  const gInit = seededInit(args.seed, 'G', args.init);
  const generator = tfl.sequential({ name: 'generator' });
  let inputShape: number[] | undefined = [args.latent + classes];
  let fanIn = args.latent + classes;
  for (const units of [256, 512, 1024]) {
    generator.add(dense({ units, inputShape, ...gInit(fanIn) }));
    [inputShape, fanIn] = [undefined, units];
    generator.add(tfl.layers.leakyReLU({ alpha: 0.2 }));
    if (variant.batchNorm) generator.add(batchNorm(args.batchNorm));
  }
  generator.add(dense({ units: IMAGE_SIZE, activation: 'tanh', ...gInit(fanIn) }));

  const dInit = seededInit(args.seed, 'D', args.init);
  const discriminator = tfl.sequential({ name: 'discriminator' });
  inputShape = [IMAGE_SIZE];
  fanIn = IMAGE_SIZE;
  for (const units of [1024, 512, 256]) {
    discriminator.add(dense({ units, inputShape, ...dInit(fanIn) }));
    [inputShape, fanIn] = [undefined, units];
    discriminator.add(tfl.layers.leakyReLU({ alpha: 0.2 }));
    if (variant.dropout > 0) discriminator.add(dropout({ rate: variant.dropout }));
  }
  discriminator.add(dense({ units: 1 + classes, ...dInit(fanIn) }));
  const name = `${classes > 0 ? 'c' : ''}mlp${variant.batchNorm && variant.dropout > 0 ? '' : '-plain'}`;
  return { name, latent: args.latent, classes, generator, discriminator, imageShape: [IMAGE_SIZE] };
}
