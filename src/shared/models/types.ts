import type * as tfl from '@tensorflow/tfjs-layers';

/** Arguments every model builder takes. */
export interface GanBuildArgs {
  /** Size of the generator's input z. */
  latent: number;
  /** Seed of the weight initialisers, so a run's initial weights are reproducible. */
  seed: number;
}

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
