/**
 * A Dense layer whose gradients cost only what the step differentiates.
 *
 * tfjs-layers' Dense multiplies with `tf.fused.matMul`, whose gradient is a customGrad that
 * computes the gradient of every input, needed or not: the first layer's input gradient in D's
 * step, and all of D's weight gradients in G's step (D's weights are constants there). For the
 * MLP GAN that is 19% more matmul work than the step needs (measured with tf.profile,
 * tests/bench-flops.test.ts). This layer does the same arithmetic with `tf.matMul` and `tf.add`,
 * whose gradients tfjs prunes to the variables being differentiated.
 *
 * It is a subclass of tfjs-layers' own Dense and keeps its class name and config, so models
 * serialise exactly as before and checkpoints load as plain Dense layers.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

type DenseArgs = Parameters<typeof tfl.layers.dense>[0];
type LayerClass = new (args: DenseArgs) => tfl.layers.Layer;

/** tfjs-layers does not export the Dense class itself; an instance's constructor is it. */
const TfjsDense = Object.getPrototypeOf(tfl.layers.dense({ units: 1 })).constructor as LayerClass;

/** What this layer reads of tfjs-layers' Dense (set by its constructor and build()). */
interface DenseInternals {
  kernel: { read(): tf.Tensor };
  bias: { read(): tf.Tensor } | null;
  activation: { apply(x: tf.Tensor): tf.Tensor } | null;
  invokeCallHook(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): void;
}

export class PrunedGradientDense extends TfjsDense {
  /** Serialises as 'Dense': same weights, same config, same forward arithmetic. */
  static className = 'Dense';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    if (input.rank !== 2) return super.call(inputs, kwargs) as tf.Tensor;
    const self = this as unknown as DenseInternals;
    return tf.tidy(() => {
      self.invokeCallHook(inputs, kwargs);
      let out = tf.matMul(input, self.kernel.read());
      if (self.bias) out = tf.add(out, self.bias.read());
      return self.activation ? self.activation.apply(out) : out;
    });
  }
}

/** `tfl.layers.dense` with gradients pruned to what is differentiated (see the file comment). */
export function dense(args: DenseArgs): tfl.layers.Layer {
  return new PrunedGradientDense(args);
}
