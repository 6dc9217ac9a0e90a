/**
 * A conditional model's labels travel with its images: data-parallel training, checkpoints and
 * exact resume work for `cmlp` as they do for `mlp` (tests/cluster-equivalence.test.ts and
 * tests/resume.test.ts are the unconditional originals; the helpers and bounds are theirs).
 */
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { relativeError } from './helpers/tf.js';
import { runCli, runNpm, signalGroup, tempDir } from './helpers/cli.js';
import { finalState, SEND_AFTER_MS, STOPPED_AROUND_EPOCH_2 } from './helpers/run.js';

async function finalWeights(run: string): Promise<{ g: Float32Array; d: Float32Array }> {
  const latest = (await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim();
  const read = async (net: string) => {
    const b = await readFile(join(run, 'checkpoints', latest, net, 'weights.bin'));
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  };
  return { g: await read('generator'), d: await read('discriminator') };
}

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

const RUN = ['--model', 'cmlp', '--backend', 'wasm', '--limit', '384', '--batch-size', '64', '--epochs', '3', '--progress', 'lines'];

for (const mode of ['train', 'cluster'] as const) {
  test(`cmlp, ${mode}: Ctrl-C through npm after epoch 1, then --resume latest, ends bit-identical to an uninterrupted run`, async (t) => {
    const dir = await tempDir(t);
    const extra = mode === 'cluster' ? ['--workers', '2'] : [];
    const full = await runCli(mode, [...extra, ...RUN, '--run-dir', join(dir, 'full')]);
    t.is(full.code, 0, full.stderr);

    let signalled = false;
    const part = await runNpm(mode, [...extra, ...RUN, '--run-dir', join(dir, 'part')], {
      onStderr: (chunk, npm) => {
        if (!signalled && /epoch 1\/3 done/.test(chunk)) {
          signalled = true;
          setTimeout(() => signalGroup(npm, 'SIGINT'), SEND_AFTER_MS);
        }
      },
    });
    t.is(part.code, 0, part.stderr);
    t.regex(part.stderr, STOPPED_AROUND_EPOCH_2);
    const resumed = await runCli(mode, [...extra, '--resume', 'latest', '--run-dir', join(dir, 'part'), '--progress', 'lines']);
    t.is(resumed.code, 0, resumed.stderr);
    t.regex(resumed.stderr, /resum(ing|ed) from .*: epoch [23], step \d+/);
    t.true((await finalState(join(dir, 'part'))).equals(await finalState(join(dir, 'full'))), 'resumed run differs from the uninterrupted one');
  });
}
