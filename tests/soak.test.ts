/**
 * A compressed soak: 50 short epochs (200 steps, checkpoints and sample grids along the way) on two
 * workers. Live tensors must stay exactly flat, worker RSS must not creep, and step time must not
 * drift. Prints its figures. The drift bound is loose (1.5×) because this machine is shared.
 */
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, tempDir } from './helpers/cli.js';

test('50 epochs on two workers: tensors flat, RSS flat, no step-time drift', async (t) => {
  const dir = await tempDir(t);
  const r = await runCli('cluster', ['--workers', '2', '--model', 'mlp', '--backend', 'wasm', '--epochs', '50', '--limit', '256', '--batch-size', '64', '--checkpoint-every', '10', '--sample-every', '5', '--log-every', '4', '--progress', 'off', '--run-dir', join(dir, 'run')], { timeoutMs: 600_000 });
  t.is(r.code, 0, r.stderr.slice(-2000));
  const epochs = (await readFile(join(dir, 'run', 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.type === 'epoch');
  t.is(epochs.length, 50);
  const at = (i: number) => epochs[i - 1];
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const early = mean(epochs.slice(2, 12).map((e) => e.stepMs));
  const late = mean(epochs.slice(-10).map((e) => e.stepMs));
  t.log(`live tensors (max over workers): epoch 3 ${at(3).numTensors}, epoch 25 ${at(25).numTensors}, epoch 50 ${at(50).numTensors}`);
  t.log(`worker RSS (max): epoch 5 ${(at(5).rssBytes / 2 ** 20).toFixed(0)} MiB, epoch 50 ${(at(50).rssBytes / 2 ** 20).toFixed(0)} MiB`);
  t.log(`step time: epochs 3–12 ${early.toFixed(0)} ms, epochs 41–50 ${late.toFixed(0)} ms`);
  for (const e of epochs.slice(2)) t.is(e.numTensors, at(3).numTensors, `epoch ${e.epoch}`);
  t.true(at(50).rssBytes < at(5).rssBytes * 1.25, 'worker RSS grew by more than 25%');
  t.true(late < early * 1.5, 'step time drifted');
});
