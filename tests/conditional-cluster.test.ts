/**
 * A conditional model's labels travel with its images: data-parallel training gives the one-process
 * weights for `cmlp` as for `mlp` (tests/cluster-equivalence.test.ts is the unconditional original;
 * exact resume of cmlp is in tests/resume.test.ts); the conditional DCGAN trains in one process and
 * on a cluster with identical replicas, samples by digit and is evaluated per digit.
 */
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { relativeError } from './helpers/tf.js';
import { runCli, tempDir } from './helpers/cli.js';
import { finalWeights } from './helpers/run.js';


// cmlp-plain: cmlp without BatchNorm and Dropout (per-shard batch statistics differ from the whole
// batch's, so only the plain variant can equal one process), as mlp-plain is for mlp.
// Seed 2: with seeds 1, 3 and 4 a LeakyReLU pre-activation of this 6-step run lies within rounding
// of 0, so the 2-worker sums (half batches, then averaged) flip that unit against one process and
// the error jumps to 1e-5–2e-4 (measured 2026-12-04 with models/dense.ts: seeds 1–4 gave G 3.7e-5,
// 1.7e-7, 1.7e-4, 1.1e-5; with tfjs-layers' fused Dense 1.9e-7, 1.3e-7, 2.1e-7, 1.1e-5; the same
// effect as seed 3 in cluster-equivalence.test.ts). Seed 2 stays at rounding level with both.
const COMMON = ['--model', 'cmlp-plain', '--backend', 'wasm', '--epochs', '1', '--limit', '576', '--batch-size', '96', '--seed', '2'];
const env = { GAN_TEST_MODELS: '1' };

test('cmlp: 2 workers end 6 steps with the single-process weights (relative error ≤ 1e-5)', async (t) => {
  const dir = await tempDir(t);
  const single = await runCli('train', [...COMMON, '--run-dir', join(dir, 'w1')], { env });
  t.is(single.code, 0, single.stderr);
  const ref = await finalWeights(join(dir, 'w1'));
  const r = await runCli('cluster', ['--workers', '2', ...COMMON, '--run-dir', join(dir, 'w2'), '--hash-every', '1'], { env });
  t.is(r.code, 0, r.stderr);
  const w = await finalWeights(join(dir, 'w2'));
  const [eg, ed] = [relativeError(w.g, ref.g), relativeError(w.d, ref.d)];
  t.log(`2 workers: relative error G ${eg.toExponential(2)}, D ${ed.toExponential(2)}`);
  t.true(eg <= 1e-5 && ed <= 1e-5, `G ${eg}, D ${ed}`);
});

test('cdcgan: one process and 2 workers (replicas hashed every step) train, a checkpoint draws one digit or a row per digit, eval scores each digit', async (t) => {
  const dir = await tempDir(t);
  const flags = ['--model', 'cdcgan', '--backend', 'wasm', '--epochs', '1', '--limit', '64', '--batch-size', '32', '--seed', '1', '--progress', 'off'];
  const single = await runCli('train', [...flags, '--run-dir', join(dir, 'w1')]);
  t.is(single.code, 0, single.stderr.slice(-2000));
  const r = await runCli('cluster', ['--workers', '2', ...flags, '--run-dir', join(dir, 'w2'), '--hash-every', '1']);
  t.is(r.code, 0, r.stderr.slice(-2000));
  t.regex(r.stderr, /done: 2 steps/);
  t.notRegex(r.stderr, /replica weights differ/);
  for (const run of ['w1', 'w2']) {
    const one = await runCli('sample', ['--ckpt', 'latest', '--run-dir', join(dir, run), '--backend', 'wasm', '--digit', '4', '--n', '4', '--out', join(dir, `${run}-fours.png`)]);
    t.is(one.code, 0, one.stderr);
    t.regex(one.stderr, /wrote 4 samples of digit 4 /);
  }
  const rows = await runCli('sample', ['--ckpt', 'latest', '--run-dir', join(dir, 'w2'), '--backend', 'wasm', '--out', join(dir, 'rows.png')]);
  t.is(rows.code, 0, rows.stderr);
  t.regex(rows.stderr, /wrote 80 samples, one row of 8 per digit 0-9, /);
  const json = join(dir, 'eval.json');
  const e = await runCli('eval', ['--ckpt', 'latest', '--run-dir', join(dir, 'w2'), '--backend', 'wasm', '--n', '200', '--json', json]);
  t.is(e.code, 0, e.stderr);
  const j = JSON.parse(await readFile(json, 'utf8'));
  t.is(j.conditional.perDigit.length, 10);
  t.true(j.conditional.accuracy >= 0 && j.conditional.accuracy <= 1);
});
