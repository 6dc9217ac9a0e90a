/** A replica's state as a checkpoint payload: the one place that fills in state.json's fields. */
import type { CheckpointPayload } from '../checkpoint/serialize.js';
import type { TrainConfig } from '../config.js';
import type { Replica } from '../replica.js';
import { VERSION } from '../version.js';

/** Position of a checkpoint: `epoch` epochs completed plus `step` steps into the next. */
export interface RunPosition {
  epoch: number;
  step: number;
  globalStep: number;
}

export function checkpointPayload(replica: Replica, config: TrainConfig, pos: RunPosition, backend: string): CheckpointPayload {
  const opt = replica.optimizerStates();
  return {
    generator: replica.gan.generator,
    discriminator: replica.gan.discriminator,
    optimizer: opt,
    state: {
      model: config.model,
      latent: config.latent,
      imageShape: replica.gan.imageShape,
      epoch: pos.epoch,
      step: pos.step,
      globalStep: pos.globalStep,
      optimizer: {
        lr: config.lr,
        beta1: config.beta1,
        beta2: config.beta2,
        epsilon: replica.adamEpsilon,
        D: { t: opt.D.t, size: replica.sizes.D },
        G: { t: opt.G.t, size: replica.sizes.G },
      },
      rng: { seed: config.seed, scheme: 'counter-based streams: (seed, purpose, epoch, step[, rank, phase, layer])' },
      config: { ...config },
      backend,
      writer: VERSION,
    },
  };
}
