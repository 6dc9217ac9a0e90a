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
  generator: tfl.LayersModel;
  discriminator: tfl.LayersModel;
  /** Shape of one image as the discriminator takes it and the generator produces it. */
  imageShape: number[];
}
