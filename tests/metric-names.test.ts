/**
 * Naming rules for the run's Prometheus metrics (https://prometheus.io/docs/practices/naming/),
 * checked against the real registry so a new metric cannot slip in with a bad name or a
 * high-cardinality label. prom-client's default process_/nodejs_ metrics are not ours and are left out.
 */
import test from 'ava';
import { RunMetrics } from '../src/coordinator/metrics/registry.js';
import type { StepReport } from '../src/shared/protocol/messages.js';

interface Described {
  name: string;
  type: string;
  /** Label names the metric declares (prom-client keeps them on the metric object). */
  declared: string[];
  /** Label names seen on exported samples after exercising every recording method. */
  seen: string[];
}

// network is D or G; adapter* and host are fixed per worker process; state is used/allocated; status one of six; the
// run facts of gan_info (run_id, seed, lr, batch_size) are fixed per run; gpu/UUID/Hostname are fixed
// per GPU and spelt as NVIDIA's DCGM exporter spells them so the series join: all low-cardinality.
const LABEL_ALLOW_LIST = new Set(['network', 'worker', 'device', 'host', 'model', 'backend', 'version', 'world_size', 'run_id', 'seed', 'lr', 'batch_size', 'le', 'adapter', 'adapter_vendor', 'adapter_type', 'state', 'status', 'gpu', 'UUID', 'Hostname']);
/** Labels named like a step, epoch or batch that are one fixed value per run. */
const FIXED_PER_RUN = new Set(['gan_info{batch_size}']);
/** Per-worker metrics allowed labels beyond worker, device and host (each worker's facts, a memory kind, its GPU). */
const EXTRA_WORKER_LABELS: Record<string, string> = {
  gan_worker_info: 'adapter,adapter_type,adapter_vendor,backend,device,host,worker',
  gan_backend_device_memory_bytes: 'device,host,state,worker',
  gan_gpu_utilization_ratio: 'Hostname,UUID,device,gpu,host,worker',
  gan_gpu_memory_used_bytes: 'Hostname,UUID,device,gpu,host,worker',
};

function report(rank: number, gpu: boolean): StepReport {
  return {
    t: 'report', rank, epoch: 0, step: 0,
    lossD: 1.2, lossG: 0.8, dReal: 0.6, dFake: 0.4, dFakeForG: 0.45, skipped: rank === 1, gradSqD: 4, gradSqG: 9,
    dataMs: 1, computeMs: 30, flattenMs: 1, reduceMs: 5, optimizerMs: 2, totalMs: 38,
    reducedBytes: 1 << 20, memoryBytes: 64 << 20, numTensors: 120, rssBytes: 512 << 20,
    ...(gpu ? { gpuUtilization: 0.7, gpuMemoryBytes: 2 << 30, gpuIndex: 0, gpuUuid: 'GPU-5f1c2d7e-8a9b-4c3d-9e8f-0123456789ab' } : {}),
  };
}

/** Every metric of a RunMetrics whose every recording method has run once, so labelled series exist. */
async function runMetrics(): Promise<Described[]> {
  const m = new RunMetrics({ heartbeatAges: () => new Map([[0, 0.5], [1, 1.5]]), rejected: () => 2 });
  m.setInfo({ model: 'dcgan', backend: 'tfjs-node-gpu', version: '0.1.0', world: 2, runId: 'r1', seed: 1, lr: 2e-4, batchSize: 128 }, 5, 100);
  m.setPosition(0);
  m.workerJoined({ rank: 0, device: 'gpu:0', host: 'a' });
  m.workerJoined({ rank: 1, device: 'cpu', host: 'b' });
  m.recordStep([report(0, true), report(1, false)], 0.04, 128);
  m.epochDone(1);
  m.checkpointWritten(0.3);
  m.workerRestarted();
  m.workerLost(1);
  m.recordConditionalAccuracy({ conditional: { accuracy: 0.5, perDigit: [] } } as unknown as Parameters<RunMetrics['recordConditionalAccuracy']>[0]);
  m.refresh();
  const declared = new Map(
    m.registry.getMetricsAsArray().map((x) => [x.name, [...((x as unknown as { labelNames?: readonly string[] }).labelNames ?? [])]]),
  );
  const json = await m.registry.getMetricsAsJSON();
  return json
    .filter((x) => !x.name.startsWith('process_') && !x.name.startsWith('nodejs_'))
    .map((x) => ({
      name: x.name,
      type: String(x.type),
      declared: declared.get(x.name) ?? [],
      seen: [...new Set(x.values.flatMap((v) => Object.keys(v.labels)))],
    }));
}

test('the registry exports the run metrics (not an empty list the other rules would pass vacuously)', async (t) => {
  const metrics = await runMetrics();
  t.true(metrics.length >= 25, `only ${metrics.length} metrics: ${metrics.map((m) => m.name).join(', ')}`);
  for (const name of ['gan_generator_loss', 'gan_steps_total', 'gan_step_duration_seconds', 'gan_worker_up']) {
    t.true(metrics.some((m) => m.name === name), `${name} missing`);
  }
});

test('every run metric starts with gan_', async (t) => {
  const bad = (await runMetrics()).filter((m) => !/^gan_[a-z0-9_]+$/.test(m.name));
  t.deepEqual(bad.map((m) => m.name), []);
});

test('counters end in _total and nothing else does', async (t) => {
  const bad = (await runMetrics()).filter((m) => (m.type === 'counter') !== m.name.endsWith('_total'));
  t.deepEqual(bad.map((m) => `${m.name} (${m.type})`), []);
});

test('names use base units only', async (t) => {
  // Non-base units as name tokens: ms, kb, percent… (seconds, bytes and 0..1 ratios are the base units).
  const nonBase = /_(ms|msec|millis|milliseconds|us|micros|microseconds|ns|nanoseconds|minutes|hours|days|kb|kib|mb|mib|gb|gib|kilobytes|megabytes|gigabytes|bits|percent|pct|percentage)(_|$)/;
  const bad = (await runMetrics()).filter((m) => nonBase.test(m.name));
  t.deepEqual(bad.map((m) => m.name), []);
});

test('quantities that have a unit name it as a base-unit suffix', async (t) => {
  const rules: [RegExp, RegExp, string][] = [
    [/_(duration|age|timestamp|time|latency)(_|$)/, /_seconds(_total)?$/, '_seconds'],
    [/_(memory|bytes)(_|$)/, /_bytes(_total)?$/, '_bytes'],
    [/_(utilization|utilisation|ratio)(_|$)/, /_ratio$/, '_ratio'],
  ];
  const bad: string[] = [];
  for (const m of await runMetrics()) {
    for (const [about, suffix, unit] of rules) if (about.test(m.name) && !suffix.test(m.name)) bad.push(`${m.name} should end in ${unit}`);
  }
  t.deepEqual(bad, []);
});

test('histograms measure seconds', async (t) => {
  const histograms = (await runMetrics()).filter((m) => m.type === 'histogram');
  t.true(histograms.length > 0);
  t.deepEqual(histograms.filter((m) => !m.name.endsWith('_seconds')).map((m) => m.name), []);
});

test('labels come from the allow-list only', async (t) => {
  const bad: string[] = [];
  for (const m of await runMetrics()) {
    for (const label of new Set([...m.declared, ...m.seen])) if (!LABEL_ALLOW_LIST.has(label)) bad.push(`${m.name}{${label}}`);
  }
  t.deepEqual(bad, []);
});

test('no label is a step, an epoch or an image (unbounded cardinality)', async (t) => {
  const bad: string[] = [];
  for (const m of await runMetrics()) {
    for (const label of new Set([...m.declared, ...m.seen])) if (/step|epoch|image|batch|iteration/i.test(label) && !FIXED_PER_RUN.has(`${m.name}{${label}}`)) bad.push(`${m.name}{${label}}`);
  }
  t.deepEqual(bad, []);
});

test('per-worker series are labelled with worker, device and host, and only those', async (t) => {
  // The dashboard filters on worker=~"$worker" and shows {{device}} and {{host}}: a per-worker metric needs all three.
  const perWorker = (await runMetrics()).filter((m) => m.declared.includes('worker'));
  t.true(perWorker.length >= 8, perWorker.map((m) => m.name).join(', '));
  t.deepEqual(perWorker.filter((m) => m.declared.slice().sort().join(',') !== (EXTRA_WORKER_LABELS[m.name] ?? 'device,host,worker')).map((m) => `${m.name}: ${m.declared.join(',')}`), []);
});
