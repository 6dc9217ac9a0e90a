/**
 * `npm run parity` end to end: both sides really train (ours through npm run train's entry, the
 * PyTorch side through Debian's python3-torch, which .ci/run installs), the PyTorch samples are
 * scored exactly as `npm run eval -- --images` scores them, and bad flags get one line.
 */
import test from 'ava';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, tempDir } from './helpers/cli.js';

interface SideCells {
  fid: number[];
  score: number[];
  minShareRatio: number[];
  meanFid: number;
}

test('a 2-epoch parity run: both sides train, every epoch is scored, and the PyTorch scores are npm run eval --images of its samples', async (t) => {
  const dir = await tempDir(t);
  const out = join(dir, 'parity');
  const json = join(dir, 'parity.json');
  const r = await runCli('parity', ['--out', out, '--epochs', '2', '--limit', '640', '--n', '300', '--seeds', '3', '--json', json], { timeoutMs: 600_000 });
  t.is(r.code, 0, r.stderr.slice(-3000));
  t.regex(r.stdout, /\| epoch \| ours FID mean \(per seed\) .* \| ours \/ torch FID \|/);
  const report = JSON.parse(await readFile(json, 'utf8')) as { settings: { evalEpochs: number[] }; table: { epoch: number; ours: SideCells; torch: SideCells }[] };
  t.deepEqual(report.settings.evalEpochs, [1, 2]);
  t.deepEqual(report.table.map((row) => row.epoch), [1, 2]);
  for (const row of report.table) {
    for (const side of [row.ours, row.torch]) {
      t.is(side.fid.length, 1);
      t.true(side.fid[0]! > 0 && Number.isFinite(side.fid[0]), `FID ${side.fid[0]}`);
      t.true(side.score[0]! >= 1 && side.score[0]! <= 10, `score ${side.score[0]}`);
      t.true(side.minShareRatio[0]! >= 0);
    }
  }
  // Our side is our own training run: its eval lines are the table's numbers.
  const evals = (await readFile(join(out, 'ours-seed-3', 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { type: string; epoch: number; fid: number; images: number }).filter((l) => l.type === 'eval');
  t.deepEqual(evals.map((l) => [l.epoch, l.fid, l.images]), report.table.map((row) => [row.epoch, row.ours.fid[0], 300]));
  // The PyTorch side's samples, scored by npm run eval, give the table's numbers.
  t.deepEqual((await readdir(join(out, 'torch-seed-3'))).sort(), ['epoch-1.npy', 'epoch-2.npy']);
  const evalJson = join(dir, 'eval.json');
  const e = await runCli('eval', ['--images', join(out, 'torch-seed-3', 'epoch-2.npy'), '--json', evalJson]);
  t.is(e.code, 0, e.stderr);
  const scored = JSON.parse(await readFile(evalJson, 'utf8')) as { fid: number; images: number };
  t.is(scored.images, 300);
  t.true(Math.abs(scored.fid - report.table[1]!.torch.fid[0]!) <= 1e-9 * scored.fid, `eval ${scored.fid}, parity ${report.table[1]!.torch.fid[0]}`);
});

test('bad flags get one line naming the flag; a non-empty --out is refused and left as it was', async (t) => {
  const dir = await tempDir(t);
  const cases: [string[], RegExp][] = [
    [[], /--out is required/],
    [['--out', join(dir, 'a'), '--seeds', '1,x'], /--seeds: "x" is not a non-negative integer/],
    [['--out', join(dir, 'a'), '--sides', 'ours,tf'], /--sides: "tf" is neither ours nor torch/],
    [['--out', join(dir, 'a'), '--torch-bn', 'tf'], /--torch-bn/],
  ];
  for (const [args, message] of cases) {
    const r = await runCli('parity', args);
    t.is(r.code, 2, r.stderr);
    const lines = r.stderr.trim().split('\n');
    t.regex(lines[0]!, message);
    t.true(lines.length === 1 || (lines.length === 2 && lines[1] === '(see --help)'), r.stderr);
  }
  const full = join(dir, 'full');
  await mkdir(full);
  await writeFile(join(full, 'keep.txt'), 'mine');
  const r = await runCli('parity', ['--out', full]);
  t.is(r.code, 2);
  t.regex(r.stderr, /is not empty/);
  t.deepEqual(await readdir(full), ['keep.txt']);
  t.is(await readFile(join(full, 'keep.txt'), 'utf8'), 'mine');
});
