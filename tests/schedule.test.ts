import test from 'ava';
import type { MnistSplit } from '../src/shared/data/mnist.js';
import { batchIndices, epochPermutation, gatherImages, stepsPerEpoch } from '../src/shared/data/schedule.js';

const N = 1003;
const BATCH = 64;

test('each image is used at most once per epoch and exactly floor(n/b)*b are used', (t) => {
  const perm = epochPermutation(7, 0, N);
  const steps = stepsPerEpoch(N, BATCH);
  t.is(steps, 15);
  const count = new Uint8Array(N);
  for (let s = 0; s < steps; s++) for (const i of batchIndices(perm, s, BATCH)) count[i]++;
  t.true(count.every((c) => c <= 1));
  t.is(count.reduce((a, c) => a + c, 0), steps * BATCH);
  // The dropped remainder is exactly the tail of the permutation.
  const unused = [...count.keys()].filter((i) => count[i] === 0).sort((a, b) => a - b);
  t.deepEqual(unused, [...perm.subarray(steps * BATCH)].sort((a, b) => a - b));
});

test('the permutation is a permutation of 0..n-1', (t) => {
  const perm = [...epochPermutation(1, 3, N)].sort((a, b) => a - b);
  t.deepEqual(perm, Array.from({ length: N }, (_, i) => i));
});

test('the permutation is recomputed identically from (seed, epoch)', (t) => {
  const a = epochPermutation(42, 5, N).slice();
  epochPermutation(42, 6, N); // evict the cache
  const b = epochPermutation(42, 5, N);
  t.deepEqual(b, a);
});

test('repeated calls for the same epoch return the cached array', (t) => {
  t.is(epochPermutation(9, 2, N), epochPermutation(9, 2, N));
});

test('different epochs and different seeds give different orders', (t) => {
  const e0 = epochPermutation(42, 0, N).slice();
  const e1 = epochPermutation(42, 1, N).slice();
  const s1 = epochPermutation(43, 0, N).slice();
  t.notDeepEqual(e1, e0);
  t.notDeepEqual(s1, e0);
});

test('shards for world 1..4 are disjoint and together make the global batch', (t) => {
  const perm = epochPermutation(3, 0, N);
  const batch = 24;
  for (let world = 1; world <= 4; world++) {
    for (let step = 0; step < stepsPerEpoch(N, batch); step++) {
      const global = batchIndices(perm, step, batch);
      const joined: number[] = [];
      for (let rank = 0; rank < world; rank++) {
        const shard = batchIndices(perm, step, batch, rank, world);
        t.is(shard.length, batch / world);
        joined.push(...shard);
      }
      t.is(new Set(joined).size, batch);
      t.deepEqual(joined, [...global]);
    }
  }
});

test('batch size not divisible by world is an error', (t) => {
  const perm = epochPermutation(3, 0, N);
  t.throws(() => batchIndices(perm, 0, 64, 0, 3), { message: /batch size 64 is not divisible by the number of workers 3/ });
});

test('step past the end of the epoch is an error', (t) => {
  const perm = epochPermutation(3, 0, N);
  t.throws(() => batchIndices(perm, stepsPerEpoch(N, BATCH), BATCH), { message: /step must be an integer in \[0, 15\)/ });
});

test('gatherImages copies the selected images batch-major', (t) => {
  const rows = 2;
  const cols = 3;
  const count = 5;
  const images = Float32Array.from({ length: count * rows * cols }, (_, i) => i);
  const split: MnistSplit = { images, labels: new Uint8Array(count), count, rows, cols };
  const out = new Float32Array(2 * 6);
  const r = gatherImages(split, Uint32Array.of(4, 1), out);
  t.is(r, out);
  t.deepEqual([...r], [24, 25, 26, 27, 28, 29, 6, 7, 8, 9, 10, 11]);
  t.throws(() => gatherImages(split, [5]), { message: /index 5 out of range/ });
});
