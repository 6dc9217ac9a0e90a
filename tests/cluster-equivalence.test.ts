/**
 * N workers at global batch B learn what one worker learns at batch B. With a model without
 * BatchNorm and Dropout (the `mlp-plain` test variant), 2 and 3 workers end K steps with the
 * weights of a single-process run, up to float32 reduction order. Bound: 1e-5 relative, the
 * issue's; seen here with seed 1: G 1.6e-7 and D 1.9e-7 with 2 workers, G 5.2e-7 and D 2.3e-7
 * with 3 on OpenBLAS (wasm+blas); G 1.9e-7 / D 1.2e-7 and G 2.8e-7 / D 1.3e-7 with --blas off.
 *
 * Why seed 1 (it was 3): LeakyReLU amplifies rounding. When a pre-activation lies within float32
 * rounding of 0, one summation order (batch 96 in one process) puts it on the other side of the
 * kink than another (two halves of 48 summed by the all-reduce), and every gradient through that
 * unit changes at the 1e-3 level; Adam carries that into the weights. With OpenBLAS, seed 3 hits
 * such a unit at step 1 (G's first layer, unit 246: weights 4.9e-4 apart after 6 steps, the same
 * with 1 or 2 BLAS threads); seeds 1, 2, 4 and 5 stay below 1.6e-6 with both kernel sets. The
 * kernels themselves agree with the plain wasm ones within 1e-5 on every call of those steps.
 */
import test from 'ava';
import { join } from 'node:path';
import { relativeError } from './helpers/tf.js';
import { runCli, tempDir } from './helpers/cli.js';
import { finalWeights } from './helpers/run.js';

const COMMON = ['--model', 'mlp-plain', '--backend', 'wasm', '--epochs', '1', '--limit', '576', '--batch-size', '96', '--seed', '1'];
const env = { GAN_TEST_MODELS: '1' };


test('2 and 3 workers end 6 steps with the single-process weights (relative error ≤ 1e-5)', async (t) => {
  const dir = await tempDir(t);
  const single = await runCli('train', [...COMMON, '--run-dir', join(dir, 'w1')], { env });
  t.is(single.code, 0, single.stderr);
  const ref = await finalWeights(join(dir, 'w1'));
  for (const n of [2, 3]) {
    const r = await runCli('cluster', ['--workers', String(n), ...COMMON, '--run-dir', join(dir, `w${n}`), '--hash-every', '1'], { env });
    t.is(r.code, 0, r.stderr);
    const w = await finalWeights(join(dir, `w${n}`));
    const [eg, ed] = [relativeError(w.g, ref.g), relativeError(w.d, ref.d)];
    t.log(`${n} workers: relative error G ${eg.toExponential(2)}, D ${ed.toExponential(2)}`);
    t.true(eg <= 1e-5 && ed <= 1e-5, `G ${eg}, D ${ed}`);
  }
});

test('a 1-worker cluster ends bit-identical to single-process training; fp16 gradients stay close and replicas identical', async (t) => {
  const dir = await tempDir(t);
  const single = await runCli('train', [...COMMON, '--run-dir', join(dir, 'w1')], { env });
  t.is(single.code, 0, single.stderr);
  const ref = await finalWeights(join(dir, 'w1'));
  const one = await runCli('cluster', ['--workers', '1', ...COMMON, '--run-dir', join(dir, 'c1')], { env });
  t.is(one.code, 0, one.stderr);
  const w1 = await finalWeights(join(dir, 'c1'));
  t.deepEqual(w1.g, ref.g);
  t.deepEqual(w1.d, ref.d);
  // fp16 on the wire rounds every averaged gradient to 11 significant bits; after 6 Adam steps the
  // weights differ from float32 training by ~1e-4 relative (seen: G 1.3e-4, D 5.3e-5).
  const half = await runCli('cluster', ['--workers', '2', ...COMMON, '--grad-compression', 'fp16', '--hash-every', '1', '--run-dir', join(dir, 'f2')], { env });
  t.is(half.code, 0, half.stderr);
  const w2 = await finalWeights(join(dir, 'f2'));
  const [eg, ed] = [relativeError(w2.g, ref.g), relativeError(w2.d, ref.d)];
  t.log(`fp16, 2 workers: relative error G ${eg.toExponential(2)}, D ${ed.toExponential(2)}`);
  t.true(eg < 1e-3 && ed < 1e-3, `G ${eg}, D ${ed}`);
  t.true(eg > 1e-6, 'fp16 should round: an error this small means compression was not applied');
});

test('with BatchNorm and Dropout, replicas stay bit-identical (weights hashed every step)', async (t) => {
  const dir = await tempDir(t);
  const r = await runCli('cluster', ['--workers', '2', '--model', 'mlp', '--backend', 'wasm', '--epochs', '1', '--limit', '384', '--batch-size', '64', '--hash-every', '1', '--run-dir', join(dir, 'run')]);
  t.is(r.code, 0, r.stderr);
  t.notRegex(r.stderr, /replica weights differ/);
});

test('every data plane gives the same bits: 3 workers over shared memory (auto), TCP and ZeroMQ end bit-identical', async (t) => {
  // The shared-memory ring runs schedule.ts's very additions (shm-transport.ts), so the weights
  // must not differ in a single bit from the socket rings'; the workers' logs name the plane used.
  const dir = await tempDir(t);
  const bits: Buffer[] = [];
  for (const plane of ['auto', 'tcp', 'zmq']) {
    const r = await runCli('cluster', ['--workers', '3', ...COMMON, '--data-plane', plane, '--hash-every', '1', '--run-dir', join(dir, plane)], { env });
    t.is(r.code, 0, r.stderr);
    const planes = [...r.stderr.matchAll(/data plane: (.+)/g)].map((m) => m[1].trim());
    t.deepEqual(planes, ['auto', 'shm'].includes(plane) ? ['shm', 'shm', 'shm'] : [plane, plane, plane], r.stderr);
    const w = await finalWeights(join(dir, plane));
    bits.push(Buffer.concat([Buffer.from(w.g.buffer), Buffer.from(w.d.buffer)]));
  }
  t.true(bits[0].equals(bits[1]), 'shared memory = TCP');
  t.true(bits[0].equals(bits[2]), 'shared memory = ZeroMQ');
});
