/**
 * `npm run bench -- --quick` with real processes: the JSON carries the headline ratios other tools
 * read, the step breakdown adds up, and a real cluster run's tensors stay flat. No timing is
 * asserted (figures vary with the machine); bad flags get one-line errors.
 */
import test from 'ava';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, runNpm, signalGroup, tempDir } from './helpers/cli.js';

test('--quick all-reduce and scaling: headline ratios, breakdown, leak watch', async (t) => {
  const dir = await tempDir(t);
  const json = join(dir, 'bench.json');
  const r = await runCli('bench', ['--quick', '--sections', 'allreduce,scaling', '--json', json], { timeoutMs: 8 * 60_000 });
  t.is(r.code, 0, r.stderr.slice(-2000));
  t.regex(r.stdout, /## All-reduce on one host, the ring in shared memory/);
  t.regex(r.stdout, /## Cost model/);
  const out = JSON.parse(await readFile(json, 'utf8'));
  const ratios = out.allreduce_ratio_to_tcp as { world: number; payload_bytes: number; transport: string; ratio: number }[];
  t.deepEqual(
    ratios.map((x) => [x.world, x.transport, x.payload_bytes]),
    [2, 3].flatMap((n) => ['shm', 'tcp', 'zmq'].flatMap((tr) => [[n, tr, 200000], [n, tr, 2500000]])),
  );
  for (const x of ratios) t.true(Number.isFinite(x.ratio) && x.ratio > 0);
  // The memory-copy bound of the shared-memory rows: a positive time below the ring's own.
  for (const row of out.allreduce.rows as { transport: string; copyBoundMs: number; timeMs: { median: number } }[]) t.true(row.copyBoundMs > 0 && row.copyBoundMs < row.timeMs.median, JSON.stringify(row));
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
  // The default data plane's projection: one host and several, or the reason it could not be fitted.
  const hosts = out.cost_model.hosts;
  if (hosts && !hosts.error) t.deepEqual(hosts.projections[0].points.map((p: { layout: string }) => p.layout), ['1x4', '1x8', '2x8', '8x8']);
  else if (hosts) t.regex(hosts.error, /no positive bandwidth|at least two|no shared-memory/);
});

test('--quick machinery: N = 1 and 2 with the MLP’s gradient sizes, the parts add up to the step, a synthetic compute time is spent', async (t) => {
  const dir = await tempDir(t);
  const json = join(dir, 'bench.json');
  const r = await runCli('bench', ['--quick', '--sections', 'machinery', '--synthetic-compute-ms', '4', '--json', json], { timeoutMs: 4 * 60_000 });
  t.is(r.code, 0, r.stderr.slice(-2000));
  t.regex(r.stdout, /## Machinery/);
  const out = JSON.parse(await readFile(json, 'utf8'));
  const rows = out.machinery.rows as { model: string; world: number; collectiveBytes: number[]; reduceByNetMs: number[]; parts: Record<string, number>; stepMs: { median: number }; efficiency: number; adamBytesPerRank: number }[];
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
  // Sharded Adam: each of 2 ranks holds about half the moments (G's statistics hold none).
  const half = rows[1].adamBytesPerRank / rows[0].adamBytesPerRank;
  t.true(half > 0.49 && half < 0.51, `Adam state per rank at N = 2: ${half} of N = 1's`);
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
  const d = await runCli('bench', ['--sections', 'eta']);
  t.is(d.code, 2);
  t.regex(d.stderr, /--sections eta: give the finished runs to replay with --eta-runs/);
  const e = await runCli('bench', ['--sections', 'eta', '--eta-runs', '/nonexistent-run']);
  t.is(e.code, 1);
  t.regex(e.stderr, /^bench: --eta-runs: \/nonexistent-run\/metrics.jsonl does not exist/m);
});

/** The namespaces a hosts-section run says it made (its log names them), and which of those still exist. */
function namespacesNamed(stderr: string): string[] {
  return [...stderr.matchAll(/namespaces ((?:gvh\S+ ?)+)/g)].flatMap((m) => m[1].trim().split(' '));
}
async function existingNamespaces(): Promise<Set<string>> {
  return new Set(await readdir('/run/netns').catch(() => [] as string[]));
}

test.serial('--quick hosts: the shaping holds, the ring and a real 2-worker run cross the namespaces, the model predicts the step, nothing is left', async (t) => {
  const dir = await tempDir(t);
  const json = join(dir, 'bench.json');
  const r = await runCli('bench', ['--quick', '--sections', 'hosts', '--json', json], { timeoutMs: 5 * 60_000 });
  t.is(r.code, 0, r.stderr.slice(-2000));
  t.regex(r.stdout, /## Hosts: ring all-reduce/);
  type Rate = { linkGbit: number | null; link: { bytes: number; bothWaysGBs: { median: number } }[]; rings: { world: number; bytes: number; busbwGBs: { median: number } }[]; training: { workers: number; stepMs: { median: number }; parts: { reduceMs: number }; prediction?: { linkMs: number; cpuMs: number; predictedMs: number } }[] };
  const [unshaped, rate] = JSON.parse(await readFile(json, 'utf8')).hosts as Rate[];
  t.is(unshaped.linkGbit, null);
  t.is(rate.linkGbit, 1);
  // Unshaped, this path carries 7–8 Gbit/s: a figure near 1 Gbit/s (0.125 GB/s) shows tbf is on the path.
  const big = (r: Rate) => r.link.find((l) => l.bytes === 2_500_000)!.bothWaysGBs.median;
  t.true(big(rate) > 0.03 && big(rate) < 0.125 * 1.3, `stream ${big(rate)} GB/s per direction`);
  t.true(big(unshaped) > 1.5 * big(rate), `unshaped ${big(unshaped)} GB/s against shaped ${big(rate)}`);
  t.deepEqual(rate.rings.map((x) => [x.world, x.bytes]), [[2, 200_000], [2, 2_500_000]]);
  // 0.2 MB fits in the token bucket's burst (4 ms at the rate, 0.5 MB), so only the 2.5 MB ring is held to the rate.
  for (const x of rate.rings) t.true(x.busbwGBs.median > 0 && (x.bytes < 1e6 || x.busbwGBs.median < 0.125 * 1.3), `ring busbw ${x.busbwGBs.median} GB/s at ${x.bytes} B`);
  t.deepEqual([unshaped, rate].map((r) => r.training.map((x) => x.workers)), [[2], [2]]);
  t.is(unshaped.training[0].prediction, undefined);
  const [run] = rate.training;
  t.true(run.stepMs.median > run.parts.reduceMs && run.parts.reduceMs > 0);
  // The link term moves the MLP's 11.8 MB per step (≥ 94 ms at 1 Gbit/s); the CPU term is the unshaped run's all-reduce.
  t.true(run.prediction!.linkMs > 90, `link term ${run.prediction!.linkMs} ms`);
  t.is(run.prediction!.cpuMs, unshaped.training[0].parts.reduceMs);
  t.is(run.prediction!.predictedMs, run.stepMs.median - run.parts.reduceMs + Math.max(run.prediction!.linkMs, run.prediction!.cpuMs));
  // 2 hosts × 2 ranks: both rings ran every payload; at 1 Gbit/s the 2.5 MB all-reduce is held by the link.
  const pairs = (JSON.parse(await readFile(json, 'utf8')).hosts as { twoByTwo: { bytes: number; flatMs: { median: number }; hostAwareMs: { median: number } }[] }[]).map((h) => h.twoByTwo);
  for (const p of pairs) t.deepEqual(p.map((x) => x.bytes), [200_000, 2_500_000]);
  for (const x of pairs[1]) t.true(x.flatMs.median > 0 && x.hostAwareMs.median > 0);
  // Hierarchical: each host's link carries L = 2.5 MB each way (2(H−1)/H·L), less the token bucket's 0.5 MB burst: ≥ 16 ms at 1 Gbit/s.
  t.true(pairs[1][1].hostAwareMs.median > ((2.5e6 - 0.5e6) / 0.125e9) * 1000 * 0.9, `hierarchical at 1 Gbit/s: ${pairs[1][1].hostAwareMs.median} ms`);
  const made = namespacesNamed(r.stderr);
  t.is(made.length, 8, r.stderr.slice(-1000));
  const left = await existingNamespaces();
  t.deepEqual(made.filter((n) => left.has(n)), []);
});

test.serial('hosts: Ctrl-C during training removes the namespaces and the processes in them', async (t) => {
  let stopped = false;
  const r = await runNpm('bench', ['--quick', '--sections', 'hosts'], {
    timeoutMs: 3 * 60_000,
    onStderr: (_, child) => {
      if (!stopped && /1 Gbit\/s, training mlp on 2 worker hosts/.test(_)) {
        stopped = true;
        setTimeout(() => signalGroup(child, 'SIGINT'), 3000);
      }
    },
  });
  t.true(stopped, r.stderr.slice(-1000));
  // The bench exits 130; npm, signalled too, may report that or end by the signal itself (code null).
  t.not(r.code, 0, r.stderr.slice(-1000));
  t.regex(r.stderr, /SIGINT: removing the namespaces/);
  t.notRegex(r.stderr, /done in/);
  const made = namespacesNamed(r.stderr);
  t.true(made.length >= 4, r.stderr.slice(-1000));
  const left = await existingNamespaces();
  t.deepEqual(made.filter((n) => left.has(n)), []);
  t.is(r.leftInGroup, '', 'processes left in the group');
  // The training run's directory (token copies, checkpoints the stopped coordinator may have begun) goes too.
  t.deepEqual((await readdir(tmpdir())).filter((n) => n.startsWith('gan-hosts-')), []);
});

test('hosts without root, or a bad worker count, is one line', async (t) => {
  const a = await runCli('bench', ['--sections', 'hosts', '--host-workers', '1']);
  t.is(a.code, 2);
  t.regex(a.stderr, /--host-workers: '1' is not a worker count from 2 to 8/);
  const b = await runCli('bench', ['--sections', 'hosts', '--host-links-gbit', '1,x']);
  t.is(b.code, 2);
  t.regex(b.stderr, /--host-links-gbit: 'x' is not a positive number/);
});
