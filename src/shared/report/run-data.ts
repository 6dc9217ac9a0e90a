/**
 * Reading a run directory for the report: config.json, the metrics.jsonl lines by type, and the
 * sample grids by epoch. No TensorFlow.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runPaths, type RunPaths } from '../run/run-dir.js';

/** Thrown for a run directory the report can't use; one line. */
export class ReportError extends Error {}

export interface StepLine {
  globalStep: number;
  lossD: number;
  lossG: number;
  dReal: number;
  dFake: number;
}

export interface EvalLine {
  epoch: number;
  globalStep: number;
  images: number;
  fid: number;
  fidFloor: number;
  score: number;
  scoreCeiling: number;
  coverageKl: number;
  shares: number[];
  underQuarter: number[];
  collapsed: boolean;
  confidence: number;
  realConfidence: number;
}

export interface EpochLine {
  epoch: number;
  seconds: number;
  imagesPerSec: number;
}

/** What the report shows of a run. */
export interface RunData {
  paths: RunPaths;
  config: Record<string, unknown>;
  steps: StepLine[];
  epochs: EpochLine[];
  evals: EvalLine[];
  /** Sample grids (PNG bytes) by epoch, ascending. */
  samples: { epoch: number; png: Uint8Array }[];
}

/** The records of a metrics.jsonl text, in order; blank lines and a torn last line (a run still being written) are skipped. */
export function parseMetricsLines(text: string): { type?: unknown; [k: string]: unknown }[] {
  const out: { type?: unknown; [k: string]: unknown }[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // a torn last line of a run still being written
    }
  }
  return out;
}

export async function readRun(root: string): Promise<RunData> {
  const paths = runPaths(root);
  if (!existsSync(root)) throw new ReportError(`--run ${root}: no such directory`);
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(await readFile(paths.config, 'utf8'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ReportError(`--run ${root}: ${e.code === 'ENOENT' ? 'no config.json (not a run directory)' : `config.json is not valid JSON (${e.message.split('\n')[0]})`}`);
  }
  const steps: StepLine[] = [];
  const epochs: EpochLine[] = [];
  const evals: EvalLine[] = [];
  for (const rec of parseMetricsLines(await readFile(paths.metrics, 'utf8').catch(() => ''))) {
    if (rec.type === 'step') steps.push(rec as unknown as StepLine);
    else if (rec.type === 'epoch') epochs.push(rec as unknown as EpochLine);
    else if (rec.type === 'eval') evals.push(rec as unknown as EvalLine);
    else if (rec.type === 'rollback' || rec.type === 'resume') {
      // Work after the rollback point is redone: keep only the history up to it.
      const g = (rec as { globalStep?: number }).globalStep ?? Infinity;
      for (const list of [steps, evals] as { globalStep: number }[][]) while (list.length && list[list.length - 1].globalStep > g) list.pop();
    }
  }
  const samples: RunData['samples'] = [];
  for (const name of await readdir(paths.samples).catch(() => [] as string[])) {
    const m = /^epoch-(\d+)\.png$/.exec(name);
    if (m) samples.push({ epoch: Number(m[1]), png: await readFile(join(paths.samples, name)) });
  }
  samples.sort((a, b) => a.epoch - b.epoch);
  return { paths, config, steps, epochs, evals, samples };
}

/** The grids the report shows: the first epoch's, those nearest a quarter, half and three quarters of the run, and the last. */
export function progression<T extends { epoch: number }>(samples: T[]): T[] {
  if (samples.length <= 5) return samples;
  const first = samples[0].epoch;
  const last = samples[samples.length - 1].epoch;
  const picked = new Set<T>([samples[0], samples[samples.length - 1]]);
  for (const q of [0.25, 0.5, 0.75]) {
    const target = first + q * (last - first);
    picked.add(samples.reduce((best, s) => (Math.abs(s.epoch - target) < Math.abs(best.epoch - target) ? s : best)));
  }
  return [...picked].sort((a, b) => a.epoch - b.epoch);
}
