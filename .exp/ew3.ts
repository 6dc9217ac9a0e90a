import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/shared/backend/select.js';
await selectBackend('wasm', { blas: 'off' });
const x = tf.randomNormal([128 * 14 * 14, 64], 0, 1, 'float32', 1);
const y = tf.randomNormal([128 * 14 * 14, 64], 0, 1, 'float32', 2);
const t: number[] = [];
for (let i = 0; i < 8; i++) { const t0 = performance.now(); tf.tidy(() => { tf.add(x, y); }); t.push(performance.now() - t0); }
console.log('tidy add', t.map((v) => v.toFixed(2)).join(' '));
t.length = 0;
for (let i = 0; i < 8; i++) { const t0 = performance.now(); const z = tf.add(x, y); z.dispose(); t.push(performance.now() - t0); }
console.log('add+dispose', t.map((v) => v.toFixed(2)).join(' '));
t.length = 0;
for (let i = 0; i < 4; i++) { const t0 = performance.now(); tf.tidy(() => { tf.add(x, y).dataSync(); }); t.push(performance.now() - t0); }
console.log('tidy add dataSync', t.map((v) => v.toFixed(2)).join(' '));
t.length = 0;
for (let i = 0; i < 8; i++) { const t0 = performance.now(); tf.tidy(() => { tf.add(x, y); }); t.push(performance.now() - t0); }
console.log('tidy add after dataSync', t.map((v) => v.toFixed(2)).join(' '));
