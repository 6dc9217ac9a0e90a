import * as tfl from '@tensorflow/tfjs-layers';
import { streamSeed } from '../rng.js';

/**
 * Seeded Glorot-uniform initialisers, one distinct seed per layer, so the same --seed gives the same
 * initial weights on every backend (tfjs draws initial values in JavaScript, not on the device).
 */
export function seededInit(seed: number, model: 'G' | 'D') {
  let layer = 0;
  return () => tfl.initializers.glorotUniform({ seed: streamSeed(seed, 'init', model === 'G' ? 0 : 1, layer++) });
}
