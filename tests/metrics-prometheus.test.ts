/**
 * Every panel of the dashboard shows data: a real 2-worker run, a real Prometheus (Debian's
 * package, installed by .ci/run) scraping its coordinator every second, and every PromQL
 * expression of dashboards/gan-training.json evaluated through Prometheus's HTTP API. The GPU
 * series are the exception by design: on CPU workers they must be absent (not zero).
 */
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pinnedClassifier } from './helpers/classifier.js';
import { ROOT, runCli, tempDir } from './helpers/cli.js';
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

/** Expressions that must be empty on CPU-only workers (absent, not zero): nvidia-smi's figures and webgpu's device memory. */
const GPU_ONLY = /gan_gpu_|gan_backend_device_memory_bytes/;

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function query(prom: string, expr: string): Promise<unknown[]> {
  const res = await fetch(`${prom}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { result: unknown[] } };
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
  return body.data!.result;
}

function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

test('every dashboard expression returns data from a real Prometheus scraping a 2-worker run', async (t) => {
  t.timeout(20 * 60_000);
  // The run evaluates (--eval-every) so the quality panels have data too.
  await pinnedClassifier();
  const dir = await tempDir(t);
  const dashboard = JSON.parse(await readFile(join(ROOT, 'dashboards', 'gan-training.json'), 'utf8')) as { panels: Panel[] };
  const exprs = allPanels(dashboard.panels).flatMap((p) => (p.targets ?? []).map((tg) => ({ panel: p.title, expr: tg.expr })));
  t.true(exprs.length >= 15, `only ${exprs.length} expressions`);

  const metricsPort = await freeLocalPort();
  let stopRun: (() => void) | undefined;
  const run = runCli(
    'cluster',
    ['--workers', '2', '--model', 'mlp', '--backend', 'wasm', '--epochs', '1000', '--limit', '512', '--batch-size', '64', '--checkpoint-every', '1', '--sample-every', '50', '--eval-every', '2', '--eval-n', '200',
      '--run-dir', join(dir, 'run'), '--metrics-port', String(metricsPort), '--progress', 'off'],
    { timeoutMs: 300_000, onStderr: (_chunk, child) => (stopRun ??= () => child.kill('SIGINT')) },
  );

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

  try {
    // Scraped, with workers reporting and at least one checkpoint written.
    await waitFor('the target to be up', 90_000, async () => ((await query(promUrl, 'up{job="gan"} == 1')).length ? true : undefined));
    await waitFor('a checkpoint, an evaluation and 20 s of history', 180_000, async () =>
      (await query(promUrl, 'gan_last_checkpoint_timestamp_seconds > 0 and on() gan_eval_epoch > 0 and on() count_over_time(gan_steps_total[1m]) > 20')).length ? true : undefined,
    );
    const empty: string[] = [];
    const withData: string[] = [];
    for (const { panel, expr } of exprs) {
      const q = expr.replaceAll('$worker', '.*').replaceAll('$__rate_interval', '15s');
      const result = await query(promUrl, q);
      if (GPU_ONLY.test(expr)) {
        t.is(result.length, 0, `${panel}: ${q} should be absent on CPU workers`);
        continue;
      }
      (result.length ? withData : empty).push(`${panel}: ${q}`);
    }
    t.log(`${withData.length} expressions returned data; GPU-only expressions absent as they should be`);
    for (const line of withData) t.log(`  ✓ ${line}`);
    t.deepEqual(empty, [], 'these panels showed no data');

    // Per-worker series carry both ranks.
    t.deepEqual(((await query(promUrl, 'gan_worker_images_per_second')) as { metric: { worker: string } }[]).map((r) => r.metric.worker).sort(), ['0', '1']);
    // /healthz answers beside /metrics.
    const health = (await (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).json()) as { status: string; workers: number };
    t.like(health, { status: 'training', workers: 2 });
  } finally {
    stopRun?.();
    const r = await run;
    t.is(r.code, 0, r.stderr.slice(-2000));
    prom.kill('SIGTERM');
    await promExited;
  }
});
