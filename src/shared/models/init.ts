import * as tfl from '@tensorflow/tfjs-layers';
import { streamSeed } from '../rng.js';
import { BATCH_NORM_SCHEMES, type BatchNormScheme, type InitScheme } from './types.js';

type Initializer = ReturnType<typeof tfl.initializers.glorotUniform>;

/** A layer's initialisers, for tfjs-layers' layer arguments. */
export interface LayerInit {
  kernelInitializer: Initializer;
  biasInitializer?: Initializer;
}

/**
 * Seeded initialisers, one distinct seed per layer, so the same --seed gives the same initial
 * weights on every backend (tfjs draws initial values in JavaScript, not on the device). Call the
 * returned function once per layer, in order, with the layer's fan-in (inputs per output unit:
 * what PyTorch's bias bound is computed from).
 *
 * - 'glorot': Glorot-uniform kernels, zero biases (tfjs-layers' default), as Keras builds them.
 * - 'torch': PyTorch's nn.Linear / nn.Conv2d / nn.ConvTranspose2d defaults: kernels
 *   U(±1/√fan_in) (kaiming-uniform with a = √5; variance scaling 1/3, fan-in mode, which tfjs
 *   computes from the kernel's shape as PyTorch does, ConvTranspose's output-channel fan-in
 *   included), biases U(±1/√fan_in).
 */
export function seededInit(seed: number, model: 'G' | 'D', scheme: InitScheme = 'glorot'): (fanIn: number) => LayerInit {
  let layer = 0;
  const net = model === 'G' ? 0 : 1;
  return (fanIn) => {
    const kernelSeed = streamSeed(seed, 'init', net, layer);
    const biasSeed = streamSeed(seed, 'init', net, layer, 1);
    layer++;
    if (scheme === 'glorot') return { kernelInitializer: tfl.initializers.glorotUniform({ seed: kernelSeed }) };
    const bound = 1 / Math.sqrt(fanIn);
    return {
      kernelInitializer: tfl.initializers.varianceScaling({ scale: 1 / 3, mode: 'fanIn', distribution: 'uniform', seed: kernelSeed }),
      biasInitializer: tfl.initializers.randomUniform({ minval: -bound, maxval: bound, seed: biasSeed }),
    };
  };
}

/** A BatchNormalization layer with the scheme's momentum and ε. */
export function batchNorm(scheme: BatchNormScheme = 'keras'): tfl.layers.Layer {
  return tfl.layers.batchNormalization(BATCH_NORM_SCHEMES[scheme]);
}
