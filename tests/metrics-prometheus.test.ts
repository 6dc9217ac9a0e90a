/**
 * The dashboard against a real Prometheus (Debian's package, installed by .ci/run) scraping real
 * 2-worker runs every second, queried through its HTTP API the way Grafana queries it:
 * - every PromQL expression of dashboards/gan-training.json returns data (the GPU series, by
 *   design, are absent on CPU workers);
 * - the values are right: loss and D-output window means equal metrics.jsonl's over the same steps;
 *   the ETA, read a quarter into a fresh run, after a rollback (a worker SIGKILLed) and after a
 *   --resume, counts from the right origin (the first step after each (re)start, as metrics.jsonl
 *   timed it) and the run's position, and reads 0 at the end; the final status and FID are still
 *   scraped after the run ended (--linger);
 * - the lost rank is named (gan_worker_lost_total), the other is not.
 * How close each ETA came to the real remaining time is logged (see checkEta for why not asserted).
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pinnedClassifier } from './helpers/classifier.js';
import { ROOT, runCli, tempDir, type CliResult } from './helpers/cli.js';
import { freeLocalPort } from '../src/shared/proc.js';

interface Target {
  expr: string;
}
interface Panel {
  title: string;
  type: string;
  targets?: Target[];
  panels?: Panel[];
}
interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}
interface MatrixSeries {
  metric: Record<string, string>;
  values: [number, string][];
}

/** Expressions that must be empty on CPU-only workers (absent, not zero): nvidia-smi's figures and webgpu's device memory. */
// Absent by design in this test's runs: GPU series on CPU workers, a conditional model's accuracy in an unconditional run.
const ABSENT_HERE = /gan_gpu_|gan_backend_device_memory_bytes|gan_conditional_accuracy/;
// 8 steps per epoch, at batch 512 so a step takes long enough (~0.4 s here) that the panels are
// read while the run is live: at batch 64 the whole 64-step run took 20 s once the cluster's steps
// streamed (ranges of steps), less than the history the checks wait for; at batch 256 it took 12 s
// once the workers reduced in shared memory (2026-12-07), and the run was over before the checks.
const RUN = ['--workers', '2', '--model', 'mlp', '--backend', 'wasm', '--limit', '4096', '--batch-size', '512', '--log-every', '1', '--sample-every', '50', '--linger', '30'];

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function query<T = VectorSample>(prom: string, expr: string, time?: number): Promise<T[]> {
  const res = await fetch(`${prom}/api/v1/query?query=${encodeURIComponent(expr)}${time === undefined ? '' : `&time=${time}`}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { result: T[] } };
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
  return body.data!.result;
}

/** The single value of an instant query, or undefined when it returned nothing. */
async function scalar(prom: string, expr: string, time?: number): Promise<number | undefined> {
  const r = await query(prom, expr, time);
  if (r.length > 1) throw new Error(`${expr}: ${r.length} series`);
  return r.length ? Number(r[0]!.value[1]) : undefined;
}

function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

async function jsonl(runDir: string): Promise<Record<string, unknown>[]> {
  return (await readFile(join(runDir, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A cluster run in the background; `done` is the wall time (ms) its "done:" line appeared. */
function startRun(args: string[], onChunk?: (seen: string) => void): { result: Promise<CliResult>; done: () => number | undefined } {
  let seen = '';
  let doneAt: number | undefined;
  const result = runCli('cluster', [...RUN, ...args], {
    timeoutMs: 600_000,
    onStderr: (chunk) => {
      seen += chunk;
      if (doneAt === undefined && /^done: \d+ steps/m.test(seen)) doneAt = Date.now();
      onChunk?.(seen);
    },
  });
  return { result, done: () => doneAt };
}

/** The dashboard's ETA now, with the moment it was read and the origin it used. */
async function readEta(prom: string, etaExpr: string): Promise<{ eta: number; at: number; originStep: number; originAt: number }> {
  const at = Date.now();
  const eta = await scalar(prom, etaExpr, at / 1000);
  if (eta === undefined) throw new Error('the ETA has no data');
  return { eta, at, originStep: (await scalar(prom, 'gan_run_start_global_step', at / 1000))!, originAt: (await scalar(prom, 'gan_run_start_timestamp_seconds', at / 1000))! };
}

/**
 * The ETA read at `read`: positive and finite, its origin the end of the first step after the
 * (re)start as metrics.jsonl timed it, and its value the one the run's recorded progress gives
 * (steps left over the step rate since the origin, both from metrics.jsonl). How close it came to
 * the real remaining time is logged, not asserted: on this shared machine the step rate of a
 * one-minute run swings by ±40% with the other jobs' load (measured here), and timing goals do not
 * belong in tests.
 */
function checkEta(t: ExecutionContext, when: string, read: { eta: number; at: number; originStep: number; originAt: number }, doneAt: number | undefined, lines: Record<string, unknown>[], originStep: number): void {
  t.true(Number.isFinite(read.eta) && read.eta > 0, `ETA ${when}: ${read.eta}`);
  t.is(read.originStep, originStep, `ETA ${when}: origin step`);
  // The last metrics.jsonl line of that step (a rollback repeats steps; the redone one counts).
  const line = lines.filter((l) => l.type === 'step' && l.globalStep === originStep).at(-1);
  t.truthy(line, `no metrics.jsonl line for step ${originStep}`);
  const stepEnd = Date.parse(line!.time as string) / 1000;
  t.true(Math.abs(read.originAt - stepEnd) <= 1, `ETA ${when}: origin at ${read.originAt}, step ${originStep} ended at ${stepEnd}`);
  // The ETA is the run's own progress projected: at the read (time T), the steps left over the
  // steps per second since the origin. Both come from metrics.jsonl, which the coordinator writes as
  // each step's report arrives, as it sets the gauges: Prometheus held a step finished by T and no
  // older than one scrape (1 s) before it; 0.5 s and 2.5 s of slack take the write and scrape lags.
  const T = read.at / 1000;
  const steps = lines.slice(lines.lastIndexOf(line!)).filter((l) => l.type === 'step');
  const planned = Math.max(...lines.filter((l) => l.type === 'step').map((l) => l.globalStep as number));
  const stepBy = (at: number) => Math.max(originStep, ...steps.filter((l) => Date.parse(l.time as string) / 1000 <= at).map((l) => l.globalStep as number));
  const etaAt = (g: number) => ((planned - g) * (T - read.originAt)) / (g - originStep);
  const [low, high] = [etaAt(stepBy(T + 0.5)), etaAt(stepBy(T - 2.5))];
  t.true(read.eta >= 0.95 * low && read.eta <= 1.05 * high, `ETA ${when}: ${read.eta.toFixed(1)} s, the run's progress gives ${low.toFixed(1)}–${high.toFixed(1)} s`);
  t.truthy(doneAt, `${when}: the run never printed its done line`);
  const real = (doneAt! - read.at) / 1000;
  t.log(`ETA ${when}: ${read.eta.toFixed(1)} s forecast, ${real.toFixed(1)} s real (${(100 * (read.eta - real) / real).toFixed(1)}%)`);
}

test('dashboard expressions against a real Prometheus: data on every panel, window means as metrics.jsonl, ETA at start, after a rollback and after a resume, final values after the end', async (t) => {
  t.timeout(30 * 60_000);
  await pinnedClassifier();
  const dir = await tempDir(t);
  const dashboard = JSON.parse(await readFile(join(ROOT, 'dashboards', 'gan-training.json'), 'utf8')) as { panels: Panel[] };
  const panels = allPanels(dashboard.panels);
  const exprs = panels.flatMap((p) => (p.targets ?? []).map((tg) => ({ panel: p.title, expr: tg.expr })));
  t.true(exprs.length >= 15, `only ${exprs.length} expressions`);
  const etaExpr = panels.find((p) => p.title === 'ETA')!.targets![0]!.expr;

  const metricsPort = await freeLocalPort();
  const promPort = await freeLocalPort();
  const config = `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: gan\n    static_configs:\n      - targets: ['127.0.0.1:${metricsPort}']\n`;
  await writeFile(join(dir, 'prometheus.yml'), config);
  const prom: ChildProcess = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: 'ignore' });
  const promExited = new Promise<number | null>((r) => prom.once('exit', (code) => r(code)));
  prom.once('error', (err) => t.fail(`prometheus could not start (is Debian's prometheus installed? .ci/run installs it): ${err.message}`));
  t.teardown(() => {
    prom.kill('SIGKILL');
  });
  const promUrl = `http://127.0.0.1:${promPort}`;
  const port = ['--metrics-port', String(metricsPort)];

  try {
    // ---- 1. A fresh run of 8 epochs (64 steps), evaluated every 4 epochs, checkpointed every 2.
    const runA = join(dir, 'a');
    const a = startRun(['--progress', 'off', '--epochs', '8', '--checkpoint-every', '2', '--eval-every', '4', '--eval-n', '200', '--run-dir', runA, ...port]);
    await waitFor('the target to be up', 120_000, async () => ((await query(promUrl, 'up{job="gan"} == 1')).length ? true : undefined));
    t.is(await waitFor('the plan', 120_000, () => scalar(promUrl, 'gan_steps_planned')), 64);
    await waitFor('a quarter of the run', 300_000, async () => ((await scalar(promUrl, 'gan_global_step')) ?? 0) >= 16 || undefined);
    const etaStart = await readEta(promUrl, etaExpr);

    // Every panel has data once a checkpoint and an evaluation happened and 10 s are recorded.
    await waitFor('a checkpoint, an evaluation and 10 s of history', 300_000, async () =>
      (await query(promUrl, 'gan_last_checkpoint_timestamp_seconds > 0 and on() gan_eval_epoch > 0 and on() count_over_time(gan_global_step[1m]) > 10')).length ? true : undefined,
    );
    const empty: string[] = [];
    const withData: string[] = [];
    for (const { panel, expr } of exprs) {
      const q = expr.replaceAll('$worker', '.*').replaceAll('$__rate_interval', '15s');
      const result = await query(promUrl, q);
      if (ABSENT_HERE.test(expr)) {
        t.is(result.length, 0, `${panel}: ${q} should be absent here (CPU workers, an unconditional model)`);
        continue;
      }
      if (result.length) withData.push(`${panel}: ${q} = ${(result as VectorSample[]).map((r) => Number(r.value[1]).toPrecision(4)).join(', ')}`);
      else empty.push(`${panel}: ${q}`);
    }
    t.log(`${withData.length} expressions returned data; GPU-only and conditional-only expressions absent as they should be`);
    for (const line of withData) t.log(`  ✓ ${line}`);
    t.deepEqual(empty, [], 'these panels showed no data');
    t.deepEqual((await query(promUrl, 'gan_worker_up')).map((r) => r.metric.worker).sort(), ['0', '1']);
    t.like((await (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).json()) as object, { workers: 2 });
    // The means are read late in the run over 8 s: rate() extrapolates each series to the window's
    // edges but not past zero, so a window reaching back to the run's first samples (counters near
    // 0) extrapolates _sum and _count differently and their ratio is no longer the exact mean.
    await waitFor('7/8 of the run', 300_000, async () => ((await scalar(promUrl, 'gan_global_step')) ?? 0) >= 56 || undefined);
    const windowAt = Date.now() / 1000;

    const ra = await a.result;
    t.is(ra.code, 0, ra.stderr.slice(-2000));

    // Window means: the dashboard's rate(_sum)/rate(_count) over a window equals the mean of
    // metrics.jsonl's per-step values over exactly the steps the window's samples span.
    const linesA = await jsonl(runA);
    checkEta(t, 'a quarter into a fresh run', etaStart, a.done(), linesA, 1);
    const stepLoss = new Map(linesA.filter((l) => l.type === 'step').map((l) => [l.globalStep as number, l]));
    t.is(stepLoss.size, 64);
    const counts = (await query<MatrixSeries>(promUrl, 'gan_generator_loss_count[8s]', windowAt))[0]!.values;
    const [from, to] = [Number(counts[0]![1]), Number(counts.at(-1)![1])];
    t.true(to - from >= 5, `only ${to - from} steps in the window`);
    for (const [metric, field] of [['gan_generator_loss', 'lossG'], ['gan_discriminator_loss', 'lossD'], ['gan_d_real_ratio', 'dReal'], ['gan_d_fake_ratio', 'dFake']] as const) {
      const promMean = await scalar(promUrl, `rate(${metric}_sum[8s]) / rate(${metric}_count[8s])`, windowAt);
      let sum = 0;
      for (let s = from + 1; s <= to; s++) sum += stepLoss.get(s)![field] as number;
      const fileMean = sum / (to - from);
      t.true(Math.abs(promMean! - fileMean) <= 1e-9 * Math.abs(fileMean), `${metric}: Prometheus ${promMean}, metrics.jsonl ${fileMean} (steps ${from + 1}..${to})`);
    }
    // After the end the run lingered until scraped: its final status and FID are in Prometheus.
    const end = Date.now() / 1000;
    t.is(await scalar(promUrl, 'last_over_time(gan_run_status{status="finished"}[1m])', end), 1);
    t.is(await scalar(promUrl, 'last_over_time(gan_global_step[1m])', end), 64);
    // The ETA at the run's last sample: nothing left.
    const lastSample = (await query<MatrixSeries>(promUrl, 'gan_global_step[1m]', end))[0]!.values.at(-1)![0];
    t.is(await scalar(promUrl, etaExpr, lastSample), 0);
    const lastEval = linesA.filter((l) => l.type === 'eval').at(-1)!;
    t.is(lastEval.epoch, 8);
    t.true(Math.abs((await scalar(promUrl, 'last_over_time(gan_fid[1m])', end))! - (lastEval.fid as number)) <= 1e-9 * (lastEval.fid as number), 'the final FID was not scraped');
    t.is(await scalar(promUrl, 'last_over_time(gan_eval_epoch[1m])', end), 8);

    // ---- 2. A run whose rank 1 is SIGKILLed at step 24: restart, rollback, ETA after it.
    const runB = join(dir, 'b');
    let rolledBack = false;
    let victim: number | undefined;
    // --progress lines: the rollback line says from which step to which.
    const b = startRun(['--progress', 'lines', '--epochs', '8', '--checkpoint-every', '4', '--snapshot-interval', '1', '--max-restarts', '2', '--run-dir', runB, ...port], (seen) => {
      rolledBack ||= /rolling back from step/.test(seen);
      victim ??= Number(/worker rank 1 joined: \S+ pid (\d+)/.exec(seen)?.[1]) || undefined;
    });
    await waitFor('step 24 of run b', 300_000, async () => ((await query(promUrl, 'gan_info{run_id="b"} and on() gan_global_step >= 24')).length ? true : undefined));
    t.truthy(victim, 'rank 1 never joined');
    process.kill(victim!, 'SIGKILL');
    await waitFor('the rollback', 180_000, async () => (rolledBack && (await scalar(promUrl, 'gan_rollbacks_total')) === 1) || undefined);
    const rollbackTo = await waitFor('16 steps after the rollback', 300_000, async () => {
      const start = await scalar(promUrl, 'gan_run_start_global_step and on() gan_rollbacks_total >= 1');
      const now = await scalar(promUrl, 'gan_global_step');
      return start !== undefined && now !== undefined && now >= start + 16 ? start : undefined;
    });
    const etaRollback = await readEta(promUrl, etaExpr);
    t.is(await scalar(promUrl, 'gan_worker_lost_total{worker="1"}'), 1, 'the lost rank is named');
    t.is(await scalar(promUrl, 'gan_worker_lost_total{worker="0"}'), 0);
    t.is(await scalar(promUrl, 'gan_rollbacks_total'), 1);
    t.is(await scalar(promUrl, 'gan_worker_restarts_total'), 1);
    const rb = await b.result;
    t.is(rb.code, 0, rb.stderr.slice(-2000));
    const rollbackLine = /rolling back from step (\d+) to step (\d+)/.exec(rb.stderr)!;
    t.is(rollbackTo, Number(rollbackLine[2]) + 1, 'the ETA origin is the first step after the one rolled back to');
    checkEta(t, `after a rollback from step ${rollbackLine[1]} to ${rollbackLine[2]}`, etaRollback, b.done(), await jsonl(runB), Number(rollbackLine[2]) + 1);

    // ---- 3. Run 1 resumed for 6 more epochs (steps 64..112): the position starts at the checkpoint.
    const c = startRun(['--progress', 'off', '--resume', 'latest', '--run-dir', runA, '--epochs', '14', ...port]);
    await waitFor('16 steps after the resume', 300_000, async () => {
      const start = await scalar(promUrl, 'gan_run_start_global_step and on() gan_steps_planned == 112');
      const now = await scalar(promUrl, 'gan_global_step and on() gan_steps_planned == 112');
      return start === 65 && now !== undefined && now >= 81 ? true : undefined;
    });
    const etaResume = await readEta(promUrl, etaExpr);
    const rc = await c.result;
    t.is(rc.code, 0, rc.stderr.slice(-2000));
    checkEta(t, 'after --resume from step 64', etaResume, c.done(), await jsonl(runA), 65);
    t.is(await scalar(promUrl, 'last_over_time(gan_global_step[1m])'), 112);
  } finally {
    prom.kill('SIGTERM');
    await promExited;
  }
});
