import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/shared/backend/select.js';
import { flattenTensorsAsync, fusionLayout } from '../src/shared/allreduce/fusion.js';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
await selectBackend('wasm', { blas: 'off' });
const shapes = [[784, 1024], [1024], [1024, 512], [512], [512, 256], [256], [256, 1], [1]];
const vars = shapes.map((s, i) => tf.variable(tf.randomNormal(s, 0, 1, 'float32', i)));
const layout = fusionLayout(vars);
const be = tf.backend() as unknown as BackendWasm;
const med = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1]!.toFixed(2);
const a: number[] = [], b: number[] = [], c: number[] = [];
const reuse = new Float32Array(layout.length);
for (let i = 0; i < 30; i++) {
  let t0 = performance.now(); await flattenTensorsAsync(vars, layout); a.push(performance.now() - t0);
  t0 = performance.now();
  const out = new Float32Array(layout.length);
  vars.forEach((v, k) => out.set(be.typedArrayFromHeap(v as unknown as tf.TensorInfo) as Float32Array, layout.offsets[k]));
  b.push(performance.now() - t0);
  t0 = performance.now();
  vars.forEach((v, k) => reuse.set(be.typedArrayFromHeap(v as unknown as tf.TensorInfo) as Float32Array, layout.offsets[k]));
  c.push(performance.now() - t0);
}
console.log(`${layout.length} floats: concat+data ${med(a)} ms, heap views into a new array ${med(b)} ms, into a reused array ${med(c)} ms`);
