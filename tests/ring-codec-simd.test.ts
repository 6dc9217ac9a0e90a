import test from 'ava';
import { FLOAT32 } from '../src/shared/allreduce/codec.js';
import { sumSimd } from '../src/shared/allreduce/sum-simd.js';

/** Fresh random floats over many magnitudes, with exact zeros, -0, ties and subnormals among them. */
function randomFloats(n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.random();
    x[i] = u < 0.02 ? 0 : u < 0.03 ? -0 : u < 0.04 ? 1e-40 * (Math.random() - 0.5) : (Math.random() - 0.5) * 2 ** Math.floor(Math.random() * 40 - 20);
  }
  return x;
}

/** The JavaScript loops of codec.ts, as they were before the SIMD path: the reference. */
function addRef(x: Float32Array, y: Float32Array): void {
  for (let i = 0; i < x.length; i++) x[i] += y[i];
}
function meanRef(x: Float32Array, y: Float32Array, n: number): void {
  for (let i = 0; i < x.length; i++) x[i] = Math.fround(Math.fround(x[i] + y[i]) / n);
}
const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

test('SIMD partial sums equal the JavaScript loops bit for bit (lengths across piece edges, n = 2…8)', (t) => {
  const simd = sumSimd();
  if (!simd) return t.fail('WebAssembly SIMD is missing from this Node');
  for (const length of [1, 3, 4, 5, 1023, 1024, 1025, 65_535, 65_536, 65_537, 200_003]) {
    const x = randomFloats(length);
    const y = randomFloats(length);
    const a = x.slice();
    const b = x.slice();
    simd.addInto(a, y);
    addRef(b, y);
    t.true(bits(a).equals(bits(b)), `add, length ${length}`);
    for (const n of [2, 3, 4, 5, 7, 8]) {
      const c = x.slice();
      const d = x.slice();
      simd.meanInto(c, y, n);
      meanRef(d, y, n);
      t.true(bits(c).equals(bits(d)), `mean over ${n}, length ${length}`);
    }
  }
});

test('the float32 codec (SIMD above 1,024 floats) gives the loops’ bits in the wire and in mine', (t) => {
  for (const length of [10, 5_000, 70_001]) {
    for (const n of [2, 3]) {
      const wireF = randomFloats(length);
      const mine = randomFloats(length);
      const wire = new Uint8Array(wireF.buffer.slice(0));
      const m = mine.slice();
      FLOAT32.addMeanInto(wire, m, n);
      const ref = wireF.slice();
      meanRef(ref, mine, n);
      t.true(bits(new Float32Array(wire.buffer)).equals(bits(ref)), `wire, length ${length}, n ${n}`);
      t.true(bits(m).equals(bits(ref)), `mine, length ${length}, n ${n}`);
      const w2 = new Uint8Array(wireF.buffer.slice(0));
      FLOAT32.addInto(w2, mine);
      const r2 = wireF.slice();
      addRef(r2, mine);
      t.true(bits(new Float32Array(w2.buffer)).equals(bits(r2)), `addInto, length ${length}`);
    }
  }
});
