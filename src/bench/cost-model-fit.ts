/**
 * The bench's cost models fitted to its own measurements (cost-model.ts holds the formulas): to
 * the all-reduce section (the flat TCP ring, and the default data plane's per-host and cross-host
 * terms), and to the machinery section; and how their projections are printed.
 */
import { availableParallelism } from 'node:os';
import type { FlagValues } from '../shared/config.js';
import type { AllReduceRow } from './allreduce.js';
import { fitAllReduce, hierarchicalAllReduceSeconds, parseLayouts, project, projectLayouts, type CostModel, type HostModel } from './cost-model.js';
import { fmt, list, pct, sizesOf } from './format.js';
import type { MachineryRow } from './machinery.js';
import { collectiveBytes, type BenchModel } from './model-sizes.js';
import type { ClusterRunResult } from './scaling.js';
import { table } from './table.js';

export interface ScalingOut {
  runs: ClusterRunResult[];
  efficiency: Partial<Record<BenchModel, number>>;
}

export async function costModel(v: FlagValues, ar: AllReduceRow[], scaling: ScalingOut | undefined) {
  // Fitted on the transport the ring uses by default (plain TCP; ZeroMQ only under CurveZMQ).
  const fit = fitAllReduce(ar.filter((r) => r.transport === 'tcp').map((r) => ({ world: r.world, bytes: r.bytes, seconds: r.timeMs.median / 1000 })));
  // The fixed overhead comes from the 2-worker run of the projected model, or of the one that ran.
  let model = v['project-model'] as BenchModel;
  const twos = scaling?.runs.filter((r) => r.workers === 2) ?? [];
  if (!twos.some((r) => r.model === model) && twos.length > 0) model = twos[0].model as BenchModel;
  const two = twos.find((r) => r.model === model);
  const fixedMs = two ? two.parts.dataMs + two.parts.flattenMs + two.parts.metricsMs + two.parts.controlMs : 0;
  const m: CostModel = { ...fit, fixedSec: fixedMs / 1000 };
  const payloadBytes = collectiveBytes(await sizesOf(model));
  const check = two
    ? { measuredStepMs: two.stepMs.median, predictedStepMs: two.parts.computeMs + two.parts.optimizerMs + fixedMs + 1000 * payloadBytes.reduce((s, b) => s + fit.alphaSec * 2 + b / fit.bandwidthBytesPerSec, 0) }
    : undefined;
  const projections = (list(v, 'links-gbit', Number) as number[]).map((gbit) => ({
    linkGbit: gbit,
    points: project(m, { gpuStepSec: (v['gpu-step-ms'] as number) / 1000, payloadBytes, linkBitsPerSec: gbit * 1e9, gpus: list(v, 'project-gpus', Number) as number[] }),
  }));
  return { model, gpuStepMs: v['gpu-step-ms'] as number, fit: { alphaUs: m.alphaSec * 1e6, loopbackBandwidthGBs: m.bandwidthBytesPerSec / 1e9, fixedMs }, payloadBytes, check, projections, hosts: hostsCostModel(v, ar, m, payloadBytes) };
}

/**
 * The default data plane's model (cost-model.ts HostModel): the per-host term fitted to the
 * shared-memory rows with no more ranks than cores (more would time the cores' sharing, not the
 * memory), the cross-host term's α from the TCP fit and its bandwidth the projected link's.
 */
function hostsCostModel(v: FlagValues, ar: AllReduceRow[], tcp: CostModel, payloadBytes: number[]) {
  const shm = ar.filter((r) => r.transport === 'shm' && r.world <= availableParallelism());
  if (shm.length < 2) return { error: 'no shared-memory all-reduce rows at N ≤ cores to fit the per-host term' };
  try {
    const intra = fitAllReduce(shm.map((r) => ({ world: r.world, bytes: r.bytes, seconds: r.timeMs.median / 1000 })));
    const hm: HostModel = { intra, interAlphaSec: tcp.alphaSec, fixedSec: tcp.fixedSec };
    const layouts = parseLayouts(v['project-layouts'] as string);
    const projections = (list(v, 'links-gbit', Number) as number[]).map((gbit) => ({
      linkGbit: gbit,
      points: projectLayouts(hm, { gpuStepSec: (v['gpu-step-ms'] as number) / 1000, payloadBytes, linkBitsPerSec: gbit * 1e9, layouts }).map((p) => ({ layout: `${p.layout.hosts}x${p.layout.gpusPerHost}`, efficiency: p.efficiency, stepMs: p.stepSec * 1000 })),
      hierarchical: projectLayouts(hm, { gpuStepSec: (v['gpu-step-ms'] as number) / 1000, payloadBytes, linkBitsPerSec: gbit * 1e9, layouts, allReduce: hierarchicalAllReduceSeconds }).map((p) => p.efficiency),
    }));
    return { fit: { intraAlphaUs: intra.alphaSec * 1e6, intraBandwidthGBs: intra.bandwidthBytesPerSec / 1e9, interAlphaUs: tcp.alphaSec * 1e6, fixedMs: tcp.fixedSec * 1000 }, projections };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/**
 * The cost model fitted to the machinery section: α and B from every D and G all-reduce at N ≥ 2
 * (four buffer sizes when both models ran: 0.85, 5.84, 5.97, 9.32 MB), c = the step's rest at N = 2.
 */
export async function machineryCostModel(v: FlagValues, rows: MachineryRow[]) {
  const fit = fitAllReduce(rows.filter((r) => r.world >= 2).flatMap((r) => r.collectiveBytes.map((bytes, n) => ({ world: r.world, bytes, seconds: r.reduceByNetMs[n] / 1000 }))));
  let model = v['project-model'] as BenchModel;
  if (!rows.some((r) => r.model === model)) model = rows[0].model;
  const two = rows.find((r) => r.model === model && r.world === 2);
  const fixedMs = two ? two.parts.otherMs : 0;
  const m: CostModel = { ...fit, fixedSec: fixedMs / 1000 };
  const payloadBytes = collectiveBytes(await sizesOf(model));
  const projections = (list(v, 'links-gbit', Number) as number[]).map((gbit) => ({
    linkGbit: gbit,
    points: project(m, { gpuStepSec: (v['gpu-step-ms'] as number) / 1000, payloadBytes, linkBitsPerSec: gbit * 1e9, gpus: list(v, 'project-gpus', Number) as number[] }),
  }));
  return { model, gpuStepMs: v['gpu-step-ms'] as number, fit: { alphaUs: m.alphaSec * 1e6, bandwidthGBs: m.bandwidthBytesPerSec / 1e9, fixedMs }, payloadBytes, projections };
}

export function printProjections(cm: { model: string; gpuStepMs: number; payloadBytes: number[]; projections: { linkGbit: number; points: { gpus: number; efficiency: number }[] }[] }): void {
  process.stdout.write(`Projected efficiency, ${cm.model} gradients (${cm.payloadBytes.map((b) => fmt(b / 1e6, 2)).join(' + ')} MB per step), ${fmt(cm.gpuStepMs)} ms GPU step, weak scaling:\n\n`);
  const gpus = cm.projections[0]?.points.map((p) => p.gpus) ?? [];
  process.stdout.write(table(['link', ...gpus.map((g) => `${g} GPUs`)], cm.projections.map((p) => [`${p.linkGbit} Gbit/s`, ...p.points.map((x) => pct(x.efficiency))])));
}

