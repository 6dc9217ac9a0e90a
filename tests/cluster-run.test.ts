/**
 * `npm run cluster` as a user runs it on a CPU machine: 2 wasm workers with --limit finish, write
 * samples and checkpoints; metrics read like a single-process run's; `npm run sample` draws from it.
 */
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodePng } from '../src/shared/images/png.js';
import { runCli, tempDir } from './helpers/cli.js';

test('a 2-worker wasm cluster trains, checkpoints, and can be sampled', async (t) => {
  const dir = await tempDir(t);
  const run = join(dir, 'run');
  const r = await runCli('cluster', ['--gpus', '2', '--model', 'mlp', '--epochs', '2', '--limit', '512', '--batch-size', '64', '--run-dir', run, '--log-every', '4', '--hash-every', '2']);
  t.is(r.code, 0, r.stderr);
  // --gpus on a machine without a GPU backend: one line, then CPU workers.
  t.regex(r.stderr, /no GPU backend loads here \(.*\); running 2 workers on the CPU backend \(wasm\)/);
  t.regex(r.stderr, /worker rank 0 joined/);
  t.regex(r.stderr, /worker rank 1 joined/);

  const config = JSON.parse(await readFile(join(run, 'config.json'), 'utf8'));
  t.is(config.world, 2);
  t.is(config.batchPerWorker, 32);
  t.deepEqual(config.workers.map((w: { rank: number }) => w.rank), [0, 1]);

  const lines = (await readFile(join(run, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  const steps = lines.filter((l) => l.type === 'step');
  t.is(steps.length, 4); // 2 epochs × 8 steps, logged every 4
  t.true(steps.every((l) => Number.isFinite(l.lossD) && Number.isFinite(l.lossG) && l.world === 2));
  t.is(lines.filter((l) => l.type === 'epoch').length, 2);
  t.is(lines.filter((l) => l.type === 'checkpoint').length, 1);

  t.is(decodePng(await readFile(join(run, 'samples', 'epoch-0002.png'))).width, 8 * 58 + 2);
  const s = await runCli('sample', ['--ckpt', 'latest', '--run-dir', run, '--backend', 'wasm', '--n', '16', '--out', join(dir, 's.png')]);
  t.is(s.code, 0, s.stderr);
});

test('a global batch that does not divide among the workers is refused before anything starts', async (t) => {
  const dir = await tempDir(t);
  const r = await runCli('cluster', ['--workers', '3', '--batch-size', '64', '--run-dir', join(dir, 'run')]);
  t.is(r.code, 2);
  t.regex(r.stderr, /--batch-size 64 \(the global batch\) is not divisible by the 3 workers/);
});

test('a control port already in use is refused with one line naming it', async (t) => {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const dir = await tempDir(t);
  const r = await runCli('cluster', ['--workers', '1', '--port', String(port), '--run-dir', join(dir, 'run')]);
  t.is(r.code, 1);
  t.regex(r.stderr, new RegExp(`cannot bind the control socket to tcp://127\\.0\\.0\\.1:${port}: .*in use`, 'i'));
});
