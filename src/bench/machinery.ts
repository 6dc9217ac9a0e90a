/**
 * The machinery benchmark: the step path of N workers (ring all-reduce over ZeroMQ between
 * processes, the non-finite check, Adam over the flat buffers) with the models' forward/backward
 * replaced by a synthetic step of the real models' gradient sizes (machinery-child.ts). It shows
 * what distribution costs per step apart from the models, at N = 1…4, and how close a GPU-like
 * step (--synthetic-compute-ms 3) would scale. The coordinator's per-step round trip is not in
 * it: the scaling section's real cluster runs measure that (controlMs).
 */
import { startChild } from './child.js';
import type { MachineryChildArgs, MachineryChildResult } from './machinery-child.js';
import { collectiveBytes, type BenchModel, type ModelSizes } from './model-sizes.js';
import { summarize, type Summary } from './stats.js';

export interface MachineryArgs {
  models: { model: BenchModel; sizes: ModelSizes }[];
  worlds: number[];
  warmup: number;
  steps: number;
  syntheticComputeMs: number;
  chunkBytes: number;
  timeoutMs: number;
}

/** One (model, N) figure. A step lasts as long as its slowest rank; the parts are means over ranks (as the coordinator reports them). */
export interface MachineryRow {
  model: BenchModel;
  world: number;
  /** Bytes of the D and G all-reduces of one step. */
  collectiveBytes: number[];
  stepMs: Summary;
  parts: { computeMs: number; reduceMs: number; optimizerMs: number; otherMs: number };
  /** The D and the G all-reduce separately (means over ranks and steps), ms. */
  reduceByNetMs: number[];
  /** Adam state held by the rank holding most, bytes (sharded: about 1/N of the N = 1 figure). */
  adamBytesPerRank: number;
  /** Step time outside the synthetic compute: all-reduces + optimizer + the rest, ms (median step − mean compute). */
  machineryMs: number;
  /** (step at N = 1) / (step at N): weak scaling, every worker keeps its batch. */
  efficiency?: number;
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

async function runOne(a: MachineryArgs, model: BenchModel, sizes: ModelSizes, world: number): Promise<MachineryRow> {
  const deadline = 60_000 + (a.warmup + a.steps) * 2 * a.timeoutMs;
  const children = Array.from({ length: world }, (_, rank) =>
    startChild('machinery-child.ts', { rank, world, sizes, warmup: a.warmup, steps: a.steps, syntheticComputeMs: a.syntheticComputeMs, chunkBytes: a.chunkBytes, timeoutMs: a.timeoutMs } satisfies MachineryChildArgs, deadline),
  );
  try {
    const eps = await Promise.all(children.map((c) => c.endpoint));
    if (eps.some((e) => !e)) await Promise.all(children.map((c) => c.result));
    children.forEach((c) => c.tell(eps.join(' ')));
    const rs = (await Promise.all(children.map((c) => c.result))) as MachineryChildResult[];
    const stepMs = summarize(rs[0].stepMs.map((_, j) => Math.max(...rs.map((r) => r.stepMs[j]))));
    const part = (k: 'computeMs' | 'reduceMs' | 'optimizerMs') => mean(rs.map((r) => mean(r[k])));
    const parts = { computeMs: part('computeMs'), reduceMs: part('reduceMs'), optimizerMs: part('optimizerMs'), otherMs: 0 };
    parts.otherMs = Math.max(0, mean(rs.map((r) => mean(r.stepMs))) - parts.computeMs - parts.reduceMs - parts.optimizerMs);
    const reduceByNetMs = [0, 1].map((n) => mean(rs.map((r) => mean(r.reduceByNetMs[n]))));
    return { model, world, collectiveBytes: collectiveBytes(sizes), stepMs, parts, reduceByNetMs, adamBytesPerRank: Math.max(...rs.map((r) => r.adamBytes)), machineryMs: stepMs.median - parts.computeMs };
  } finally {
    children.forEach((c) => c.kill());
  }
}

export async function machineryBench(a: MachineryArgs, log: (line: string) => void): Promise<MachineryRow[]> {
  const rows: MachineryRow[] = [];
  for (const { model, sizes } of a.models) {
    for (const world of a.worlds) {
      log(`machinery: ${model} gradient sizes, ${world} process(es), synthetic compute ${a.syntheticComputeMs} ms per step, ${a.warmup} + ${a.steps} steps`);
      rows.push(await runOne(a, model, sizes, world));
    }
    const one = rows.find((r) => r.model === model && r.world === 1);
    if (one) for (const r of rows.filter((x) => x.model === model)) r.efficiency = one.stepMs.median / r.stepMs.median;
  }
  return rows;
}
