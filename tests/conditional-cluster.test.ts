/**
 * A conditional model's labels travel with its images: data-parallel training gives the one-process
 * weights for `cmlp` as for `mlp` (tests/cluster-equivalence.test.ts is the unconditional original;
 * exact resume of cmlp is in tests/resume.test.ts).
 */
import test from 'ava';
import { join } from 'node:path';
import { relativeError } from './helpers/tf.js';
import { runCli, tempDir } from './helpers/cli.js';
import { finalWeights } from './helpers/run.js';


// cmlp-plain: cmlp without BatchNorm and Dropout (per-shard batch statistics differ from the whole
// batch's, so only the plain variant can equal one process), as mlp-plain is for mlp.
const COMMON = ['--model', 'cmlp-plain', '--backend', 'wasm', '--epochs', '1', '--limit', '576', '--batch-size', '96', '--seed', '1'];
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
