import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/shared/backend/select.js';
await selectBackend('wasm', { blas: 'off' });
console.log(tf.getBackend());
for (const n of [16384, 163840, 1638400, 3276800]) {
  const x = tf.randomNormal([n], 0, 1, 'float32', 1);
  const y = tf.randomNormal([n], 0, 1, 'float32', 2);
  const t: number[] = [];
  for (let i = 0; i < 12; i++) { const t0 = performance.now(); const z = tf.add(x, y); t.push(performance.now() - t0); z.dispose(); }
  const kept: tf.Tensor[] = []; const t2: number[] = [];
  for (let i = 0; i < 12; i++) { const t0 = performance.now(); kept.push(tf.add(x, y)); t2.push(performance.now() - t0); }
  tf.dispose(kept);
  console.log(n, 'dispose each:', t.slice(2).map((v) => v.toFixed(2)).join(' '), '| kept:', t2.slice(2).map((v) => v.toFixed(2)).join(' '));
  tf.dispose([x, y]);
}
