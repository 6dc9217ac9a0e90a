/**
 * `npm run train` as a user runs it: a real process on wasm with --limit, for both models; it must
 * leave a config, metrics, a sample grid, a loss plot and a verified checkpoint that sample can use.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { decodePng } from '../src/shared/images/png.js';
import { runCli, tempDir } from './helpers/cli.js';

for (const model of ['mlp', 'dcgan'] as const) {
  test(`${model}: a short wasm run writes config, metrics, samples, loss plot and a checkpoint`, async (t) => {
    const dir = await tempDir(t);
    const run = join(dir, 'run');
    const r = await runCli('train', ['--model', model, '--backend', 'wasm', '--epochs', '1', '--limit', '256', '--batch-size', '64', '--run-dir', run, '--log-every', '2']);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, /backend: wasm/);
    t.regex(r.stderr, model === 'mlp' ? /Generator \(mlp\): 1,493,520 parameters/ : /Generator \(dcgan\): 2,330,944 parameters/);
    t.regex(r.stderr, /epoch 1\/1 done in/);

    const config = JSON.parse(await readFile(join(run, 'config.json'), 'utf8'));
    t.like(config.config, { model, epochs: 1, batchSize: 64, limit: 256 });
    // wasm+blas where OpenBLAS loads (tests/blas.test.ts covers both cases).
    t.is(config.backend.name, config.backend.blas?.active ? 'wasm+blas' : 'wasm');

    const lines = (await readFile(join(run, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    t.is(lines.filter((l) => l.type === 'step').length, 2); // 4 steps, logged every 2
    const epoch = lines.find((l) => l.type === 'epoch');
    t.true(Number.isFinite(epoch.lossD) && Number.isFinite(epoch.lossG));
    t.true(lines.some((l) => l.type === 'checkpoint'));

    const png = decodePng(await readFile(join(run, 'samples', 'epoch-0001.png')));
    t.is(png.width, 8 * 58 + 2); // 8×8 grid of 56 px tiles (28 px at 2×) with 2 px padding
    t.regex(await readFile(join(run, 'loss.svg'), 'utf8'), /<svg[\s\S]*D loss[\s\S]*<\/svg>/);

    const latest = (await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim();
    t.true(existsSync(join(run, 'checkpoints', latest, 'manifest.json')));
    t.deepEqual((await readdir(join(run, 'checkpoints', latest))).sort(), ['discriminator', 'generator', 'manifest.json', 'optimizer.bin', 'state.json']);

    const out = join(dir, 'samples.png');
    const s = await runCli('sample', ['--ckpt', 'latest', '--run-dir', run, '--backend', 'wasm', '--n', '16', '--out', out]);
    t.is(s.code, 0, s.stderr);
    t.is(decodePng(await readFile(out)).width, 4 * 58 + 2); // 16 images, 2× by default
  });
}

test('an existing non-empty run directory is refused and left untouched', async (t) => {
  const dir = await tempDir(t);
  const { writeFile } = await import('node:fs/promises');
  await writeFile(join(dir, 'notes.txt'), 'keep me');
  const r = await runCli('train', ['--backend', 'wasm', '--epochs', '1', '--limit', '128', '--run-dir', dir]);
  t.is(r.code, 1);
  t.regex(r.stderr, /--run-dir .* already exists and is not empty/);
  t.deepEqual(await readdir(dir), ['notes.txt']);
});

test('bad flags exit 2 with one line naming the flag', async (t) => {
  const r = await runCli('train', ['--epochs', '0']);
  t.is(r.code, 2);
  t.regex(r.stderr.split('\n')[0], /--epochs must be ≥ 1, got 0/);
});

test('a bad --data directory fails with one line naming the missing file', async (t) => {
  const dir = await tempDir(t);
  const r = await runCli('train', ['--backend', 'wasm', '--data', dir, '--run-dir', join(dir, 'run')]);
  t.is(r.code, 1);
  t.regex(r.stderr, /train-images-idx3-ubyte: no such file/);
  t.false(existsSync(join(dir, 'run')));
});

test('the same seed, backend and flags give the same losses run after run', async (t) => {
  const dir = await tempDir(t);
  const losses = async (name: string, seed: string) => {
    const run = join(dir, name);
    const r = await runCli('train', ['--backend', 'wasm', '--epochs', '1', '--limit', '256', '--batch-size', '64', '--log-every', '1', '--seed', seed, '--run-dir', run]);
    t.is(r.code, 0, r.stderr);
    const lines = (await readFile(join(run, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    return lines.filter((l) => l.type === 'step').map((l) => [l.lossD, l.lossG, l.dReal, l.dFake]);
  };
  const a = await losses('a', '5');
  t.is(a.length, 4);
  t.deepEqual(await losses('b', '5'), a);
  t.notDeepEqual(await losses('c', '6'), a);
});
