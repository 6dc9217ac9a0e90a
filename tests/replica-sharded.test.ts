/**
 * The sharded optimizer (ZeRO stage 1, replica.ts): each rank runs Adam on the segment of the
 * parameters it owns after the reduce-scatter and the all-gather carries the new parameters. It
 * must give the bits of the unsharded step (all-reduce, then Adam on everything on every rank),
 * skip a step on every rank alike when any rank's segment is not finite, and gather whole Adam
 * states for checkpoints. Real rings over local sockets, in this process.
 */
import test, { type ExecutionContext } from 'ava';
import type { ShardedReducer } from '../src/shared/allreduce/ring.js';
import { selectBackend } from '../src/shared/backend/select.js';
import { Adam, allFinite } from '../src/shared/optimizer.js';
import { Replica } from '../src/shared/replica.js';
import { Rng } from '../src/shared/rng.js';
import { bitIdentical, inProcessRing, rankInput } from './helpers/ring.js';
import { relativeError, snapshotWeights } from './helpers/tf.js';

const adamArgs = { lr: 2e-4, beta1: 0.5, beta2: 0.999 };
const BATCH = 8;

test.before(async () => {
  await selectBackend('wasm');
});

/** Adam in float64 (no float32 rounding of the moments), the reference for the kernel. */
function adam64(p: Float64Array, g: Float32Array, m: Float64Array, v: Float64Array, t: number): void {
  const { lr, beta1: b1, beta2: b2 } = adamArgs;
  for (let i = 0; i < p.length; i++) {
    m[i] = b1 * m[i] + (1 - b1) * g[i];
    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    p[i] -= (lr * (m[i] / (1 - b1 ** t))) / (Math.sqrt(v[i] / (1 - b2 ** t)) + 1e-8);
  }
}

test.serial('Adam: stepPiece over pieces + endStep is step, bit for bit, and both follow a float64 Adam within 1e-6 on fresh random inputs', (t) => {
  const n = 50_001;
  const seed = (Date.now() % 100_000) + 1;
  t.log(`seed ${seed}`);
  // Parameters near 0, so that the comparison of the updates is not swamped by the float32
  // rounding of the parameters themselves.
  const p0 = rankInput(n, 0, seed).map((x) => x * 1e-4);
  const [a, b] = [new Adam(n, adamArgs), new Adam(n, adamArgs)];
  const [pa, pb] = [p0.slice(), p0.slice()];
  const [p64, m64, v64] = [Float64Array.from(p0), new Float64Array(n), new Float64Array(n)];
  // Uneven pieces, each written into the gradients' own buffer (as the sharded step does).
  const cuts = [0, 7, 20_000, 20_001, n];
  for (let s = 1; s <= 5; s++) {
    const g = rankInput(n, s, seed);
    a.step(pa, g);
    const out = g.slice();
    for (let k = 0; k + 1 < cuts.length; k++) {
      const [lo, hi] = [cuts[k], cuts[k + 1]];
      b.stepPiece(pb.subarray(lo, hi), out.subarray(lo, hi), out.subarray(lo, hi), lo);
    }
    if (s === 1) t.true(bitIdentical([pb, p0]), 'stepPiece must write the parameters to out only');
    b.endStep();
    pb.set(out);
    adam64(p64, g, m64, v64, s);
    t.true(bitIdentical([pa, pb]), `step ${s}: parameters differ`);
    t.true(bitIdentical([a.m, b.m]) && bitIdentical([a.v, b.v]), `step ${s}: moments differ`);
  }
  const delta = (p: ArrayLike<number>) => Float64Array.from(p0, (x, i) => p[i] - x);
  const err = relativeError(delta(pa), delta(p64));
  t.log(`relative error of the update against float64: ${err.toExponential(2)}`);
  t.true(err < 1e-6, String(err));
  t.is(a.t, 5);
  t.is(b.t, 5);
});

test.serial('Adam: a piece outside the held moments is refused; the state is the two moment vectors', (t) => {
  const a = new Adam(4, adamArgs);
  const p = Float32Array.of(1, 2, 3);
  t.throws(() => a.stepPiece(p, Float32Array.of(1, 1, 1), new Float32Array(3), 2), { instanceOf: RangeError });
  t.throws(() => a.stepPiece(p, Float32Array.of(1, 1), new Float32Array(3)), { instanceOf: RangeError });
  t.is(a.t, 0);
  t.deepEqual([...a.m, ...a.v], new Array(8).fill(0));
  t.is(a.stateBytes, 2 * 4 * 4);
});

/** N ranks' flat buffers through the unsharded path (all-reduce, then Adam on all) and the sharded one; returns both ranks' parameters. */
async function ringAdam(t: ExecutionContext, world: number, compression: 'none' | 'fp16', n: number, seed: number) {
  const plain = await inProcessRing(t, world, { compression });
  const sharded = await inProcessRing(t, world, { compression });
  const reducers = sharded.map((r) => r.asShardedReducer());
  const p0 = rankInput(n, 99, seed).map((x) => x / 8);
  const whole = plain.map(() => ({ p: p0.slice(), adam: new Adam(n, adamArgs) }));
  const parts = reducers.map((r) => {
    const [lo, hi] = r.ownedRange(n);
    return { p: p0.slice() as Float32Array, adam: new Adam(hi - lo, adamArgs) };
  });
  for (let s = 0; s < 3; s++) {
    await Promise.all(plain.map(async (ring, r) => {
      const g = rankInput(n, r + 10 * s, seed);
      await ring.allReduceMean(g);
      whole[r].adam.step(whole[r].p, g);
    }));
    await Promise.all(reducers.map(async (red, r) => {
      const g = rankInput(n, r + 10 * s, seed);
      const x = parts[r];
      const [own] = red.ownedRange(n);
      const ok = await red.reduceUpdateGather(g, {
        check: (lo, hi) => allFinite(g.subarray(lo, hi)),
        update: (lo, hi) => x.adam.stepPiece(x.p.subarray(lo, hi), g.subarray(lo, hi), g.subarray(lo, hi), lo - own),
      });
      t.true(ok);
      x.adam.endStep();
      x.p = g;
    }));
  }
  return { whole: whole.map((w) => w.p), sharded: parts.map((x) => x.p), segments: parts.map((x) => x.adam.m.length) };
}

for (const [world, compression] of [[2, 'none'], [3, 'none'], [3, 'fp16']] as const) {
  test.serial(`${world} ranks, ${compression}: sharded Adam gives the unsharded parameters bit for bit, and every rank the same`, async (t) => {
    const n = 100_003;
    const seed = (Date.now() % 100_000) + 1;
    const out = await ringAdam(t, world, compression, n, seed);
    t.true(bitIdentical([...out.whole, ...out.sharded]), `seed ${seed}`);
    // Each rank holds the moments of its segment only: 1/world of them.
    t.is(out.segments.reduce((a, b) => a + b, 0), n);
    t.true(Math.max(...out.segments) <= Math.ceil(n / world));
  });
}

function realBatch(seed: number, size: number): Float32Array {
  const rng = Rng.stream(seed, 'test');
  return Float32Array.from({ length: BATCH * size }, () => rng.uniform() * 2 - 1);
}

/** Two replicas of `model` with the same seed (rank 0's and rank 1's). */
function pair(model: 'mlp' | 'dcgan') {
  return [0, 1].map(() => new Replica({ model, latent: 100, seed: 3, adam: adamArgs }));
}

/** `count` steps of every replica together from step `from`; each step's skipped flags per rank. */
async function steps(reps: Replica[], reducers: ((r: number) => Parameters<Replica['trainStep']>[3]), from: number, count: number) {
  const skipped: boolean[][] = [];
  for (let s = from; s < from + count; s++) {
    const out = await Promise.all(reps.map((rep, r) => rep.trainStep(realBatch(s * 2 + r, 784), BATCH, { epoch: 0, step: s, rank: r, world: reps.length }, reducers(r))));
    skipped.push(out.map((o) => o.skipped));
  }
  return skipped;
}

function weights(rep: Replica): Float32Array[] {
  return [rep.gan.discriminator, rep.gan.generator].flatMap((m) => [...snapshotWeights(m).values()]);
}

for (const model of ['mlp', 'dcgan'] as const) {
  test.serial(`${model}, 2 replicas: sharded steps end with the weights, BatchNorm statistics and Adam states of unsharded ones, bit for bit`, async (t) => {
    const plainRings = await inProcessRing(t, 2);
    const shardRings = await inProcessRing(t, 2);
    const plain = pair(model);
    const sharded = pair(model);
    const count = 2;
    await steps(plain, (r) => (buf: Float32Array) => plainRings[r].allReduceMean(buf), 0, count);
    const reducers = shardRings.map((x) => x.asShardedReducer());
    await steps(sharded, (r) => reducers[r], 0, count);
    t.true(sharded.every((s) => s.sharded));
    const [w0, w1, p0] = [weights(sharded[0]), weights(sharded[1]), weights(plain[0])];
    t.is(w0.length, p0.length);
    for (let i = 0; i < p0.length; i++) t.true(bitIdentical([p0[i], w0[i], w1[i]]), `weight ${i}`);
    t.is(sharded[0].weightsHash(), plain[1].weightsHash());
    t.throws(() => sharded[0].optimizerStates(), { message: /sharded across the ranks/ });
    const gathered = await Promise.all(sharded.map((s, r) => s.gatherOptimizerStates(reducers[r])));
    const ref = plain[0].optimizerStates();
    for (const g of gathered) {
      for (const net of ['D', 'G'] as const) {
        t.is(g[net].t, ref[net].t);
        t.true(bitIdentical([g[net].m, ref[net].m]) && bitIdentical([g[net].v, ref[net].v]), `${net} moments`);
      }
    }
    t.deepEqual(sharded[0].exportState(), plain[0].exportState());
  });
}

test.serial('a non-finite gradient in one rank\'s segment skips the step on every rank, as unsharded training skips it', async (t) => {
  const shardRings = await inProcessRing(t, 2);
  const plainRings = await inProcessRing(t, 2);
  const reducers = shardRings.map((x) => x.asShardedReducer());
  const sharded = pair('mlp');
  const plain = pair('mlp');
  // In the step to poison, rank 1 puts an Infinity into one gradient of D's buffer (the first
  // reduced) inside the segment rank 0 owns: only rank 0 sees it after the reduce-scatter.
  const armed = [false, false];
  const poison = (r: number, buf: Float32Array) => {
    if (!armed[r]) return;
    armed[r] = false;
    if (r === 1) buf[reducers[0].ownedRange(buf.length)[0] + 5] = Infinity;
  };
  const poisoning = (r: number): ShardedReducer => ({
    kind: 'sharded',
    world: 2,
    segmentBounds: (n) => reducers[r].segmentBounds(n),
    ownedRange: (n) => reducers[r].ownedRange(n),
    allGather: (buf) => reducers[r].allGather(buf),
    reduceUpdateGather: (buf, update) => {
      poison(r, buf);
      return reducers[r].reduceUpdateGather(buf, update);
    },
  });
  const plainPoisoning = (r: number) => (buf: Float32Array) => {
    poison(r, buf);
    return plainRings[r].allReduceMean(buf);
  };
  await steps(sharded, poisoning, 0, 1);
  await steps(plain, plainPoisoning, 0, 1);
  const dBefore = sharded.map((rep) => [...snapshotWeights(rep.gan.discriminator).values()]);
  armed.fill(true);
  t.deepEqual(await steps(sharded, poisoning, 1, 1), [[true, true]]);
  armed.fill(true);
  t.deepEqual(await steps(plain, plainPoisoning, 1, 1), [[true, true]]);
  for (const r of [0, 1]) {
    const dAfter = [...snapshotWeights(sharded[r].gan.discriminator).values()];
    dBefore[r].forEach((w, i) => t.true(bitIdentical([w, dAfter[i]]), `rank ${r}: D weight ${i} changed in a skipped step`));
  }
  const gathered = await Promise.all(sharded.map((s, r) => s.gatherOptimizerStates(reducers[r])));
  t.is(gathered[0].D.t, 1, 'the skipped D half must not count');
  t.is(gathered[0].G.t, 2, "the step's G half is not skipped");
  t.deepEqual(await steps(sharded, poisoning, 2, 1), [[false, false]]);
  await steps(plain, plainPoisoning, 2, 1);
  const [w0, w1, p0] = [weights(sharded[0]), weights(sharded[1]), weights(plain[0])];
  for (let i = 0; i < p0.length; i++) t.true(bitIdentical([p0[i], w0[i], w1[i]]), `weight ${i}`);
});

test.serial('Adam memory per rank falls by N: after sharded steps each of 2 ranks holds half the moments, no more', async (t) => {
  const rings = await inProcessRing(t, 2);
  const reducers = rings.map((x) => x.asShardedReducer());
  const sharded = pair('mlp');
  const whole = sharded[0].optimizerBytes;
  t.is(whole, 2 * 4 * (sharded[0].sizes.D + sharded[0].sizes.G));
  await steps(sharded, (r) => reducers[r], 0, 2);
  const held = sharded.map((rep) => rep.optimizerBytes);
  t.log(`Adam state: ${whole} bytes unsharded, ${held.join(' + ')} sharded over 2 ranks`);
  t.is(held[0] + held[1], whole);
  // Segments are cut over G's buffer with its BatchNorm statistics, which hold no moments: near half.
  for (const h of held) t.true(h / whole < 0.51, `${h} bytes on one rank`);
});

test.serial('a sharded replica refuses an unsharded step, and whole states loaded into it unshard it', async (t) => {
  const rings = await inProcessRing(t, 1);
  const [rep] = pair('mlp');
  const red = rings[0].asShardedReducer();
  rep.shardOptimizer(red);
  t.true(rep.sharded);
  await t.throwsAsync(() => rep.trainStep(realBatch(1, 784), BATCH, { epoch: 0, step: 0, rank: 0, world: 1 }, (b: Float32Array) => void b), { message: /sharded/ });
  const whole = await rep.gatherOptimizerStates(red);
  rep.loadOptimizerStates(whole);
  t.false(rep.sharded);
  t.is(rep.optimizerStates().D.m.length, rep.sizes.D);
});

test.serial('gradient norm: the ranks\' shares of the squared norm add up to the same whole, sharded or not', async (t) => {
  const plainRings = await inProcessRing(t, 2);
  const shardRings = await inProcessRing(t, 2);
  const reducers = shardRings.map((x) => x.asShardedReducer());
  const [plain, sharded] = [pair('mlp'), pair('mlp')];
  const pos = (r: number) => ({ epoch: 0, step: 0, rank: r, world: 2 });
  const a = await Promise.all(plain.map((rep, r) => rep.trainStep(realBatch(r, 784), BATCH, pos(r), (buf: Float32Array) => plainRings[r].allReduceMean(buf))));
  const b = await Promise.all(sharded.map((rep, r) => rep.trainStep(realBatch(r, 784), BATCH, pos(r), reducers[r])));
  for (const k of ['gradSqD', 'gradSqG'] as const) {
    const [whole, shares] = [a[0][k] + a[1][k], b[0][k] + b[1][k]];
    t.true(whole > 0 && Number.isFinite(whole), `${k} ${whole}`);
    // Replicated: each reports half of the whole; sharded: each its own segment's, different parts.
    t.is(a[0][k], a[1][k]);
    t.not(b[0][k], b[1][k]);
    t.true(Math.abs(shares - whole) / whole < 1e-9, `${k}: sharded ${shares}, replicated ${whole}`);
  }
});
