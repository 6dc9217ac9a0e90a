/**
 * What the run's metrics say, read back the way Prometheus reads them: the text of a real
 * /metrics endpoint (metrics/server.ts on a free port), parsed. Window means from the per-step
 * sums, the position through a rollback and a resume, the status state set, a lost rank named,
 * a shrunk rank's series gone, heartbeat age growing while a worker is down, and the linger.
 */
import test from 'ava';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLatestSampleGrid, runPaths } from '../src/shared/run/run-dir.js';
import { RunMetrics, RUN_STATUSES } from '../src/coordinator/metrics/registry.js';
import { linger, startMetricsServer, type MetricsServer } from '../src/coordinator/metrics/server.js';
import type { StepReport } from '../src/shared/protocol/messages.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (what prom-client writes: no timestamps, no escapes in our values). */
function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

async function scrape(server: MetricsServer): Promise<Sample[]> {
  const res = await fetch(`${server.url}/metrics`);
  return parse(await res.text());
}

function values(samples: Sample[], name: string, labels: Record<string, string> = {}): number[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).map((s) => s.value);
}

function one(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const v = values(samples, name, labels);
  if (v.length !== 1) throw new Error(`${name}${JSON.stringify(labels)}: ${v.length} series`);
  return v[0]!;
}

function report(rank: number, lossG: number, lossD: number, dReal = 0.6, dFake = 0.4, gradSqD = 1, gradSqG = 1): StepReport {
  return {
    t: 'report', rank, epoch: 0, step: 0, lossD, lossG, dReal, dFake, dFakeForG: 0.45, skipped: !Number.isFinite(lossG), gradSqD, gradSqG,
    dataMs: 1, computeMs: 30, flattenMs: 1, reduceMs: 5, optimizerMs: 2, totalMs: 38,
    reducedBytes: 1000, memoryBytes: 64 << 20, numTensors: 120, rssBytes: 512 << 20,
  };
}

async function setUp(t: import('ava').ExecutionContext, ages = new Map<number, number>()) {
  const metrics = new RunMetrics({ heartbeatAges: () => ages, rejected: () => 0 });
  const server = await startMetricsServer(metrics, '127.0.0.1', 0, () => ({ status: 'starting', globalStep: 0, workers: 0 }));
  t.teardown(() => server.close());
  return { metrics, server };
}

test('before the first step the per-step values, the position and the plan are absent, not zero', async (t) => {
  const { server } = await setUp(t);
  const s = await scrape(server);
  for (const name of ['gan_generator_loss_sum', 'gan_generator_loss_count', 'gan_d_real_ratio_sum', 'gan_global_step', 'gan_run_start_timestamp_seconds', 'gan_images_per_second', 'gan_steps_planned', 'gan_last_checkpoint_timestamp_seconds', 'gan_fid']) {
    t.deepEqual(values(s, name), [], name);
  }
  t.is(one(s, 'gan_run_status', { status: 'starting' }), 1);
});

test('loss and D-output sums give the exact mean of any window; a non-finite step is left out of sum and count', async (t) => {
  const { metrics, server } = await setUp(t);
  metrics.setInfo({ model: 'mlp', backend: 'wasm', version: 'x', world: 2 }, 2, 10);
  metrics.setPosition(0);
  const rnd = () => Math.random() * 3;
  const steps = Array.from({ length: 17 }, () => [report(0, rnd(), rnd(), Math.random(), Math.random()), report(1, rnd(), rnd(), Math.random(), Math.random())]);
  for (const r of steps.slice(0, 7)) metrics.recordStep(r, 0.05, 128);
  const before = await scrape(server);
  for (const r of steps.slice(7)) metrics.recordStep(r, 0.05, 128);
  metrics.recordStep([report(0, NaN, NaN, NaN, NaN), report(1, NaN, NaN, NaN, NaN)], 0.05, 128);
  const after = await scrape(server);
  // The window between the two scrapes: steps 7..16, as rate(_sum)/rate(_count) sees it.
  const windowMean = (name: string) => (one(after, `${name}_sum`) - one(before, `${name}_sum`)) / (one(after, `${name}_count`) - one(before, `${name}_count`));
  const expected = (f: (r: StepReport) => number) => steps.slice(7).reduce((a, r) => a + (f(r[0]!) + f(r[1]!)) / 2, 0) / 10;
  const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
  t.true(rel(windowMean('gan_generator_loss'), expected((r) => r.lossG)) < 1e-12);
  t.true(rel(windowMean('gan_discriminator_loss'), expected((r) => r.lossD)) < 1e-12);
  t.true(rel(windowMean('gan_d_real_ratio'), expected((r) => r.dReal)) < 1e-12);
  t.true(rel(windowMean('gan_d_fake_ratio'), expected((r) => r.dFake)) < 1e-12);
  t.is(one(after, 'gan_generator_loss_count'), 17);
  t.is(one(after, 'gan_steps_total'), 18);
  t.is(one(after, 'gan_images_total'), 18 * 128);
  t.is(one(after, 'gan_nonfinite_steps_skipped_total'), 1);
  t.is(one(after, 'gan_steps_planned'), 20);
});

test('the gradient norm of a step is the root of the workers\' shares of its square, per network', async (t) => {
  const { metrics, server } = await setUp(t);
  metrics.setInfo({ model: 'mlp', backend: 'wasm', version: 'x', world: 2 }, 2, 10);
  metrics.setPosition(0);
  // Shares 9 + 16 (D) and 1 + 3 (G): norms 5 and 2.
  metrics.recordStep([report(0, 1, 1, 0.5, 0.5, 9, 1), report(1, 1, 1, 0.5, 0.5, 16, 3)], 0.05, 128);
  metrics.recordStep([report(0, 1, 1, 0.5, 0.5, NaN, 1), report(1, 1, 1, 0.5, 0.5, 1, 3)], 0.05, 128);
  const s = await scrape(server);
  t.is(one(s, 'gan_gradient_norm_sum', { network: 'D' }), 5, 'a non-finite norm is left out');
  t.is(one(s, 'gan_gradient_norm_count', { network: 'D' }), 1);
  t.is(one(s, 'gan_gradient_norm_sum', { network: 'G' }), 4);
  t.is(one(s, 'gan_gradient_norm_count', { network: 'G' }), 2);
});

test('/samples/latest.png serves the newest epoch grid of the run directory, 404 before the first', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'gan-samples-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const paths = runPaths(root);
  await mkdir(paths.samples, { recursive: true });
  const metrics = new RunMetrics({ heartbeatAges: () => new Map(), rejected: () => 0 });
  const server = await startMetricsServer(metrics, '127.0.0.1', 0, () => ({ status: 'training', globalStep: 0, workers: 0 }), () => readLatestSampleGrid(paths));
  t.teardown(() => server.close());
  const before = await fetch(`${server.url}/samples/latest.png`);
  t.is(before.status, 404);
  t.regex(await before.text(), /no sample grid yet/);
  await writeFile(join(paths.samples, 'epoch-0002.png'), Buffer.from('second'));
  await writeFile(join(paths.samples, 'epoch-0010.png'), Buffer.from('tenth'));
  await writeFile(join(paths.samples, 'epoch-0001.png'), Buffer.from('first'));
  const r = await fetch(`${server.url}/samples/latest.png`);
  t.is(r.status, 200);
  t.is(r.headers.get('content-type'), 'image/png');
  t.is(r.headers.get('cache-control'), 'no-store');
  t.is(Buffer.from(await r.arrayBuffer()).toString(), 'tenth');
});

test('the global step follows a rollback and a resume; the ETA origin is re-taken at the first step after each', async (t) => {
  const { metrics, server } = await setUp(t);
  metrics.setInfo({ model: 'mlp', backend: 'wasm', version: 'x', world: 1 }, 10, 10);
  metrics.setPosition(40); // --resume from a checkpoint at step 40
  let s = await scrape(server);
  t.is(one(s, 'gan_global_step'), 40);
  t.deepEqual(values(s, 'gan_run_start_global_step'), [], 'no origin before the first step');
  const t0 = Date.now() / 1000;
  metrics.recordStep([report(0, 1, 1)], 0.5, 64);
  const t1 = Date.now() / 1000;
  s = await scrape(server);
  t.is(one(s, 'gan_global_step'), 41);
  // The origin is the end of that first (warm-up) step.
  t.is(one(s, 'gan_run_start_global_step'), 41);
  const start = one(s, 'gan_run_start_timestamp_seconds');
  t.true(start >= t0 && start <= t1, `${start} not in [${t0}, ${t1}]`);
  for (let i = 0; i < 9; i++) metrics.recordStep([report(0, 1, 1)], 0.5, 64);
  t.is(one(await scrape(server), 'gan_global_step'), 50);
  metrics.setPosition(45); // rollback to a snapshot
  s = await scrape(server);
  t.is(one(s, 'gan_global_step'), 45);
  t.is(one(s, 'gan_rollbacks_total'), 1);
  t.deepEqual(values(s, 'gan_run_start_global_step'), [], 'no ETA origin until the first step after the rollback');
  metrics.recordStep([report(0, 1, 1)], 0.5, 64);
  s = await scrape(server);
  t.is(one(s, 'gan_global_step'), 46);
  t.is(one(s, 'gan_run_start_global_step'), 46);
  t.is(one(s, 'gan_steps_total'), 11, 'steps computed, the redone one included');
});

test('the status is a state set with exactly one 1', async (t) => {
  const { metrics, server } = await setUp(t);
  for (const status of ['training', 'evaluating', 'checkpointing', 'finished'] as const) {
    metrics.setStatus(status);
    const s = await scrape(server);
    t.deepEqual(RUN_STATUSES.map((x) => one(s, 'gan_run_status', { status: x })), RUN_STATUSES.map((x) => (x === status ? 1 : 0)));
    t.is(((await (await fetch(`${server.url}/healthz`)).json()) as { status: string }).status, status);
  }
  metrics.setStatus('failed');
  t.is((await fetch(`${server.url}/healthz`)).status, 503);
});

test('a lost worker is named by its rank; its heartbeat age keeps growing; a rank that left (--elastic) has no series left', async (t) => {
  const ages = new Map([[0, 0.1], [1, 0.1], [2, 0.1]]);
  const { metrics, server } = await setUp(t, ages);
  metrics.setInfo({ model: 'mlp', backend: 'wasm', version: 'x', world: 3 }, 1, 10);
  for (const rank of [0, 1, 2]) metrics.workerJoined({ rank, device: 'cpu', host: `h${rank}` });
  metrics.recordStep([report(0, 1, 1), report(1, 1, 1), report(2, 1, 1)], 0.1, 96);
  let s = await scrape(server);
  t.deepEqual([0, 1, 2].map((r) => one(s, 'gan_worker_up', { worker: String(r), host: `h${r}` })), [1, 1, 1]);
  // Rank 1 dies: the coordinator reports it, then reassembles (a new membership without it).
  metrics.workerLost(1);
  metrics.beginAssembly();
  ages.clear();
  s = await scrape(server);
  t.deepEqual([0, 1, 2].map((r) => one(s, 'gan_worker_up', { worker: String(r) })), [1, 0, 1]);
  t.is(one(s, 'gan_worker_lost_total', { worker: '1' }), 1);
  t.is(one(s, 'gan_worker_lost_total', { worker: '0' }), 0);
  t.is(one(s, 'gan_run_status', { status: 'starting' }), 1);
  const age1 = one(s, 'gan_worker_heartbeat_age_seconds', { worker: '1' });
  await new Promise((r) => setTimeout(r, 300));
  const age2 = one(await scrape(server), 'gan_worker_heartbeat_age_seconds', { worker: '1' });
  t.true(age2 >= age1 + 0.25, `heartbeat age of the lost rank went ${age1} -> ${age2}`);
  // --elastic: the run goes on with 2 workers; rank 2 (the highest) leaves, ranks 0 and 1 rejoin.
  metrics.resize(2);
  metrics.workerJoined({ rank: 0, device: 'cpu', host: 'h0' });
  metrics.workerJoined({ rank: 1, device: 'cpu', host: 'h2' });
  s = await scrape(server);
  const ranks = (name: string) => [...new Set(s.filter((x) => x.name.startsWith(name) && x.labels.worker !== undefined).map((x) => `${x.labels.worker}@${x.labels.host}`))].sort();
  for (const name of ['gan_worker_up', 'gan_worker_heartbeat_age_seconds', 'gan_worker_info', 'gan_worker_lost_total']) {
    t.deepEqual(ranks(name), ['0@h0', '1@h2'], name);
  }
  // Step series exist for ranks that stepped since: rank 1 is another worker now (host h2), no step yet.
  for (const name of ['gan_worker_step_duration_seconds', 'gan_backend_memory_bytes', 'gan_allreduce_sent_bytes_total']) {
    t.deepEqual(ranks(name), ['0@h0'], name);
  }
  t.is(one(s, 'gan_workers_connected'), 2);
  t.is(s.find((x) => x.name === 'gan_info')?.labels.world_size, '2');
});

test('gan_info carries the run id, seed, lr and global batch', async (t) => {
  const { metrics, server } = await setUp(t);
  metrics.setInfo({ model: 'dcgan', backend: 'wasm', version: '0.1.0', world: 4, runId: '20261203-2200-dcgan', seed: 7, lr: 0.0002, batchSize: 128 }, 500, 468);
  const info = (await scrape(server)).find((x) => x.name === 'gan_info');
  t.deepEqual(info?.labels, { model: 'dcgan', backend: 'wasm', version: '0.1.0', world_size: '4', run_id: '20261203-2200-dcgan', seed: '7', lr: '0.0002', batch_size: '128' });
});

test('GPU series carry DCGM\'s gpu, UUID and Hostname labels when the worker knows them', async (t) => {
  const { metrics, server } = await setUp(t);
  metrics.workerJoined({ rank: 0, device: 'GPU 3', host: 'node7' });
  metrics.recordStep([{ ...report(0, 1, 1), gpuUtilization: 0.9, gpuMemoryBytes: 1 << 30, gpuIndex: 3, gpuUuid: 'GPU-5f1c2d7e-8a9b-4c3d-9e8f-0123456789ab' }], 0.01, 64);
  const s = await scrape(server);
  t.is(one(s, 'gan_gpu_utilization_ratio', { gpu: '3', UUID: 'GPU-5f1c2d7e-8a9b-4c3d-9e8f-0123456789ab', Hostname: 'node7', worker: '0' }), 0.9);
  t.is(one(s, 'gan_gpu_memory_used_bytes', { gpu: '3', Hostname: 'node7' }), 1 << 30);
});

test('the linger ends after two more scrapes, on a stop signal, at its bound, and is skipped when nothing ever scraped', async (t) => {
  const { metrics, server } = await setUp(t);
  const log: string[] = [];
  const never = new AbortController().signal;
  t.is(await linger(metrics, 30, never, (l) => log.push(l)), 'unwatched');
  t.is(await linger(metrics, 0, never, (l) => log.push(l)), 'off');
  await scrape(server);
  metrics.setStatus('finished');
  const scraping = setInterval(() => void scrape(server), 50);
  try {
    t.is(await linger(metrics, 30, never, (l) => log.push(l)), 'scraped');
  } finally {
    clearInterval(scraping);
  }
  t.regex(log.join('\n'), /run finished: \/metrics stays up until 2 more scrapes or 30 s/);
  const stop = new AbortController();
  setTimeout(() => stop.abort(), 100);
  t.is(await linger(metrics, 30, stop.signal, () => undefined), 'signal');
  t.is(await linger(metrics, 0.2, never, () => undefined), 'timeout');
});
