/** The real models' flat buffer sizes, from the model registry (built once on the pure-JS backend). */
export type BenchModel = 'mlp' | 'dcgan';

/** Floats per step: D's gradients, G's gradients, and G's BatchNorm statistics (all-reduced with G's gradients). */
export interface ModelSizes {
  D: number;
  G: number;
  stats: number;
}

export async function modelSizes(model: BenchModel): Promise<ModelSizes> {
  // Building the model needs a backend for the initial weights; the pure-JS one loads anywhere.
  const { selectBackend } = await import('../shared/backend/select.js');
  const { Replica } = await import('../shared/replica.js');
  await selectBackend('cpu');
  const r = new Replica({ model, latent: 100, seed: 1, adam: { lr: 2e-4, beta1: 0.5, beta2: 0.999 } });
  const stats = r.gan.generator.nonTrainableWeights.reduce((n, w) => n + w.shape.reduce<number>((p, x) => p * (x ?? 1), 1), 0);
  const sizes = { D: r.sizes.D, G: r.sizes.G, stats };
  r.gan.generator.dispose();
  r.gan.discriminator.dispose();
  return sizes;
}

/** Bytes all-reduced per step for a model: D's gradients, then G's gradients with its statistics. */
export function collectiveBytes(s: ModelSizes): number[] {
  return [4 * s.D, 4 * (s.G + s.stats)];
}
