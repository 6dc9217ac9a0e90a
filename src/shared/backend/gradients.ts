/**
 * Gradient functions that replace tfjs' own where those waste a step's time, with the same values.
 *
 * Mean: tfjs (4.22, the copy tfjs-layers registers) computes dx = (reshape(dy) · ones(x.shape)) /
 * n, building the ones tensor in JavaScript at x's full size and uploading it, then multiplying by
 * it: 3.5% of the DCGAN step's CPU (BatchNorm's moments over [128, 14, 14, 64] and [128, 7, 7, 128],
 * V8 CPU profile, 2026-12-04). Here dx = broadcast(reshape(dy) / n): the division on the small
 * tensor, then one broadcast copy. Multiplying by 1 is exact and the division sees the same
 * numbers, so dx is bit for bit the same (tests/gradients.test.ts).
 *
 * LeakyRelu: tfjs computes dx = where(greater(x, 0), dy, mul(dy, alpha)), three kernels and two
 * temporaries of x's size; on wasm one kernel does it (LeakyReluGrad, kernels/elementwise.wat), with
 * the same bits. Other backends keep tfjs' formula.
 */
import * as tf from '@tensorflow/tfjs-core';
import { getKernel, LeakyRelu, Mean, registerGradient, util, type GradConfig, type NamedAttrMap } from '@tensorflow/tfjs-core';
import { LEAKY_RELU_GRAD } from './kernels/elementwise.js';

export const meanGradient: GradConfig = {
  kernelName: Mean,
  inputsToSave: ['x'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: NamedAttrMap) => {
    const [x] = saved;
    const axes = util.parseAxisParam((attrs?.axis ?? null) as number | number[], x.shape);
    const expanded = x.shape.slice();
    let n = 1;
    for (const a of axes) {
      n *= x.shape[a];
      expanded[a] = 1;
    }
    return { x: () => tf.broadcastTo(tf.div(tf.reshape(dy as tf.Tensor, expanded), n), x.shape) };
  },
};

export const leakyReluGradient: GradConfig = {
  kernelName: LeakyRelu,
  inputsToSave: ['x'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: NamedAttrMap) => {
    const [x] = saved;
    const alpha = attrs?.alpha as number;
    const d = dy as tf.Tensor;
    if (tf.getBackend() === 'wasm' && x.dtype === 'float32' && d.dtype === 'float32' && getKernel(LEAKY_RELU_GRAD, 'wasm')) {
      return { x: () => tf.engine().runKernel(LEAKY_RELU_GRAD, { x, dy: d }, { alpha }) as tf.Tensor };
    }
    const mask = tf.greater(x, 0);
    return { x: () => tf.where(mask, d, tf.mul(d, alpha)) };
  },
};

/** Registers the gradients above (over tfjs-layers' copies: call after importing it). */
export function registerGradients(): void {
  registerGradient(meanGradient);
  registerGradient(leakyReluGradient);
}
