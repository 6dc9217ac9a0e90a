/**
 * Parameter counts of the models as plain arithmetic, for processes without TensorFlow (the
 * coordinator sizes its control socket's frame limit with them). tests/models.test.ts checks them
 * against the built models, so a change of architecture that forgets this table fails there.
 */
import type { ModelName } from './index.js';

/** Weights of G plus D (trainable and not) as `fixed + perLatent × latent`: only G's first layer sees z. */
const PARAMS: Record<ModelName, { fixed: number; perLatent: number }> = {
  // G: Dense(z → 256) is the only layer whose size depends on z (256 weights per z entry).
  mlp: { fixed: 1_467_920 + 1_460_225, perLatent: 256 },
  'mlp-plain': { fixed: 1_460_752 + 1_460_225, perLatent: 256 },
  // G: Dense(z → 7·7·256, no bias): 12,544 weights per z entry.
  dcgan: { fixed: 1_076_544 + 212_865, perLatent: 7 * 7 * 256 },
  // Conditional (AC-GAN): the one-hot digit adds 10 inputs to G's first layer (10 × 256, 10 × 12,544)
  // and D's last layer 10 digit logits (10 × (256 + 1) for the MLP, 10 × (7·7·128 + 1) for the DCGAN).
  cmlp: { fixed: 1_467_920 + 10 * 256 + 1_460_225 + 10 * 257, perLatent: 256 },
  'cmlp-plain': { fixed: 1_460_752 + 10 * 256 + 1_460_225 + 10 * 257, perLatent: 256 },
  cdcgan: { fixed: 1_076_544 + 10 * 7 * 7 * 256 + 212_865 + 10 * (7 * 7 * 128 + 1), perLatent: 7 * 7 * 256 },
};

/** Total weights of generator and discriminator, BatchNorm statistics included. */
export function ganParamCount(model: ModelName, latent: number): number {
  const p = PARAMS[model];
  return p.fixed + p.perLatent * latent;
}

/** Room for the checkpoint's JSON files, the sample images (16 × 28 × 28 floats) and framing. */
const FRAME_MARGIN_BYTES = 1 << 20;

/**
 * The largest frame a worker legitimately sends the coordinator, with margin: the biggest is a
 * checkpoint's optimizer.bin (Adam's m and v, two float32 per trainable weight), bounded here by
 * 8 bytes per weight of both networks. weights.bin files hold 4 bytes per weight.
 */
export function maxControlFrameBytes(model: ModelName, latent: number): number {
  return 8 * ganParamCount(model, latent) + FRAME_MARGIN_BYTES;
}
