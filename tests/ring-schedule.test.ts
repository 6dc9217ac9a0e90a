/**
 * The ring collectives (schedule.ts) over an in-memory transport: the order of additions, what
 * each rank holds after each collective, and how many bytes each rank sends. No sockets: the
 * ZeroMQ transport has its own tests (ring-allreduce, ring-auth, ring-allreduce-processes).
 */
import test from 'ava';
import { FLOAT32, FP16, type Codec } from '../src/shared/allreduce/codec.js';
import { allGather, allReduceMean, broadcast, ownedSegment, reduceScatterMean, reduceScatterUpdateGather, segmentBounds, type CollectiveArgs } from '../src/shared/allreduce/schedule.js';
import { AG, AllReduceTimeoutError, FL } from '../src/shared/allreduce/transport.js';
import { MemoryTransport } from './helpers/memory-transport.js';
import { bitIdentical, rankInput, ringReference } from './helpers/ring.js';

const args = (codec: Codec = FLOAT32, chunkBytes = 4096, seq = 0): CollectiveArgs => ({ seq, codec, chunkBytes });

for (const world of [1, 2, 3, 4, 5]) {
  for (const length of [0, 1, world + 1, 10_007]) {
    test(`allReduceMean, ${world} rank(s), length ${length}: every rank holds the fixed-order float32 reference`, async (t) => {
      const ts = MemoryTransport.ring(world);
      const inputs = Array.from({ length: world }, (_, r) => rankInput(length, r, 3));
      const bufs = inputs.map((x) => x.slice());
      await Promise.all(ts.map((tr, r) => allReduceMean(tr, bufs[r], args())));
      t.true(bitIdentical([...bufs, ringReference(inputs)]));
    });
  }
}

test('allReduceMean with fp16 on the wire equals the half-rounding reference, 4 ranks', async (t) => {
  const ts = MemoryTransport.ring(4);
  const inputs = Array.from({ length: 4 }, (_, r) => rankInput(20_011, r, 4));
  const bufs = inputs.map((x) => x.slice());
  await Promise.all(ts.map((tr, r) => allReduceMean(tr, bufs[r], args(FP16, 1000))));
  t.true(bitIdentical([...bufs, ringReference(inputs, true)]));
});

test('reduceScatterMean leaves each rank its owned segment of the reference, 3 ranks', async (t) => {
  const world = 3;
  const length = 9_001;
  const ts = MemoryTransport.ring(world);
  const inputs = Array.from({ length: world }, (_, r) => rankInput(length, r, 5));
  const bufs = inputs.map((x) => x.slice());
  await Promise.all(ts.map((tr, r) => reduceScatterMean(tr, bufs[r], args())));
  const ref = ringReference(inputs);
  const b = segmentBounds(length, world);
  for (let r = 0; r < world; r++) {
    const k = ownedSegment(r, world);
    t.true(bitIdentical([bufs[r].subarray(b[k], b[k + 1]), ref.subarray(b[k], b[k + 1])]), `rank ${r} owns segment ${k}`);
  }
});

test('reduceScatterMean then allGather gives the same bits as allReduceMean (fp16 and float32)', async (t) => {
  for (const codec of [FLOAT32, FP16]) {
    const world = 4;
    const inputs = Array.from({ length: world }, (_, r) => rankInput(12_345, r, 6));
    const fused = inputs.map((x) => x.slice());
    const split = inputs.map((x) => x.slice());
    const a = MemoryTransport.ring(world);
    await Promise.all(a.map((tr, r) => allReduceMean(tr, fused[r], args(codec, 2048))));
    const b = MemoryTransport.ring(world);
    await Promise.all(b.map((tr, r) => reduceScatterMean(tr, split[r], args(codec, 2048, 0))));
    await Promise.all(b.map((tr, r) => allGather(tr, split[r], args(codec, 2048, 1))));
    t.true(bitIdentical([...fused, ...split]), codec.name);
  }
});

test('allGather copies each owner’s segment to every rank and leaves nothing else', async (t) => {
  const world = 4;
  const length = 1_003;
  const b = segmentBounds(length, world);
  const ts = MemoryTransport.ring(world);
  // Rank r holds 100 + r in its owned segment and garbage elsewhere.
  const bufs = Array.from({ length: world }, (_, r) => {
    const x = new Float32Array(length).fill(-1 - r);
    const k = ownedSegment(r, world);
    x.fill(100 + r, b[k], b[k + 1]);
    return x;
  });
  await Promise.all(ts.map((tr, r) => allGather(tr, bufs[r], args(FLOAT32, 256))));
  const want = new Float32Array(length);
  for (let r = 0; r < world; r++) {
    const k = ownedSegment(r, world);
    want.fill(100 + r, b[k], b[k + 1]);
  }
  t.true(bitIdentical([...bufs, want]));
});

test('each rank sends 2(N−1)/N of the buffer in an all-reduce, whatever the chunk size', async (t) => {
  for (const [world, chunkBytes] of [[2, 4096], [3, 400], [5, 64]] as const) {
    const length = 30_001;
    const ts = MemoryTransport.ring(world);
    const bufs = Array.from({ length: world }, (_, r) => rankInput(length, r));
    await Promise.all(ts.map((tr, r) => allReduceMean(tr, bufs[r], args(FLOAT32, chunkBytes))));
    const b = segmentBounds(length, world);
    for (const tr of ts) {
      // Every segment but its owned one (r + 1) in the reduce-scatter, every one but r + 2 in the all-gather.
      const size = (k: number) => b[(k % world) + 1] - b[k % world];
      const want = 4 * (2 * length - size(tr.rank + 1) - size(tr.rank + 2));
      t.is(tr.sent.reduce((s, m) => s + m.bytes, 0), want, `world ${world}, rank ${tr.rank}`);
      t.true(tr.sent.every((m) => m.bytes <= chunkBytes));
    }
  }
});

for (const world of [2, 3, 4]) {
  test(`reduceScatterUpdateGather, ${world} ranks: one rank's failed check skips the update and the all-gather on every rank; all passing, every rank holds every owner's update`, async (t) => {
    const length = 10_007;
    const inputs = Array.from({ length: world }, (_, r) => rankInput(length, r, 8));
    const ref = ringReference(inputs);
    for (const failing of [-1, ...Array.from({ length: world }, (_, r) => r)]) {
      const ts = MemoryTransport.ring(world);
      const bufs = inputs.map((x) => x.slice());
      const updated = new Array<number>(world).fill(0);
      const checked = new Array<number>(world).fill(0);
      const verdicts = await Promise.all(ts.map((tr, r) => reduceScatterUpdateGather(tr, bufs[r], args(FLOAT32, 4096), args(FLOAT32, 4096), {
        check: (lo, hi) => {
          checked[r] += hi - lo;
          return r !== failing;
        },
        // The update: the averaged value doubled, so what every rank gathers shows who updated it.
        update: (lo, hi) => {
          updated[r] += hi - lo;
          for (let i = lo; i < hi; i++) bufs[r][i] *= 2;
        },
      })));
      const b = segmentBounds(length, world);
      // Every rank checks its whole owned segment, whatever the verdict.
      t.deepEqual(checked, ts.map((tr) => b[ownedSegment(tr.rank, world) + 1] - b[ownedSegment(tr.rank, world)]));
      // One verdict message per ring step, whatever the verdict.
      for (const tr of ts) t.is(tr.sent.filter((m) => m.slot.phase === FL).length, world - 1);
      if (failing >= 0) {
        t.deepEqual(verdicts, new Array(world).fill(false), `rank ${failing} failed its check`);
        t.deepEqual(updated, new Array(world).fill(0));
        for (const tr of ts) t.is(tr.sent.filter((m) => m.slot.phase === AG).length, 0);
        continue;
      }
      t.deepEqual(verdicts, new Array(world).fill(true));
      const doubled = ref.map((x) => x * 2);
      t.true(bitIdentical([...bufs, doubled]));
    }
  });
}

test('broadcast copies root 2’s bytes to every rank of 4, in chunks', async (t) => {
  const world = 4;
  const ts = MemoryTransport.ring(world);
  const root = new Uint8Array(10_001).map((_, i) => (i * 2654435761) >>> 24);
  const bufs = Array.from({ length: world }, (_, r) => (r === 2 ? root.slice() : new Uint8Array(root.length)));
  await Promise.all(ts.map((tr, r) => broadcast(tr, bufs[r], 2, 0, 999)));
  for (const x of bufs) t.true(Buffer.from(x).equals(Buffer.from(root)));
});

test('a rank whose left neighbour never sends fails with AllReduceTimeoutError naming it', async (t) => {
  const ts = MemoryTransport.ring(3, 200);
  const err = await t.throwsAsync(allReduceMean(ts[1], new Float32Array(300), args()), { instanceOf: AllReduceTimeoutError });
  t.is(err?.peer, 0);
  t.is(err?.phase, 'reduce-scatter');
});

/** Random floats over many magnitudes, subnormals, zeros of both signs. */
function wideFloats(n: number, seed: number): Float32Array {
  const x = rankInput(n, 0, seed);
  const bits = new Uint32Array(x.buffer);
  for (let i = 0; i < n; i += 7) bits[i] = (bits[i] * 2654435761) >>> 0;
  for (let i = 3; i < n; i += 101) bits[i] = (bits[i] & 0x807fffff) >>> 0; // subnormal or ±0
  for (let i = 0; i < n; i++) if (!Number.isFinite(x[i])) x[i] = 1;
  return x;
}

test('FLOAT32.addMeanInto equals fround(fround(a + b) / n) bit for bit, n = 2…7 (the power-of-two path too)', (t) => {
  for (let n = 2; n <= 7; n++) {
    const a = wideFloats(50_000, n);
    const b = wideFloats(50_000, n + 100);
    const want = new Float32Array(a.length);
    for (let i = 0; i < a.length; i++) want[i] = Math.fround(Math.fround(a[i] + b[i]) / n);
    const wire = new Uint8Array(a.slice().buffer);
    const mine = b.slice();
    FLOAT32.addMeanInto(wire, mine, n);
    t.true(bitIdentical([new Float32Array(wire.buffer), mine, want]), `n = ${n}`);
  }
});
