/**
 * A run that diverges (an absurd learning rate: after the first update, weights of 1e30 overflow
 * to inf/NaN) skips each non-finite update on every replica alike, and after --max-nonfinite
 * consecutive ones stops with one line saying so, instead of training on garbage.
 */
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, tempDir } from './helpers/cli.js';

const DIVERGE = ['--model', 'mlp', '--backend', 'wasm', '--epochs', '5', '--limit', '512', '--batch-size', '64', '--lr', '1e30', '--max-nonfinite', '3', '--log-every', '1', '--progress', 'off'];

for (const mode of ['train', 'cluster'] as const) {
  test(`${mode}: repeated non-finite steps are skipped, counted, then stop the run`, async (t) => {
    const dir = await tempDir(t);
    const extra = mode === 'cluster' ? ['--workers', '2', '--snapshot-interval', '1'] : [];
    const r = await runCli(mode, [...extra, ...DIVERGE, '--run-dir', join(dir, 'run')]);
    t.is(r.code, 1, r.stderr.slice(-2000));
    t.regex(r.stderr, /3 consecutive steps with a non-finite loss or gradient \(up to step \d+\).*stopping/);
    const steps = (await readFile(join(dir, 'run', 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.type === 'step');
    t.true(steps.filter((l) => l.skipped > 0).length >= 3);
    // The first D half runs on the initial weights: finite. Its absurd update makes everything after it overflow.
    t.true(Number.isFinite(steps[0].lossD));
  });
}
