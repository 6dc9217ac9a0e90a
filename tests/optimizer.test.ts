import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/shared/backend/select.js';
import { Adam, allFinite } from '../src/shared/optimizer.js';
import { Rng } from '../src/shared/rng.js';
import { relativeError } from './helpers/tf.js';

test.before(async () => {
  await selectBackend('cpu');
});

test('host Adam follows tf.train.adam (reference) over 20 steps on fresh random gradients', (t) => {
  const n = 5000;
  const rng = Rng.stream(11, 'test');
  const init = Float32Array.from({ length: n }, () => rng.normal());
  const ours = new Adam(n, { lr: 2e-4, beta1: 0.5, beta2: 0.999, epsilon: 1e-8 });
  const params = init.slice();
  const v = tf.variable(tf.tensor1d(init));
  const ref = tf.train.adam(2e-4, 0.5, 0.999, 1e-8);
  for (let s = 0; s < 20; s++) {
    const g = Float32Array.from({ length: n }, () => rng.normal() * 0.1);
    ours.step(params, g);
    ref.applyGradients([{ name: v.name, tensor: tf.tensor1d(g) }]);
  }
  const expected = v.dataSync();
  // Both compute in float32 storage; differences are rounding only. Measure the update, not the
  // parameters, so the bound is not diluted by the unchanged initial values.
  const dOurs = params.map((p, i) => p - init[i]);
  const dRef = expected.map((p, i) => p - init[i]);
  t.true(relativeError(dOurs, dRef) < 1e-4, `relative error of the update ${relativeError(dOurs, dRef)}`);
  t.is(ours.t, 20);
});

test('state export and import continue the same trajectory bit for bit', (t) => {
  const n = 100;
  const rng = Rng.stream(12, 'test');
  const grads = Array.from({ length: 6 }, () => Float32Array.from({ length: n }, () => rng.normal()));
  const a = new Adam(n, { lr: 1e-3, beta1: 0.5, beta2: 0.999 });
  const pa = new Float32Array(n).fill(0.5);
  for (const g of grads.slice(0, 3)) a.step(pa, g);
  const b = new Adam(n, { lr: 1e-3, beta1: 0.5, beta2: 0.999 });
  b.importState(a.exportState());
  const pb = pa.slice();
  for (const g of grads.slice(3)) {
    a.step(pa, g);
    b.step(pb, g);
  }
  t.deepEqual(pb, pa);
});

test('mismatched sizes are refused with a clear error', (t) => {
  const a = new Adam(10, { lr: 1e-3, beta1: 0.5, beta2: 0.999 });
  t.throws(() => a.step(new Float32Array(9), new Float32Array(9)), { message: /expected 10 parameters/ });
  t.throws(() => a.importState({ t: 1, m: new Float32Array(3), v: new Float32Array(3) }), { message: /3 moments/ });
});

test('allFinite: false for one Infinity, -Infinity or NaN at any position (the unrolled body and the tail), true for finite extremes', (t) => {
  for (const n of [0, 1, 3, 4, 5, 8, 11]) {
    const ok = Float32Array.from({ length: n }, (_, i) => [3.4e38, -3.4e38, -0, 1e-45][i % 4]);
    t.true(allFinite(ok), `n ${n}`);
    for (let at = 0; at < n; at++) {
      for (const badValue of [Infinity, -Infinity, NaN]) {
        const a = ok.slice();
        a[at] = badValue;
        t.false(allFinite(a), `n ${n}: ${badValue} at ${at}`);
      }
    }
  }
});

test('Adam runs the WebAssembly SIMD kernel by default here, the JavaScript one when asked', (t) => {
  const args = { lr: 1e-3, beta1: 0.5, beta2: 0.999 };
  t.is(new Adam(10, args).kernel, 'simd');
  t.is(new Adam(10, args, 'js').kernel, 'js');
  t.is(new Adam(10, args, 'js').size, 10);
});

test('SIMD and JavaScript kernels give the same bits: parameters, moments and Σg², whole steps and pieces, odd sizes and chunk edges', (t) => {
  const args = { lr: 2e-4, beta1: 0.5, beta2: 0.999, epsilon: 1e-8 };
  const rng = Rng.stream(13, 'test');
  const random = (n: number, scale: number) => Float32Array.from({ length: n }, () => rng.normal() * scale);
  for (const n of [1, 2, 3, 8191, 8192, 8193, 20_001]) {
    const [simd, js] = [new Adam(n, args, 'simd'), new Adam(n, args, 'js')];
    const p0 = random(n, 1);
    const [ps, pj] = [p0.slice(), p0.slice()];
    for (let s = 0; s < 4; s++) {
      const g = random(n, 10 ** -(s % 3)); // gradients of several magnitudes
      simd.step(ps, g);
      js.step(pj, g);
      t.is(simd.lastGradSq, js.lastGradSq, `n ${n} step ${s}: Σg²`);
    }
    t.deepEqual(ps, pj, `n ${n}: parameters`);
    t.deepEqual(simd.m, js.m, `n ${n}: m`);
    t.deepEqual(simd.v, js.v, `n ${n}: v`);
    // A piece at an offset, its output over the gradients (as the sharded step writes it).
    const at = Math.floor(n / 3);
    const len = n - at - Math.floor(n / 5);
    const g = random(len, 0.1);
    const [gs, gj] = [g.slice(), g.slice()];
    simd.stepPiece(ps.subarray(at, at + len), gs, gs, at);
    js.stepPiece(pj.subarray(at, at + len), gj, gj, at);
    t.deepEqual(gs, gj, `n ${n}: piece at ${at}`);
    t.deepEqual(simd.m, js.m, `n ${n}: m after the piece`);
    t.is(simd.lastGradSq, js.lastGradSq);
  }
});

test('a SIMD Adam cut to its segment (keepRange) keeps those moments and goes on bit for bit with the JavaScript one', (t) => {
  const args = { lr: 1e-3, beta1: 0.5, beta2: 0.999 };
  const rng = Rng.stream(14, 'test');
  const n = 10_000;
  const [simd, js] = [new Adam(n, args), new Adam(n, args, 'js')];
  const [ps, pj] = [new Float32Array(n).fill(0.3), new Float32Array(n).fill(0.3)];
  const g = Float32Array.from({ length: n }, () => rng.normal());
  simd.step(ps, g);
  js.step(pj, g);
  simd.keepRange(1234, 7777);
  js.keepRange(1234, 7777);
  t.is(simd.kernel, 'simd');
  t.is(simd.size, 7777 - 1234);
  const piece = g.subarray(1234, 7777).map((x) => x * 0.5);
  const [outS, outJ] = [new Float32Array(piece.length), new Float32Array(piece.length)];
  simd.stepPiece(ps.subarray(1234, 7777), piece, outS);
  js.stepPiece(pj.subarray(1234, 7777), piece, outJ);
  t.deepEqual(outS, outJ);
  t.deepEqual(simd.exportState(), js.exportState());
});
