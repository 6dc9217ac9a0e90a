/**
 * Scaling of real cluster runs (`npm run cluster`, one process per worker) and the step breakdown,
 * read back from the run's metrics.jsonl. The first logged window (kernel set-up, first
 * allocations) is dropped; every later window is one measurement.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelName } from '../shared/models/index.js';
import { parseMetricsLines } from '../shared/report/run-data.js';
import { summarize, type Summary } from './stats.js';

/** One cluster run to make. */
export interface ClusterRunArgs {
  model: ModelName;
  workers: number;
  /** Global batch. */
  batch: number;
  /** Steps per metrics window (--log-every). */
  window: number;
  /** Windows to time after the dropped first one. */
  windows: number;
  backend: string;
  timeoutMs: number;
  /**
   * OpenBLAS threads per worker (OPENBLAS_NUM_THREADS). The scaling section gives every worker one
   * core, in the 1-worker run too, as a GPU cluster gives every worker one GPU: with the default
   * (all cores for one process) the 1-worker baseline would already use every core this machine has.
   */
  blasThreads?: number;
}

/** The parts of a step, ms (means over workers, as the coordinator logs them). */
export const STEP_PARTS = ['dataMs', 'computeMs', 'flattenMs', 'reduceMs', 'optimizerMs', 'metricsMs', 'controlMs'] as const;
export type StepPart = (typeof STEP_PARTS)[number];

/** What one cluster run measured. */
export interface ClusterRunResult {
  model: ModelName;
  workers: number;
  batch: number;
  imagesPerSec: Summary;
  stepMs: Summary;
  /** Mean over the timed windows of each part; controlMs = step − all the others (messages, waits, scheduling). */
  parts: Record<StepPart, number>;
  /** Live tensors and worker RSS in the first and last timed windows (leak watch). */
  numTensors: [number, number];
  rssBytes: [number, number];
  wallSeconds: number;
}

interface StepLine {
  type: string;
  imagesPerSec: number;
  stepMs: number;
  numTensors?: number;
  rssBytes?: number;
  [k: string]: unknown;
}

/** Runs one cluster with `npm run cluster`'s entry and returns its timed windows. */
export async function clusterRun(a: ClusterRunArgs): Promise<ClusterRunResult> {
  const dir = await mkdtemp(join(tmpdir(), 'gan-bench-'));
  const entry = fileURLToPath(new URL('../../cluster/launch.ts', import.meta.url));
  const steps = a.window * (a.windows + 1);
  const args = [
    '--import', 'tsx', entry, '--workers', String(a.workers), '--model', a.model, '--batch-size', String(a.batch), '--limit', String(steps * a.batch),
    '--epochs', '1', '--log-every', String(a.window), '--backend', a.backend, '--run-dir', join(dir, 'run'), '--metrics-port', '0', '--progress', 'off',
  ];
  const t0 = performance.now();
  try {
    await new Promise<void>((resolve, reject) => {
      const env = a.blasThreads === undefined ? process.env : { ...process.env, OPENBLAS_NUM_THREADS: String(a.blasThreads) };
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const timer = setTimeout(() => {
        child.kill('SIGTERM');
        reject(new Error(`cluster run (${a.model}, ${a.workers} workers) did not finish within ${Math.round(a.timeoutMs / 1000)} s`));
      }, a.timeoutMs);
      child.on('exit', (code) => {
        clearTimeout(timer);
        if (code === 0) resolve();
        else reject(new Error(`cluster run (${a.model}, ${a.workers} workers) exited with ${code}: ${err.trim().split('\n').filter((l) => !/nodedir/.test(l)).pop() ?? ''}`));
      });
    });
    return await readRunWindows(join(dir, 'run'), a, (performance.now() - t0) / 1000);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A finished run's timed windows, read back from its metrics.jsonl (the first window dropped):
 * step time, images/s, and the step's parts as the workers logged them.
 */
export async function readRunWindows(runDir: string, a: Pick<ClusterRunArgs, 'model' | 'workers' | 'batch'>, wallSeconds: number): Promise<ClusterRunResult> {
  const lines = parseMetricsLines(await readFile(join(runDir, 'metrics.jsonl'), 'utf8')) as StepLine[];
  const windows = lines.filter((l) => l.type === 'step').slice(1);
  if (windows.length === 0) throw new Error(`cluster run (${a.model}, ${a.workers} workers) logged no timed window`);
  // Means over the timed windows, so the parts add up to the mean step.
  const mean = (k: string) => windows.reduce((s, w) => s + Number(w[k] ?? 0), 0) / windows.length;
  const parts = Object.fromEntries(STEP_PARTS.map((p) => [p, p === 'controlMs' ? 0 : mean(p)])) as Record<StepPart, number>;
  const stepMs = summarize(windows.map((w) => w.stepMs));
  parts.controlMs = Math.max(0, mean('stepMs') - STEP_PARTS.reduce((s, p) => s + parts[p], 0));
  const [first, last] = [windows[0], windows[windows.length - 1]];
  return {
    model: a.model,
    workers: a.workers,
    batch: a.batch,
    imagesPerSec: summarize(windows.map((w) => w.imagesPerSec)),
    stepMs,
    parts,
    numTensors: [first.numTensors ?? 0, last.numTensors ?? 0],
    rssBytes: [first.rssBytes ?? 0, last.rssBytes ?? 0],
    wallSeconds,
  };
}

/** Scaling efficiency: (images/s at N) / (N · images/s at 1), medians. */
export function scalingEfficiency(one: ClusterRunResult, n: ClusterRunResult): number {
  return n.imagesPerSec.median / (n.workers * one.imagesPerSec.median);
}
