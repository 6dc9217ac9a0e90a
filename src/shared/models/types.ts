import type * as tfl from '@tensorflow/tfjs-layers';

/** Arguments every model builder takes. */
export interface GanBuildArgs {
  /** Size of the generator's input z. */
  latent: number;
  /** Seed of the weight initialisers, so a run's initial weights are reproducible. */
  seed: number;
  /** The initial weights' scheme (`--init`); default 'glorot'. */
  init?: InitScheme;
  /** BatchNorm's moving-statistics settings (`--batchnorm`); default 'keras'. */
  batchNorm?: BatchNormScheme;
}

/**
 * Initial weights: Keras' Glorot-uniform kernels with zero biases (the reference reports' models),
 * or PyTorch's defaults (kaiming-uniform with a = √5, i.e. U(±1/√fan_in), for kernels and biases).
 */
export const INIT_SCHEMES = ['glorot', 'torch'] as const;
export type InitScheme = (typeof INIT_SCHEMES)[number];

/**
 * BatchNorm's settings, by framework: the moving averages' momentum (Keras' convention: the weight
 * of the old value, so PyTorch's momentum 0.1 is 0.9 here) and ε. They decide the statistics G
 * samples with in inference mode: at 0.99 the averages span the last ~100 steps of a changing G.
 */
export const BATCH_NORM_SCHEMES = { keras: { momentum: 0.99, epsilon: 1e-3 }, torch: { momentum: 0.9, epsilon: 1e-5 } } as const;
export type BatchNormScheme = keyof typeof BATCH_NORM_SCHEMES;

/** A generator and discriminator pair, plus the shapes the training step needs. */
export interface Gan {
  name: string;
  latent: number;
  /**
   * Label classes G and D are conditioned on (a one-hot digit joined to their inputs, see
   * labels.ts): 10 for the conditional models, 0 for the unconditional ones.
   */
  classes: number;
  generator: tfl.LayersModel;
  discriminator: tfl.LayersModel;
  /** Shape of one image as the discriminator takes it and the generator produces it. */
  imageShape: number[];
}
