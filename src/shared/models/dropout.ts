/**
 * A Dropout layer whose random mask costs a tight loop instead of tfjs' per-value object calls.
 *
 * tfjs' dropout draws its uniform numbers one call at a time (`UniformRandom.nextValue` →
 * seedrandom's alea `next`, state kept in object properties): about 20 ns per value here, and a
 * DCGAN step draws 7.2M of them (D's two Dropout layers over real and fake images, then over the
 * fakes again in G's half): 5.6% of the step's CPU, 2.5% of the MLP's (V8 CPU profile,
 * 2026-12-04). This layer runs the same alea recurrence from the same seeded state (seedrandom's
 * own, read once per call) with the state in local variables, stores the numbers as float32 as
 * tfjs' buffer does, and then builds the mask with tfjs' own ops in tfjs' order
 * (floor(u + keep) / keep, times x): the same mask and the same output, bit for bit
 * (tests/models.test.ts), at a few ns per value. On wasm one kernel (AleaDropoutMask,
 * kernels/elementwise.wat) runs the recurrence and builds the mask on the heap in one pass.
 *
 * Like dense.ts's layer it subclasses tfjs-layers' own class and keeps its class name and config,
 * so models serialise as before. Cases it does not handle (inference, no seed, a noise shape, rate
 * outside (0, 1)) go to tfjs' Dropout.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import seedrandom from 'seedrandom';
import { DROPOUT_MASK } from '../backend/kernels/elementwise.js';

type DropoutArgs = Parameters<typeof tfl.layers.dropout>[0];
type LayerClass = new (args: DropoutArgs) => tfl.layers.Layer;

/** tfjs-layers does not export the Dropout class itself; an instance's constructor is it. */
const TfjsDropout = Object.getPrototypeOf(tfl.layers.dropout({ rate: 0.5 })).constructor as LayerClass;

interface DropoutInternals {
  rate: number;
  noiseShape?: number[] | null;
  seed?: number;
  invokeCallHook(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): void;
}

interface AleaState {
  s0: number;
  s1: number;
  s2: number;
  c: number;
}

/** Alea's state as seedrandom 3.0.5 seeds it from the seed's string (as tfjs does). */
function aleaState(seed: number | string): AleaState {
  return (seedrandom.alea(String(seed), { state: true }) as unknown as { state(): AleaState }).state();
}

/**
 * `n` uniform numbers in [0, 1) from alea seeded with `seed`: exactly the values tfjs'
 * randomUniform(shape, 0, 1, 'float32', seed) puts in its buffer (seedrandom 3.0.5's alea, the one
 * tfjs-core 4.22 uses, seeded with the seed's string as tfjs does).
 */
export function aleaUniform(seed: number | string, n: number): Float32Array {
  let { s0, s1, s2, c } = aleaState(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const t = 2091639 * s0 + c * 2.3283064365386963e-10; // 2^-32
    s0 = s1;
    s1 = s2;
    c = t | 0;
    s2 = t - c;
    out[i] = s2;
  }
  return out;
}

export class SeededDropout extends TfjsDropout {
  /** Serialises as 'Dropout': same config, same arithmetic. */
  static className = 'Dropout';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    const self = this as unknown as DropoutInternals;
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    const handled = kwargs.training === true && self.rate > 0 && self.rate < 1 && self.noiseShape == null && self.seed != null && input.dtype === 'float32';
    if (!handled) return super.call(inputs, kwargs) as tf.Tensor;
    return tf.tidy(() => {
      self.invokeCallHook(inputs, kwargs);
      const keep = 1 - self.rate;
      if (tf.getBackend() === 'wasm' && tf.getKernel(DROPOUT_MASK, 'wasm')) {
        // The same numbers and float32 operations in one pass on the heap (kernels/elementwise.wat).
        const mask = tf.engine().runKernel(DROPOUT_MASK, {}, { shape: input.shape, ...aleaState(self.seed!), keep }) as tf.Tensor;
        return tf.mul(input, mask);
      }
      const u = tf.tensor(aleaUniform(self.seed!, input.size), input.shape, 'float32');
      return tf.mul(input, tf.div(tf.floor(tf.add(u, keep)), keep));
    });
  }
}

/** `tfl.layers.dropout` with the fast mask above. */
export function dropout(args: DropoutArgs): tfl.layers.Layer {
  return new SeededDropout(args);
}
