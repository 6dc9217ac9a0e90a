/**
 * The webgpu backend as users run it: a 2-worker cluster on Mesa's lavapipe whose checkpoint samples
 * on another backend, the refusal of a software adapter without --allow-software-adapter, and auto
 * never picking a software adapter even when the Vulkan loader sees one.
 */
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodePng } from '../src/shared/images/png.js';
import { runCli, tempDir } from './helpers/cli.js';
import { LAVAPIPE_ICD, requireLavapipe } from './helpers/webgpu.js';

test.before(() => requireLavapipe());

test.serial('a 2-worker webgpu cluster on lavapipe trains and checkpoints; the checkpoint samples on cpu', async (t) => {
  const dir = await tempDir(t);
  const run = join(dir, 'run');
  // lavapipe is one adapter, so the two workers share it (--workers, not --gpus: see the next test).
  const r = await runCli('cluster', ['--workers', '2', '--backend', 'webgpu', '--allow-software-adapter', '--model', 'mlp', '--epochs', '1', '--limit', '64', '--batch-size', '32', '--run-dir', run, '--log-every', '1', '--hash-every', '1', '--worker-timeout', '120']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /\[w0\] backend: webgpu \(requested with --backend webgpu; adapter llvmpipe.*vendor mesa, software\)/);
  t.regex(r.stderr, /worker rank 1 joined: .*webgpu, webgpu 0: llvmpipe/);
  const config = JSON.parse(await readFile(join(run, 'config.json'), 'utf8'));
  t.is(config.world, 2);
  t.deepEqual(config.workers.map((w: { backend: string }) => w.backend), ['webgpu', 'webgpu']);
  const lines = (await readFile(join(run, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  const steps = lines.filter((l) => l.type === 'step');
  t.is(steps.length, 2); // 64 images / 32 per step
  t.true(steps.every((l) => Number.isFinite(l.lossD) && Number.isFinite(l.lossG)));
  t.is(lines.filter((l) => l.type === 'checkpoint').length, 1);
  const s = await runCli('sample', ['--ckpt', 'latest', '--run-dir', run, '--backend', 'cpu', '--n', '16', '--out', join(dir, 's.png')]);
  t.is(s.code, 0, s.stderr);
  t.is(decodePng(await readFile(join(dir, 's.png'))).width, 4 * 56 + 5 * 2);
});

test.serial('--gpus 2 --backend webgpu with one adapter: worker 1 says adapter 1 does not exist, naming the one Dawn lists', async (t) => {
  const dir = await tempDir(t);
  const r = await runCli('cluster', ['--gpus', '2', '--backend', 'webgpu', '--allow-software-adapter', '--limit', '64', '--batch-size', '32', '--epochs', '1', '--run-dir', join(dir, 'run'), '--max-restarts', '0']);
  t.not(r.code, 0);
  t.regex(r.stderr, /--backend webgpu: adapter 1 asked for, Dawn lists 1 \(llvmpipe/);
});

test.serial('--backend webgpu on a software adapter without --allow-software-adapter is refused with one line naming the flag', async (t) => {
  const dir = await tempDir(t);
  // The loader is shown lavapipe explicitly: without the flag nothing else adds it.
  const r = await runCli('train', ['--backend', 'webgpu', '--limit', '64', '--epochs', '1', '--run-dir', join(dir, 'run')], { env: { VK_ADD_DRIVER_FILES: LAVAPIPE_ICD } });
  t.is(r.code, 1);
  t.regex(r.stderr, /error: --backend webgpu: the only adapter is a software one \(llvmpipe.*\); add --allow-software-adapter/);
});

test.serial('auto does not pick a software adapter, even one the Vulkan loader sees', async (t) => {
  const dir = await tempDir(t);
  const r = await runCli('train', ['--backend', 'auto', '--limit', '64', '--batch-size', '32', '--epochs', '1', '--run-dir', join(dir, 'run')], { env: { VK_ADD_DRIVER_FILES: LAVAPIPE_ICD } });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /backend: wasm(\+blas)? \(auto: .*webgpu: only a software adapter \(llvmpipe.*\), which auto never picks.*using wasm\)/);
});

test.serial('--allow-software-adapter with another backend is refused', async (t) => {
  const r = await runCli('train', ['--backend', 'wasm', '--allow-software-adapter', '--limit', '64']);
  t.is(r.code, 1);
  t.regex(r.stderr, /--allow-software-adapter only goes with --backend webgpu \(got --backend wasm\)/);
});
