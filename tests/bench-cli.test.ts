/**
 * `npm run bench -- --quick` with real processes: the JSON carries the headline ratios other tools
 * read, the step breakdown adds up, and a real cluster run's tensors stay flat. No timing is
 * asserted (figures vary with the machine); bad flags get one-line errors.
 */
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, tempDir } from './helpers/cli.js';

test('--quick all-reduce and scaling: headline ratios, breakdown, leak watch', async (t) => {
  const dir = await tempDir(t);
  const json = join(dir, 'bench.json');
  const r = await runCli('bench', ['--quick', '--sections', 'allreduce,scaling', '--json', json], { timeoutMs: 8 * 60_000 });
  t.is(r.code, 0, r.stderr.slice(-2000));
  t.regex(r.stdout, /## All-reduce over ZeroMQ/);
  t.regex(r.stdout, /## Cost model/);
  const out = JSON.parse(await readFile(json, 'utf8'));
  const ratios = out.allreduce_ratio_to_loopback as { world: number; payload_bytes: number; ratio: number }[];
  t.deepEqual(ratios.map((x) => [x.world, x.payload_bytes]), [[2, 200000], [2, 2500000], [3, 200000], [3, 2500000]]);
  for (const x of ratios) t.true(Number.isFinite(x.ratio) && x.ratio > 0);
  const eff = out.scaling_efficiency.mlp as number;
  t.true(Number.isFinite(eff) && eff > 0 && eff < 2, String(eff));
  const [b] = out.breakdown as { parts: Record<string, number>; totalMs: number }[];
  const run2 = (out.scaling.runs as { workers: number; stepMs: { median: number }; numTensors: [number, number] }[]).find((x) => x.workers === 2)!;
  t.true(b.parts.computeMs > 0 && b.parts.reduceMs > 0 && b.parts.optimizerMs > 0 && b.parts.flattenMs > 0);
  t.true(Math.abs(b.totalMs - Object.values(b.parts).reduce((s, x) => s + x, 0)) < 1e-6);
  for (const run of out.scaling.runs as { numTensors: [number, number] }[]) t.is(run.numTensors[0], run.numTensors[1], 'live tensors grew during a cluster run');
  t.true(run2.stepMs.median > 0);
  // Two noisy payloads may not determine a bandwidth; then the bench says why instead of failing.
  if (out.cost_model.error) t.regex(out.cost_model.error, /no positive bandwidth|at least two/);
  else t.true(out.cost_model.fit.loopbackBandwidthGBs > 0);
});

test('a bad flag is named in one line', async (t) => {
  const a = await runCli('bench', ['--sections', 'compute,nope']);
  t.is(a.code, 2);
  t.regex(a.stderr, /--sections: unknown section 'nope'/);
  const b = await runCli('bench', ['--links-gbit', '25,zero']);
  t.is(b.code, 2);
  t.regex(b.stderr, /--links-gbit: 'zero' is not a positive number/);
});
