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
  t.regex(r.stdout, /## All-reduce on loopback, the ring over plain TCP/);
  t.regex(r.stdout, /## Cost model/);
  const out = JSON.parse(await readFile(json, 'utf8'));
  const ratios = out.allreduce_ratio_to_tcp as { world: number; payload_bytes: number; transport: string; ratio: number }[];
  t.deepEqual(
    ratios.map((x) => [x.world, x.transport, x.payload_bytes]),
    [2, 3].flatMap((n) => ['tcp', 'zmq'].flatMap((tr) => [[n, tr, 200000], [n, tr, 2500000]])),
  );
  for (const x of ratios) t.true(Number.isFinite(x.ratio) && x.ratio > 0);
  // The TCP limit of the same run: both ways at once is never faster per direction than it could be
  // with one direction idle by more than noise allows, and every figure is a positive time.
  for (const l of out.allreduce.link as { oneWayMs: { median: number }; bothWaysMs: { median: number } }[]) t.true(l.oneWayMs.median > 0 && l.bothWaysMs.median > 0);
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

test('--quick machinery: N = 1 and 2 with the MLP’s gradient sizes, the parts add up to the step, a synthetic compute time is spent', async (t) => {
  const dir = await tempDir(t);
  const json = join(dir, 'bench.json');
  const r = await runCli('bench', ['--quick', '--sections', 'machinery', '--synthetic-compute-ms', '4', '--json', json], { timeoutMs: 4 * 60_000 });
  t.is(r.code, 0, r.stderr.slice(-2000));
  t.regex(r.stdout, /## Machinery/);
  const out = JSON.parse(await readFile(json, 'utf8'));
  const rows = out.machinery.rows as { model: string; world: number; collectiveBytes: number[]; reduceByNetMs: number[]; parts: Record<string, number>; stepMs: { median: number }; efficiency: number }[];
  t.deepEqual(rows.map((x) => [x.model, x.world]), [['mlp', 1], ['mlp', 2]]);
  for (const row of rows) {
    t.is(row.collectiveBytes.length, 2);
    t.true(row.parts.computeMs >= 4, `compute ${row.parts.computeMs} ms`);
    t.true(row.parts.optimizerMs > 0);
    t.true(row.stepMs.median >= row.parts.computeMs);
  }
  t.is(rows[0].efficiency, 1);
  t.true(rows[1].parts.reduceMs > 0);
  t.is(rows[1].reduceByNetMs.length, 2);
  // Two nearly equal buffers (the MLP's D and G) at one N may not determine α and B: then the bench says why.
  if (out.machinery_cost_model.error) t.regex(out.machinery_cost_model.error, /no positive bandwidth/);
  else t.true(out.machinery_cost_model.fit.bandwidthGBs > 0);
});

test('a bad flag is named in one line', async (t) => {
  const a = await runCli('bench', ['--sections', 'compute,nope']);
  t.is(a.code, 2);
  t.regex(a.stderr, /--sections: unknown section 'nope'/);
  const b = await runCli('bench', ['--links-gbit', '25,zero']);
  t.is(b.code, 2);
  t.regex(b.stderr, /--links-gbit: 'zero' is not a positive number/);
  const c = await runCli('bench', ['--synthetic-compute-ms', '-1']);
  t.is(c.code, 2);
  t.regex(c.stderr, /--synthetic-compute-ms/);
});
