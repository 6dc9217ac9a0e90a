/**
 * The evaluation end to end through the real CLIs: in-training evaluation (`npm run train
 * --eval-every`) writes eval lines, `npm run eval` is deterministic for a checkpoint + seed + N
 * and writes JSON, bad inputs get one-line errors and damage nothing.
 */
import test from 'ava';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pinnedClassifier } from './helpers/classifier.js';
import type { EvalLine as RunEvalLine } from '../src/shared/report/run-data.js';
import { runCli, tempDir } from './helpers/cli.js';

/** An eval line of metrics.jsonl, as the report reads it. */
type EvalLine = RunEvalLine & { type: string };

const evalLines = async (run: string) =>
  (await readFile(join(run, 'metrics.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as EvalLine).filter((l) => l.type === 'eval');

let classifierDir: string;
test.before(async (t) => {
  t.timeout(20 * 60_000);
  classifierDir = await pinnedClassifier();
});

test.serial('npm run train --eval-every 1 logs an evaluation per epoch; npm run eval is deterministic and writes JSON', async (t) => {
  const dir = await tempDir(t);
  const run = join(dir, 'run');
  const tr = await runCli('train', ['--model', 'mlp', '--backend', 'wasm', '--limit', '256', '--batch-size', '64', '--epochs', '2', '--eval-every', '1', '--eval-n', '300', '--run-dir', run, '--progress', 'off']);
  t.is(tr.code, 0, tr.stderr.slice(-2000));
  const lines = await evalLines(run);
  t.deepEqual(lines.map((l) => l.epoch), [1, 2]);
  for (const l of lines) {
    t.true(Number.isFinite(l.fid) && l.fid > l.fidFloor, `fid ${l.fid}`);
    t.true(l.score >= 1 && l.score <= 10, `score ${l.score}`);
    t.is(l.shares.length, 10);
    t.is(l.images, 300);
  }

  const args = (seed: string, json: string) => ['--ckpt', 'latest', '--run-dir', run, '--n', '500', '--seed', seed, '--backend', 'wasm', '--json', json];
  const a = await runCli('eval', args('5', join(dir, 'a.json')));
  t.is(a.code, 0, a.stderr.slice(-2000));
  t.regex(a.stdout, /^FID\s+\d+\.\d+\s+\(real-data floor: train vs test \d/m);
  t.regex(a.stdout, /^MNIST score\s+\d/m);
  const b = await runCli('eval', args('5', join(dir, 'b.json')));
  const c = await runCli('eval', args('6', join(dir, 'c.json')));
  t.is(b.code, 0);
  t.is(c.code, 0);
  const strip = (j: Record<string, unknown>) => ({ ...j, seconds: 0 });
  const [ja, jb, jc] = await Promise.all(['a', 'b', 'c'].map(async (n) => JSON.parse(await readFile(join(dir, `${n}.json`), 'utf8'))));
  t.deepEqual(strip(ja), strip(jb), 'same checkpoint, seed and N: same numbers');
  t.not(ja.fid, jc.fid, 'another seed draws other images');
  t.is(ja.images, 500);
  t.is(ja.epoch, 2);
  t.true(ja.fid > ja.fidFloor);
  t.is(ja.coverage.shares.length, 10);
  t.is(typeof ja.coverage.collapsed, 'boolean');
  t.true(ja.confidence.real > 0.9);
});

test.serial('bad input: a missing checkpoint, a corrupt classifier and bad flags get one line and change nothing', async (t) => {
  const dir = await tempDir(t);
  const missing = await runCli('eval', ['--ckpt', join(dir, 'nope'), '--backend', 'wasm']);
  t.is(missing.code, 1);
  t.regex(missing.stderr.trim(), /^npm run eval --: error: .*nope: no such checkpoint directory$/);

  const n0 = await runCli('eval', ['--n', '1']);
  t.is(n0.code, 2);
  t.regex(n0.stderr, /--n must be ≥ 2, got 1/);

  // A classifier whose weights were damaged is refused (not silently retrained over).
  const bad = join(dir, 'classifier');
  await cp(classifierDir, bad, { recursive: true });
  const weights = await readFile(join(bad, 'weights.bin'));
  weights[100] ^= 0xff;
  await writeFile(join(bad, 'weights.bin'), weights);
  const run = join(dir, 'run');
  const tr = await runCli('train', ['--model', 'mlp', '--backend', 'wasm', '--limit', '128', '--batch-size', '64', '--epochs', '1', '--run-dir', run, '--progress', 'off']);
  t.is(tr.code, 0, tr.stderr.slice(-1000));
  const r = await runCli('eval', ['--ckpt', 'latest', '--run-dir', run, '--classifier', bad, '--n', '50', '--backend', 'wasm']);
  t.is(r.code, 1);
  t.regex(r.stderr, /error: classifier .*weights\.bin does not match the sha256 in meta\.json/);
  t.deepEqual(await readFile(join(bad, 'weights.bin')), weights, 'the classifier directory is left as it was');

  // The cluster refuses --eval-every without a classifier before starting any worker.
  const cl = await runCli('cluster', ['--workers', '2', '--limit', '128', '--batch-size', '64', '--epochs', '1', '--eval-every', '1', '--classifier', join(dir, 'none'), '--run-dir', join(dir, 'c'), '--backend', 'wasm']);
  t.is(cl.code, 1);
  t.regex(cl.stderr, /--eval-every: no usable classifier in .*none; build it first with npm run train-classifier/);
});

test.serial('a 2-worker cluster run with --eval-every evaluates on rank 0 and logs it', async (t) => {
  const dir = await tempDir(t);
  const run = join(dir, 'run');
  const r = await runCli('cluster', ['--workers', '2', '--model', 'mlp', '--backend', 'wasm', '--limit', '256', '--batch-size', '64', '--epochs', '2', '--eval-every', '2', '--eval-n', '200', '--run-dir', run, '--progress', 'off']);
  t.is(r.code, 0, r.stderr.slice(-2000));
  const lines = await evalLines(run);
  t.deepEqual(lines.map((l) => l.epoch), [2]);
  t.true(Number.isFinite(lines[0].fid) && lines[0].images === 200);
});
