/**
 * Our gradient functions and kernels that replace tfjs' own for speed give the same numbers, bit
 * for bit: Mean's gradient (src/shared/backend/gradients.ts) against tfjs' formulation, and the
 * wasm Identity that shares data instead of copying (src/shared/backend/kernels/identity.ts).
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { getGradient, Mean } from '@tensorflow/tfjs-core';
import { meanGradient } from '../src/shared/backend/gradients.js';
import { selectBackend } from '../src/shared/backend/select.js';

test.before(async () => {
  await selectBackend('wasm');
});

/** tfjs 4.22's Mean gradient: reshape(dy) · ones(x.shape) / n. */
function tfjsMeanGrad(dy: tf.Tensor, x: tf.Tensor, axes: number[]): tf.Tensor {
  const expanded = x.shape.slice();
  let n = 1;
  for (const a of axes) {
    n *= x.shape[a]!;
    expanded[a] = 1;
  }
  return tf.div(tf.mul(tf.reshape(dy, expanded), tf.ones(x.shape)), n);
}

const bits = (t: tf.Tensor) => Buffer.from((t.dataSync() as Float32Array).slice().buffer);

test('selectBackend installs our Mean gradient', (t) => {
  t.is(getGradient(Mean)?.gradFunc, meanGradient.gradFunc);
});

for (const [shape, axes] of [[[6, 5, 4, 3], [0, 1, 2]], [[32, 7], [0]], [[5, 9], [1]], [[3, 4, 5], [0, 2]], [[64, 1], [0, 1]]] as [number[], number[]][]) {
  test(`Mean's gradient over axes [${axes}] of [${shape}] equals tfjs' formulation bit for bit, through tf.grad too`, (t) => {
    const x = tf.randomNormal(shape, 0, 1, 'float32', shape.length + axes.length);
    const outShape = shape.filter((_, i) => !axes.includes(i));
    const dy = tf.randomNormal(outShape, 0, 1, 'float32', 7);
    const ours = meanGradient.gradFunc(dy, [x], { axis: axes, keepDims: false }).x!();
    t.deepEqual(ours.shape, shape);
    t.true(bits(ours).equals(bits(tfjsMeanGrad(dy, x, axes))));
    // Through the tape: d/dx Σ dy·mean(x) = the gradient above.
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.mean(v, axes), dy)))(x);
    t.true(bits(g).equals(bits(tfjsMeanGrad(dy, x, axes))));
    tf.dispose([x, dy, ours, g]);
  });
}

test('wasm Identity shares the data: a clone reads the same values, outlives its source, and frees the bytes with the last reference', (t) => {
  const buffers = () => (tf.memory() as { numDataBuffers: number }).numDataBuffers;
  const before = buffers();
  const x = tf.randomNormal([1000], 0, 1, 'float32', 3);
  const values = x.dataSync().slice();
  const y = tf.clone(x);
  t.is(buffers(), before + 1); // one buffer for both
  x.dispose();
  t.deepEqual(y.dataSync(), values);
  const z = tf.add(y, 0);
  t.deepEqual(z.dataSync(), values);
  tf.dispose([y, z]);
  t.is(buffers(), before);
});
