/** `npm run sample`: deterministic bytes, clear errors. */
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, tempDir } from './helpers/cli.js';
import { editFloats } from './helpers/tamper.js';

let run = '';
let base = '';

test.before(async (t) => {
  base = await (async () => {
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    return mkdtemp(join(tmpdir(), 'sample-test-'));
  })();
  run = join(base, 'run');
  const r = await runCli('train', ['--backend', 'wasm', '--epochs', '1', '--limit', '128', '--batch-size', '64', '--run-dir', run]);
  if (r.code !== 0) throw new Error(r.stderr);
  t.pass();
});

test.after.always(async () => {
  const { rm } = await import('node:fs/promises');
  await rm(base, { recursive: true, force: true });
});

test.serial('same checkpoint and seed give the same PNG bytes; another seed other bytes', async (t) => {
  const out = (n: string) => join(base, n);
  for (const [name, seed] of [['a.png', '3'], ['b.png', '3'], ['c.png', '4']]) {
    const r = await runCli('sample', ['--ckpt', 'latest', '--run-dir', run, '--backend', 'wasm', '--seed', seed, '--out', out(name)]);
    t.is(r.code, 0, r.stderr);
  }
  const [a, b, c] = await Promise.all(['a.png', 'b.png', 'c.png'].map((n) => readFile(out(n))));
  t.true(a.equals(b));
  t.false(a.equals(c));
});

test.serial('a corrupt checkpoint is refused with one line and exit 1', async (t) => {
  const dir = await tempDir(t);
  const { cp, writeFile } = await import('node:fs/promises');
  const latest = (await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim();
  const copy = join(dir, 'ckpt');
  await cp(join(run, 'checkpoints', latest), copy, { recursive: true });
  await writeFile(join(copy, 'generator', 'model.json'), '{"broken": true}');
  const r = await runCli('sample', ['--ckpt', copy, '--backend', 'wasm', '--out', join(dir, 'x.png')]);
  t.is(r.code, 1);
  t.regex(r.stderr, /generator\/model\.json (has \d+ bytes, manifest says|fails its sha256 check)/);
  t.is(r.stderr.trim().split('\n').length, 1);
});

test.serial('a missing checkpoint path fails with one line', async (t) => {
  const r = await runCli('sample', ['--ckpt', '/nonexistent/ckpt', '--backend', 'wasm']);
  t.is(r.code, 1);
  t.regex(r.stderr, /\/nonexistent\/ckpt: no such checkpoint directory/);
});

test.serial('a checkpoint with NaN weights and a consistent manifest is refused with one line naming it, and no PNG is written', async (t) => {
  const dir = await tempDir(t);
  const { cp, readdir } = await import('node:fs/promises');
  const latest = (await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim();
  const copy = join(dir, 'ckpt');
  await cp(join(run, 'checkpoints', latest), copy, { recursive: true });
  await editFloats(copy, 'generator/weights.bin', (v) => v.fill(NaN, 100, 110));
  const r = await runCli('sample', ['--ckpt', copy, '--backend', 'wasm', '--out', join(dir, 'x.png')]);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, new RegExp(`checkpoint ${copy}: generator/weights\\.bin holds 10 non-finite values, the first \\(NaN\\) in \\S+ at index \\d+; it cannot be sampled`));
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.deepEqual(await readdir(dir), ['ckpt']);
});

test.serial('eval refuses a checkpoint with infinite weights in one line naming it', async (t) => {
  const dir = await tempDir(t);
  const { cp } = await import('node:fs/promises');
  const latest = (await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim();
  const copy = join(dir, 'ckpt');
  await cp(join(run, 'checkpoints', latest), copy, { recursive: true });
  await editFloats(copy, 'generator/weights.bin', (v) => (v[3] = -Infinity));
  const r = await runCli('eval', ['--ckpt', copy, '--backend', 'wasm', '--classifier', join(dir, 'no-classifier')]);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, new RegExp(`checkpoint ${copy}: generator/weights\\.bin holds 1 non-finite value, the first \\(-Infinity\\) in \\S+ at index 3; it cannot be sampled, evaluated or resumed from`));
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
});
