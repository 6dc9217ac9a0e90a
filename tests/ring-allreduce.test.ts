import test, { type ExecutionContext } from 'ava';
import { curveKeyPair } from 'zeromq';
import { AllReduceError, RingAllReduce, type RingArgs } from '../src/shared/allreduce/ring.js';
import { bitIdentical, inProcessRing, rankInput, ringReference } from './helpers/ring.js';

const U32 = 2 ** -24; // unit roundoff of float32
const U16 = 2 ** -11; // unit roundoff of float16

/**
 * Runs one all-reduce over N in-process ranks and checks it three ways:
 * 1. every rank holds the same bits;
 * 2. those bits are exactly the float32 computation in the ring's fixed order (ringReference);
 * 3. they are within the rounding bound of the float64 mean m = Σx/N. The ring does N−1 correctly
 *    rounded float32 additions then one correctly rounded division, so (Higham, recursive
 *    summation) |fl(Σx) − Σx| ≤ γ(N−1)·Σ|x| with γ(n) = n·u/(1 − n·u), u = 2^-24, and the
 *    division adds at most u·|m| (plus u times the sum error, second order):
 *    |got − m| ≤ γ(N−1)·Σ|x|/N·(1 + u) + u·|m|. With fp16 on the wire every partial sum is also
 *    rounded to half (relative u16 = 2^-11) and so is the final mean, giving the looser
 *    |got − m| ≤ (N−1)·(u16 + u)·(1 + u16)·Σ|x|/N + u16·|m|·(1 + u16) (normal range: inputs are
 *    O(1), far from half subnormals).
 */
async function checkMean(t: ExecutionContext, world: number, length: number, args: Partial<RingArgs> = {}, seed = 1): Promise<void> {
  const rings = await inProcessRing(t, world, args);
  const inputs = Array.from({ length: world }, (_, r) => rankInput(length, r, seed));
  const bufs = inputs.map((x) => x.slice());
  await Promise.all(rings.map((ring, r) => ring.allReduceMean(bufs[r])));
  const fp16 = args.compression === 'fp16';

  t.true(bitIdentical(bufs), 'every rank holds the same bits');
  t.true(bitIdentical([bufs[0], ringReference(inputs, fp16)]), 'bits equal the fixed-order float32 reference');

  const n = world - 1;
  const gamma = (n * U32) / (1 - n * U32);
  let worst = 0;
  for (let i = 0; i < length; i++) {
    let sum = 0;
    let abs = 0;
    for (let r = 0; r < world; r++) {
      sum += inputs[r][i];
      abs += Math.abs(inputs[r][i]);
    }
    const m = sum / world;
    const bound = fp16 ? (n * (U16 + U32) * (1 + U16) * abs) / world + U16 * Math.abs(m) * (1 + U16) : ((gamma * abs) / world) * (1 + U32) + U32 * Math.abs(m);
    const err = Math.abs(bufs[0][i] - m);
    if (err > bound) worst = Math.max(worst, err / bound);
  }
  t.is(worst, 0, 'every element within the rounding bound of the float64 mean');
}

// Every behaviour of the wire is checked on both transports (the ring picks 'tcp' unless CurveZMQ
// is on); the collectives above them are the same code.
for (const transport of ['tcp', 'zmq', 'shm'] as const) {
  for (let world = 1; world <= 5; world++) {
    const lengths = [...new Set([0, 1, 3, world - 1, 7 * world + 3, 1_000_003])].sort((a, b) => a - b);
    for (const length of lengths) {
      if (world === 1 && transport !== 'tcp') continue; // world 1 opens no transport at all
      test(`${transport}: mean over ${world} rank(s), length ${length}`, async (t) => {
        await checkMean(t, world, length, { secret: Buffer.from('test secret'), transport });
      });
    }
  }

  test(`${transport}: many small chunks per segment (chunkBytes 64) pipeline correctly, 4 ranks`, async (t) => {
    await checkMean(t, 4, 10_007, { chunkBytes: 64, transport });
  });

  test(`${transport}: fp16 on the wire: bit-identical on every rank and within the half-precision bound, 3 ranks`, async (t) => {
    await checkMean(t, 3, 100_003, { compression: 'fp16', secret: Buffer.from('s'), transport });
  });

  test(`${transport}: fp16 on the wire with small chunks, 4 ranks`, async (t) => {
    await checkMean(t, 4, 5_003, { compression: 'fp16', chunkBytes: 32, transport });
  });

  test(`${transport}: broadcast delivers the root’s bytes to every rank (Uint8Array, root 2 of 4)`, async (t) => {
    const world = 4;
    const rings = await inProcessRing(t, world, { chunkBytes: 4096, secret: Buffer.from('s'), transport });
    const length = 100_003;
    const root = new Uint8Array(length);
    for (let i = 0; i < length; i++) root[i] = (i * 2654435761) >>> 24;
    const bufs = Array.from({ length: world }, (_, r) => (r === 2 ? root.slice() : new Uint8Array(length)));
    await Promise.all(rings.map((ring, r) => ring.broadcast(bufs[r], 2)));
    for (const b of bufs) t.true(Buffer.from(b).equals(Buffer.from(root)));
  });

  test(`${transport}: a rank that goes mid-run is named as the peer by the rank it fed, 3 ranks`, async (t) => {
    // The coordinator blames the rank a ring error names (gan_worker_lost_total), so the rank that
    // receives from the dead one must name it, whether the loss shows as a close (tcp) or silence (zmq).
    const rings = await inProcessRing(t, 3, { transport, timeoutMs: 1500 });
    rings[1].close();
    const results = await Promise.allSettled([rings[0], rings[2]].map((ring) => ring.allReduceMean(new Float32Array(30_000))));
    const fed = results[1];
    t.is(fed.status, 'rejected');
    t.is(((fed as PromiseRejectedResult).reason as { peer?: number }).peer, 1, String((fed as PromiseRejectedResult).reason));
  });
}

test('the ring runs on TCP by default and on ZeroMQ when CurveZMQ is on; TCP with CurveZMQ is refused', async (t) => {
  const plain = await RingAllReduce.bind({ rank: 0, world: 2 });
  t.teardown(() => plain.close());
  t.is(plain.transportKind, 'tcp');
  const kp = curveKeyPair();
  const curved = await RingAllReduce.bind({ rank: 0, world: 2, curve: kp });
  t.teardown(() => curved.close());
  t.is(curved.transportKind, 'zmq');
  await t.throwsAsync(RingAllReduce.bind({ rank: 0, world: 2, curve: kp, transport: 'tcp' }), { message: /CurveZMQ needs the zmq transport/ });
});

test('CurveZMQ-encrypted ring reduces correctly, 3 ranks', async (t) => {
  const kp = curveKeyPair();
  await checkMean(t, 3, 100_003, { curve: { publicKey: kp.publicKey, secretKey: kp.secretKey }, secret: Buffer.from('s') });
});

test('repeated collectives of different lengths (D, G, D, …): seq advances and each result is right', async (t) => {
  const world = 3;
  const rings = await inProcessRing(t, world, { secret: Buffer.from('s'), chunkBytes: 1024 });
  for (let round = 0; round < 6; round++) {
    const length = round % 2 === 0 ? 5_000 : 37;
    const inputs = Array.from({ length: world }, (_, r) => rankInput(length, r, round + 10));
    const bufs = inputs.map((x) => x.slice());
    await Promise.all(rings.map((ring, r) => ring.allReduceMean(bufs[r])));
    t.true(bitIdentical([...bufs, ringReference(inputs)]), `round ${round}`);
  }
  t.deepEqual(
    rings.map((r) => r.nextSeq),
    [6, 6, 6],
  );
  t.is(rings[0].stats.rejected, 0);
  t.true(rings[0].stats.lastDurationMs > 0);
});

test('broadcast of a Float32Array from rank 0, then an all-reduce on the same ring', async (t) => {
  const world = 3;
  const rings = await inProcessRing(t, world);
  const weights = rankInput(300_001, 0, 7);
  const bufs = Array.from({ length: world }, (_, r) => (r === 0 ? weights.slice() : new Float32Array(weights.length)));
  await Promise.all(rings.map((ring, r) => ring.broadcast(bufs[r])));
  t.true(bitIdentical([...bufs, weights]));
  const inputs = Array.from({ length: world }, (_, r) => rankInput(1_001, r, 8));
  const grads = inputs.map((x) => x.slice());
  await Promise.all(rings.map((ring, r) => ring.allReduceMean(grads[r])));
  t.true(bitIdentical([...grads, ringReference(inputs)]));
});

test('world 1 opens no sockets and every collective is the identity', async (t) => {
  const ring = await RingAllReduce.bind({ rank: 0, world: 1 });
  t.teardown(() => ring.close());
  t.is(ring.endpoint, '');
  await ring.connect(['tcp://127.0.0.1:1']);
  const x = rankInput(1000, 0);
  const buf = x.slice();
  await ring.allReduceMean(buf);
  await ring.broadcast(buf);
  t.true(bitIdentical([buf, x]));
  t.is(ring.nextSeq, 2);
});

test('a second collective on the same instance while one is running is refused', async (t) => {
  const rings = await inProcessRing(t, 2);
  const a = [new Float32Array(1000), new Float32Array(1000)];
  const first = Promise.all(rings.map((ring, r) => ring.allReduceMean(a[r])));
  await t.throwsAsync(rings[0].allReduceMean(new Float32Array(10)), { instanceOf: AllReduceError, message: /already in progress/ });
  await first;
});

test('close() is idempotent and later collectives reject', async (t) => {
  const rings = await inProcessRing(t, 2);
  rings[0].close();
  rings[0].close();
  await t.throwsAsync(rings[0].allReduceMean(new Float32Array(4)), { instanceOf: AllReduceError, message: /closed/ });
});

test('buffers that are views into larger ArrayBuffers (non-zero byteOffset) reduce in place, the rest untouched', async (t) => {
  const world = 3;
  const rings = await inProcessRing(t, world, { compression: 'fp16' });
  const length = 10_001;
  const inputs = Array.from({ length: world }, (_, r) => rankInput(length, r));
  const backing = inputs.map((x) => {
    const all = new Float32Array(length + 8).fill(-7);
    all.set(x, 3);
    return all;
  });
  const bufs = backing.map((all) => all.subarray(3, 3 + length));
  await Promise.all(rings.map((ring, r) => ring.allReduceMean(bufs[r])));
  t.true(bitIdentical([...bufs, ringReference(inputs, true)]));
  for (const all of backing) t.deepEqual([...all.subarray(0, 3), ...all.subarray(3 + length)], [-7, -7, -7, -7, -7, -7, -7, -7]);
});
