/**
 * `npm run bench`: where every millisecond of a step goes, against the limits measured in the same
 * run. Sections: compute (per backend and model, vs the backend's plain-matmul rate), all-reduce
 * (ring over ZeroMQ vs a plain TCP stream both ways, and gloo when PyTorch is installed),
 * machinery (the step path with a synthetic forward/backward of the real models' sizes, N = 1…4,
 * and a cost model fitted to it), scaling (real cluster runs, the step breakdown, a fitted cost
 * model) and the PyTorch peer. Prints tables; `--json FILE` keeps every figure, with the headline
 * ratios under `scaling_efficiency`, `allreduce_ratio_to_tcp` and `machinery_efficiency`.
 */
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { basename } from 'node:path';
import { BACKEND_NAMES } from '../shared/backend/select.js';
import { DEFAULT_CHUNK_BYTES } from '../shared/allreduce/ring.js';
import { BENCH_FLAGS, FlagError, parseFlags, type FlagValues } from '../shared/config.js';
import { checkPathFlags } from '../shared/path-flags.js';
import { allReduceBench, type AllReduceRow } from './allreduce.js';
import { ChildError, startChild } from './child.js';
import type { ComputeBackend, ComputeChildArgs, ComputeChildResult } from './compute-child.js';
import { CATEGORY_LABELS, PROFILE_CATEGORIES, type ProfileCategory } from './cpu-profile.js';
import { parseLayouts } from './cost-model.js';
import { collectiveBytes } from './model-sizes.js';
import { costModel, machineryCostModel, printProjections, type ScalingOut } from './cost-model-fit.js';
import { fmt, list, pct, sfmt, sizesOf } from './format.js';
import { readMetricsLines, replayEta } from './eta.js';
import { hostsBench } from './hosts.js';
import type { LinkRow } from './link.js';
import { machineryBench, type MachineryRow } from './machinery.js';
import { runPeer, type GlooResult, type PeerResult } from './peer.js';
import { clusterRun, scalingEfficiency, STEP_PARTS, type ClusterRunResult } from './scaling.js';
import { mapSummary, summarize, type Summary } from './stats.js';
import { table } from './table.js';

type ModelName = 'mlp' | 'dcgan';
const SECTIONS = ['compute', 'allreduce', 'machinery', 'scaling', 'peer', 'hosts', 'eta'] as const;
/** The payloads of the issue: the two models' D and G gradient sizes and their sum, MB = 1e6 bytes. */
const PAYLOADS_MB = [0.2, 2.5, 6, 9.4];

interface ComputeRow {
  backend: string;
  model: string;
  batch: number;
  stepMs: Summary;
  stepGflop: number;
  achievedGflops: Summary;
  matmulGflops: Summary;
  floorMs: number;
  ratioToFloor: number;
  split: { computeMs: number; flattenMs: number; optimizerMs: number };
  tensors: { before: number; after: number };
  /** CPU ms per step by category, from a profile of a few more steps (cpu-profile.ts). */
  profile?: Record<ProfileCategory, number>;
}

async function computeSection(v: FlagValues, quick: boolean, repeats: number, log: (l: string) => void) {
  const rows: ComputeRow[] = [];
  const unavailable: { backend: string; reason: string }[] = [];
  const skipped: { backend: string; model: string; reason: string }[] = [];
  const models: ModelName[] = quick ? ['mlp'] : ['mlp', 'dcgan'];
  for (const backend of list(v, 'backends') as ComputeBackend[]) {
    for (const model of models) {
      // The pure-JS cpu backend runs well under 1 GFLOP/s here: an MLP step takes seconds, a
      // DCGAN step (74 GFLOP) minutes. Its MLP figure is enough to place it.
      const slow = backend === 'cpu';
      if (slow && (quick || model === 'dcgan')) {
        const mlpRow = rows.find((r) => r.backend === backend && r.model === 'mlp');
        const flops = rows.find((r) => r.model === model)?.stepGflop; // counted where another backend ran it
        const est = mlpRow && flops ? `; about ${fmt(flops / mlpRow.achievedGflops.median, 0)} s per step at its MLP rate` : '';
        skipped.push({ backend, model, reason: quick ? 'skipped in --quick (seconds per step)' : `skipped: the pure-JS backend would take minutes per step${est}` });
        continue;
      }
      const args: ComputeChildArgs = {
        backend, model, batch: 128,
        warmup: slow ? 1 : quick ? 1 : 2,
        repeats: slow ? Math.min(repeats, 2) : repeats,
        matmulRepeats: slow ? 2 : quick ? 3 : 5,
        matmul: [256, 1024, 1024],
        // The cpu backend's steps take seconds: its timed steps say enough.
        profileSteps: slow ? 0 : quick || model === 'dcgan' ? 2 : 5,
      };
      log(`compute: ${model} on ${backend}, batch ${args.batch}, ${args.warmup} + ${args.repeats} steps`);
      let r: ComputeChildResult;
      try {
        // OpenBLAS gets one thread unless OPENBLAS_NUM_THREADS says otherwise: the row compares
        // with the PyTorch peer's one-thread step and with one-core wasm.
        const env = backend === 'wasm+blas' && process.env.OPENBLAS_NUM_THREADS === undefined ? { OPENBLAS_NUM_THREADS: '1' } : {};
        r = (await startChild('compute-child.ts', args, 20 * 60_000, env).result) as ComputeChildResult;
      } catch (err) {
        if (err instanceof ChildError && err.unavailable) {
          unavailable.push({ backend, reason: err.message.replace(/^compute-child\.ts: /, '') });
          break;
        }
        throw err;
      }
      const stepMs = summarize(r.steps.map((s) => s.ms));
      const matmul = summarize(r.matmulGflops);
      const floorMs = r.stepFlops / (matmul.median * 1e6);
      const mean = (k: 'computeMs' | 'flattenMs' | 'optimizerMs') => r.steps.reduce((s, x) => s + x[k], 0) / r.steps.length;
      rows.push({
        backend: r.blasThreads === undefined ? backend : `${backend} (${r.blasThreads} thread${r.blasThreads === 1 ? '' : 's'})`, model, batch: r.batch, stepMs, stepGflop: r.stepFlops / 1e9,
        achievedGflops: mapSummary(stepMs, (ms) => r.stepFlops / (ms * 1e6)), matmulGflops: matmul, floorMs, ratioToFloor: stepMs.median / floorMs,
        split: { computeMs: mean('computeMs'), flattenMs: mean('flattenMs'), optimizerMs: mean('optimizerMs') }, tensors: r.tensors,
        ...(r.profile ? { profile: r.profile } : {}),
      });
    }
  }
  return { rows, unavailable, skipped };
}



async function scalingSection(quick: boolean, log: (l: string) => void): Promise<ScalingOut> {
  const runs: ClusterRunResult[] = [];
  const efficiency: ScalingOut['efficiency'] = {};
  const models: ModelName[] = quick ? ['mlp'] : ['mlp', 'dcgan'];
  for (const model of models) {
    const [window, windows] = model === 'mlp' ? (quick ? [3, 2] : [5, 4]) : [2, 3];
    for (const workers of quick ? [1, 2] : [1, 2, 4]) {
      log(`scaling: ${model}, ${workers} worker(s), global batch 128, ${window * (windows + 1)} steps`);
      runs.push(await clusterRun({ model, workers, batch: 128, window, windows, backend: 'wasm', timeoutMs: 15 * 60_000, blasThreads: 1 }));
    }
    const [one, two] = [runs.find((r) => r.model === model && r.workers === 1)!, runs.find((r) => r.model === model && r.workers === 2)!];
    efficiency[model] = scalingEfficiency(one, two);
  }
  return { runs, efficiency };
}

async function main(): Promise<void> {
  const v = parseFlags(process.argv.slice(2), BENCH_FLAGS);
  if (v.help) {
    const { markdownTable } = await import('../shared/config.js');
    process.stdout.write(`npm run bench -- [flags]\n\n${markdownTable(BENCH_FLAGS)}\n`);
    return;
  }
  checkPathFlags(v, { json: 'file' });
  const quick = v.quick === true;
  const sections = list(v, 'sections') as string[];
  for (const s of sections) if (!(SECTIONS as readonly string[]).includes(s)) throw new FlagError(`--sections: unknown section '${s}' (expected ${SECTIONS.join(', ')})`);
  // Every list flag is checked before minutes of measuring, not when its section comes.
  list(v, 'links-gbit', Number);
  list(v, 'project-gpus', Number);
  try {
    parseLayouts(v['project-layouts'] as string);
  } catch (err) {
    throw new FlagError(`--project-layouts: ${(err as Error).message}`);
  }
  list(v, 'host-links-gbit', Number);
  for (const n of list(v, 'host-workers', Number) as number[]) if (!Number.isInteger(n) || n < 2 || n > 8) throw new FlagError(`--host-workers: '${n}' is not a worker count from 2 to 8`);
  if (sections.includes('hosts') && process.getuid?.() !== 0) throw new FlagError('--sections hosts: network namespaces need root (run as root, as CI does)');
  const etaRuns = v['eta-runs'] === undefined ? [] : (list(v, 'eta-runs') as string[]);
  if (sections.includes('eta') && etaRuns.length === 0) throw new FlagError('--sections eta: give the finished runs to replay with --eta-runs DIR[,DIR…]');
  // The runs are read before minutes of measuring: a missing or empty metrics.jsonl is said at once.
  const etaLines = await Promise.all(etaRuns.map((dir) => readMetricsLines(dir)));
  for (const b of list(v, 'backends') as string[]) if (b !== 'wasm+blas' && (b === 'auto' || !(BACKEND_NAMES as readonly string[]).includes(b))) throw new FlagError(`--backends: unknown backend '${b}'`);
  const repeats = quick ? 3 : (v.repeats as number);
  const started = performance.now();
  const log = (line: string) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
  const out: Record<string, unknown> = {
    date: new Date().toISOString(), quick, machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version },
  };

  if (sections.includes('compute')) {
    const c = await computeSection(v, quick, repeats, log);
    out.compute = c;
    process.stdout.write(`\n## Compute: one worker, batch 128 (step FLOPs counted from the layer shapes; floor = FLOPs at the backend's plain-matmul rate)\n\n`);
    process.stdout.write(
      table(
        ['backend', 'model', 'step ms (min–max)', 'GFLOP/step', 'achieved GFLOP/s', 'matmul GFLOP/s', 'floor ms', 'step / floor', 'fwd+bwd / flatten / Adam ms', 'tensors'],
        c.rows.map((r) => [r.backend, r.model, sfmt(r.stepMs), fmt(r.stepGflop, 2), fmt(r.achievedGflops.median), sfmt(r.matmulGflops), fmt(r.floorMs), `${fmt(r.ratioToFloor, 2)}×`,
          `${fmt(r.split.computeMs)} / ${fmt(r.split.flattenMs)} / ${fmt(r.split.optimizerMs)}`, `${r.tensors.before}→${r.tensors.after}`]),
      ),
    );
    if (c.unavailable.length + c.skipped.length > 0) process.stdout.write('\n');
    for (const u of c.unavailable) process.stdout.write(`- ${u.backend}: not available here (${u.reason})\n`);
    for (const u of c.skipped) process.stdout.write(`- ${u.backend} ${u.model}: ${u.reason}\n`);
    const profiled = c.rows.filter((r) => r.profile);
    if (profiled.length) {
      process.stdout.write(`\n## Where a step's CPU goes (V8 sampling profile of more steps, self time per category, ms per step and share)\n\n`);
      process.stdout.write(
        table(
          ['backend', 'model', ...PROFILE_CATEGORIES.map((k) => CATEGORY_LABELS[k]), 'total'],
          profiled.map((r) => {
            const total = PROFILE_CATEGORIES.reduce((s, k) => s + r.profile![k], 0);
            return [r.backend, r.model, ...PROFILE_CATEGORIES.map((k) => `${fmt(r.profile![k])} (${pct(r.profile![k] / total)})`), fmt(total)];
          }),
        ),
      );
    }
  }

  let ar: { link: LinkRow[]; rows: AllReduceRow[]; gloo: GlooResult } | undefined;
  if (sections.includes('allreduce')) {
    const sizes = (quick ? [0.2, 2.5] : PAYLOADS_MB).map((mb) => Math.round((mb * 1e6) / 4) * 4);
    const worlds = quick ? [2, 3] : [2, 3, 4];
    ar = await allReduceBench({ worlds, sizes, warmup: 2, repeats: quick ? 5 : Math.max(repeats, 10), chunkBytes: DEFAULT_CHUNK_BYTES, timeoutMs: 30_000, glooWorlds: quick ? [2] : worlds, transports: ['shm', 'tcp', 'zmq'] }, log);
    out.allreduce = ar;
    out.allreduce_ratio_to_tcp = ar.rows.map((r) => ({ world: r.world, payload_bytes: r.bytes, transport: r.transport, ratio: r.ratioToTcp, gloo_ms: r.glooMs ?? null }));
    process.stdout.write(`\n## All-reduce on one host, the ring in shared memory (the default between workers of one host), over plain TCP (the default between hosts) and over ZeroMQ (used with CurveZMQ), against plain TCP, a memory copy and gloo (busbw = bytes·2(N−1)/N / time; TCP bound = 2(N−1)/N·bytes at the both-ways rate; copy bound = 2(N−1)/N·bytes at one process's copy rate; same run)\n\n`);
    process.stdout.write(
      table(
        ['payload MB', 'TCP one way ms', 'GB/s', 'TCP both ways ms', 'GB/s per direction'],
        ar.link.map((l) => [fmt(l.bytes / 1e6), sfmt(l.oneWayMs, 2), fmt(l.oneWayGBs.median, 2), sfmt(l.bothWaysMs, 2), fmt(l.bothWaysGBs.median, 2)]),
      ),
    );
    process.stdout.write('\n');
    process.stdout.write(
      table(
        ['N', 'payload MB', 'transport', 'ring ms (min–max)', 'busbw GB/s', 'TCP bound ms', 'TCP bound / ring', 'copy bound ms', 'copy bound / ring', 'gloo ms', 'ring / gloo'],
        ar.rows.map((r) => [String(r.world), fmt(r.bytes / 1e6), r.transport, sfmt(r.timeMs, 2), fmt(r.busbwGBs.median, 2), fmt(r.tcpBoundMs, 2), pct(r.ratioToTcp), fmt(r.copyBoundMs, 2), pct(r.copyBoundMs / r.timeMs.median), r.glooMs !== undefined ? fmt(r.glooMs, 2) : '–', r.glooMs !== undefined ? `${fmt(r.timeMs.median / r.glooMs, 2)}×` : '–']),
      ),
    );
    if (!ar.gloo.available) process.stdout.write(`\n- gloo not measured: ${ar.gloo.reason}\n`);
    else process.stdout.write(`\ngloo: PyTorch ${ar.gloo.torch}, torch.distributed all_reduce + division by N, one process per rank\n`);
  }

  let machinery: MachineryRow[] | undefined;
  if (sections.includes('machinery')) {
    const models: ModelName[] = quick ? ['mlp'] : ['mlp', 'dcgan'];
    const computeMs = v['synthetic-compute-ms'] as number;
    machinery = await machineryBench(
      { models: await Promise.all(models.map(async (model) => ({ model, sizes: await sizesOf(model) }))), worlds: quick ? [1, 2] : [1, 2, 3, 4], warmup: 3, steps: quick ? 5 : Math.max(repeats, 15), syntheticComputeMs: computeMs, chunkBytes: DEFAULT_CHUNK_BYTES, timeoutMs: 30_000 },
      log,
    );
    out.machinery = { syntheticComputeMs: computeMs, rows: machinery };
    out.machinery_efficiency = machinery.map((r) => ({ model: r.model, world: r.world, efficiency: r.efficiency ?? null, machinery_ms: r.machineryMs }));
    process.stdout.write(
      `\n## Machinery: the step path of N worker processes with a synthetic forward/backward (${fmt(computeMs)} ms per step) and the real models' gradient sizes (ring all-reduce of D and G, non-finite check, Adam; no coordinator)\n\n`,
    );
    process.stdout.write(
      table(
        ['model', 'N', 'MB per step (D + G)', 'step ms (min–max)', 'compute', 'all-reduce', 'optimizer', 'other', 'step − compute', 'efficiency vs 1', 'Adam MB per rank'],
        machinery.map((r) => [r.model, String(r.world), r.collectiveBytes.map((b) => fmt(b / 1e6, 2)).join(' + '), sfmt(r.stepMs), fmt(r.parts.computeMs), fmt(r.parts.reduceMs), fmt(r.parts.optimizerMs), fmt(r.parts.otherMs), fmt(r.machineryMs), r.efficiency !== undefined ? pct(r.efficiency) : '–', fmt(r.adamBytesPerRank / 1e6, 2)]),
      ),
    );
    try {
      const mc = await machineryCostModel(v, machinery);
      out.machinery_cost_model = mc;
      process.stdout.write(`\n## Cost model fitted to the machinery section (α = ${fmt(mc.fit.alphaUs)} µs per ring step, B = ${fmt(mc.fit.bandwidthGBs, 2)} GB/s, fixed = ${fmt(mc.fit.fixedMs, 2)} ms/step without the coordinator)\n\n`);
      printProjections(mc);
    } catch (err) {
      out.machinery_cost_model = { error: (err as Error).message };
      process.stdout.write(`\n## Cost model fitted to the machinery section\n\n- not fitted: ${(err as Error).message}\n`);
    }
  }

  let scaling: ScalingOut | undefined;
  if (sections.includes('scaling')) {
    scaling = await scalingSection(quick, log);
    out.scaling = scaling;
    out.scaling_efficiency = scaling.efficiency;
    process.stdout.write(`\n## Scaling: real cluster runs (wasm+blas, global batch 128, one core per worker as one GPU per worker: OPENBLAS_NUM_THREADS=1 in every run; 4 workers on this 2-core machine is overhead, not scaling)\n\n`);
    process.stdout.write(
      table(
        ['model', 'workers', 'images/s (min–max)', 'step ms', 'efficiency vs 1', 'tensors first→last', 'worker RSS MB first→last'],
        scaling.runs.map((r) => {
          const one = scaling!.runs.find((x) => x.model === r.model && x.workers === 1)!;
          return [r.model, String(r.workers), sfmt(r.imagesPerSec, 0), fmt(r.stepMs.median), r.workers === 1 ? '–' : pct(scalingEfficiency(one, r)), `${r.numTensors[0]}→${r.numTensors[1]}`, `${fmt(r.rssBytes[0] / 2 ** 20, 0)}→${fmt(r.rssBytes[1] / 2 ** 20, 0)}`];
        }),
      ),
    );
    process.stdout.write(`\n## Step breakdown at 2 workers (ms per step, share of the step; distributed overhead = all but fwd+bwd and optimizer)\n\n`);
    const twos = scaling.runs.filter((r) => r.workers === 2);
    const breakdown = twos.map((r) => {
      const total = STEP_PARTS.reduce((s, p) => s + r.parts[p], 0);
      return { model: r.model, totalMs: total, parts: r.parts, shares: Object.fromEntries(STEP_PARTS.map((p) => [p, r.parts[p] / total])), distributedOverhead: 1 - (r.parts.computeMs + r.parts.optimizerMs) / total };
    });
    out.breakdown = breakdown;
    process.stdout.write(
      table(
        ['model', ...STEP_PARTS.map((p) => p.replace(/Ms$/, '')), 'distributed overhead'],
        breakdown.map((b) => [b.model, ...STEP_PARTS.map((p) => `${fmt(b.parts[p])} (${pct(b.shares[p])})`), pct(b.distributedOverhead)]),
      ),
    );
  }

  let cm: Awaited<ReturnType<typeof costModel>> | undefined;
  if (ar) {
    try {
      cm = await costModel(v, ar.rows, scaling);
    } catch (err) {
      // Few, noisy all-reduce points (--quick on a busy machine) may not determine a bandwidth:
      // say so and keep the other figures.
      out.cost_model = { error: (err as Error).message };
      process.stdout.write(`\n## Cost model\n\n- not fitted: ${(err as Error).message}\n`);
    }
  }
  if (cm) {
    out.cost_model = cm;
    process.stdout.write(
      `\n## Cost model (fitted to the all-reduce section: α = ${fmt(cm.fit.alphaUs)} µs per ring step, loopback B = ${fmt(cm.fit.loopbackBandwidthGBs, 2)} GB/s, fixed = ${fmt(cm.fit.fixedMs)} ms/step ${cm.check ? `from the 2-worker ${cm.model} run` : '(no cluster run measured: 0)'})\n\n`,
    );
    if (cm.check) process.stdout.write(`2-worker ${cm.model} step: measured ${fmt(cm.check.measuredStepMs)} ms, model ${fmt(cm.check.predictedStepMs)} ms\n\n`);
    printProjections(cm);
    const h = cm.hosts;
    if ('error' in h) process.stdout.write(`\n- default data plane not projected: ${h.error}\n`);
    else {
      process.stdout.write(
        `\nOn the default data plane (shared memory inside a host: α = ${fmt(h.fit.intraAlphaUs)} µs, B = ${fmt(h.fit.intraBandwidthGBs, 2)} GB/s per link, fitted to the shm rows at N ≤ cores; between hosts: α = ${fmt(h.fit.interAlphaUs)} µs from the TCP fit, B = the link), HOSTSxGPUS, ${cm.model}, ${fmt(cm.gpuStepMs)} ms GPU step:\n\n`,
      );
      const names = h.projections[0]?.points.map((p) => p.layout) ?? [];
      process.stdout.write(
        table(
          ['link', 'all-reduce', ...names],
          h.projections.flatMap((p) => [
            [`${p.linkGbit} Gbit/s`, 'one ring', ...p.points.map((x) => pct(x.efficiency))],
            [`${p.linkGbit} Gbit/s`, 'hierarchical', ...p.hierarchical.map(pct)],
          ]),
        ),
      );
    }
  }

  if (sections.includes('peer')) {
    log('peer: PyTorch');
    const peer: PeerResult = await runPeer(quick);
    out.peer = peer;
    process.stdout.write(`\n## Peer: PyTorch on this machine, batch 128\n\n`);
    if (!peer.available) process.stdout.write(`- not measured: ${peer.reason}\n`);
    else {
      const computeRows = (out.compute as { rows: ComputeRow[] } | undefined)?.rows ?? [];
      process.stdout.write(
        table(
          ['BLAS threads', 'model', 'PyTorch step ms (min–max)', 'wasm+blas step ms', 'wasm+blas / PyTorch', 'wasm step ms', 'wasm / PyTorch'],
          peer.rows.map((p) => {
            const cells = (prefix: string) => {
              const ours = computeRows.find((r) => (r.backend === prefix || r.backend.startsWith(`${prefix} (`)) && r.model === p.model);
              return ours ? [fmt(ours.stepMs.median), `${fmt(ours.stepMs.median / p.stepMs.median, 1)}×`] : ['–', '–'];
            };
            return [String(p.threads), p.model, sfmt(p.stepMs), ...cells('wasm+blas'), ...cells('wasm')];
          }),
        ),
      );
    }
  }

  if (sections.includes('hosts')) {
    const model: ModelName = 'mlp';
    const rates = await hostsBench(
      {
        ratesGbit: (list(v, 'host-links-gbit', Number) as number[]).slice(0, quick ? 1 : undefined),
        worlds: quick ? [2] : (list(v, 'host-workers', Number) as number[]),
        sizes: (quick ? [0.2, 2.5] : PAYLOADS_MB).map((mb) => Math.round((mb * 1e6) / 4) * 4),
        warmup: 2, repeats: quick ? 5 : Math.max(repeats, 10), chunkBytes: DEFAULT_CHUNK_BYTES, timeoutMs: 5 * 60_000,
        model, payloadBytes: collectiveBytes(await sizesOf(model)), window: quick ? 3 : 5, windows: quick ? 2 : 3,
      },
      log,
    );
    out.hosts = rates;
    const label = (g: number | null) => (g === null ? 'unshaped' : `${g} Gbit/s`);
    const share = (x: number | null) => (x === null ? '–' : pct(x));
    process.stdout.write(`\n## Hosts: network namespaces on one bridge, every link shaped with tbf (both directions) or unshaped; TCP stream between two hosts\n\n`);
    process.stdout.write(
      table(
        ['link', 'payload MB', 'one way ms', 'GB/s', 'both ways ms', 'GB/s per direction', 'of link rate'],
        rates.flatMap((r) => r.link.map((l) => [label(r.linkGbit), fmt(l.bytes / 1e6), sfmt(l.oneWayMs, 2), fmt(l.oneWayGBs.median, 3), sfmt(l.bothWaysMs, 2), fmt(l.bothWaysGBs.median, 3), share(r.linkGbit === null ? null : l.bothWaysGBs.median / (r.linkGbit / 8))])),
      ),
    );
    process.stdout.write(`\n## Hosts: ring all-reduce (plain TCP), rank r on host r (busbw = bytes·2(N−1)/N / time)\n\n`);
    process.stdout.write(
      table(
        ['link', 'N', 'payload MB', 'ring ms (min–max)', 'busbw GB/s', 'of link rate'],
        rates.flatMap((r) => r.rings.map((x) => [label(r.linkGbit), String(x.world), fmt(x.bytes / 1e6), sfmt(x.timeMs, 2), fmt(x.busbwGBs.median, 3), share(x.ofLinkRate)])),
      ),
    );
    process.stdout.write(`\n## Hosts: 2 hosts × 2 ranks, the flat TCP ring against the default data plane (hierarchical: shared memory inside a host, rings between hosts)\n\n`);
    process.stdout.write(
      table(
        ['link', 'payload MB', 'flat TCP ring ms (min–max)', 'hierarchical ms (min–max)', 'flat / hierarchical'],
        rates.flatMap((r) => r.twoByTwo.map((x) => [label(r.linkGbit), fmt(x.bytes / 1e6), sfmt(x.flatMs, 2), sfmt(x.hostAwareMs, 2), `${fmt(x.flatMs.median / x.hostAwareMs.median, 2)}×`])),
      ),
    );
    process.stdout.write(`\n## Hosts: the cost model fitted per link, and real training (${model}, a batch of 64 per worker) against its prediction\n\n`);
    process.stdout.write(table(['link', 'α µs per ring step', 'B GB/s', 'B / link rate'], rates.map((r) => (r.fit ? [label(r.linkGbit), fmt(r.fit.alphaUs), fmt(r.fit.bandwidthGBs, 3), share(r.fit.ofLinkRate)] : [label(r.linkGbit), `not fitted: ${r.fitError}`, '–', '–']))));
    process.stdout.write(`\npredicted = step − all-reduce (both measured) + max(link term: the model at the link rate, CPU term: the unshaped run's all-reduce at the same N)\n\n`);
    process.stdout.write(
      table(
        ['link', 'workers', 'step ms (min–max)', 'of which all-reduce', 'link term', 'CPU term', 'predicted', 'error'],
        rates.flatMap((r) => r.training.map((x) => {
          const p = x.prediction;
          return [label(r.linkGbit), String(x.workers), sfmt(x.stepMs), fmt(x.parts.reduceMs), p ? fmt(p.linkMs) : '–', p ? fmt(p.cpuMs) : '–', p ? fmt(p.predictedMs) : '–', p ? `${p.error >= 0 ? '+' : ''}${fmt(100 * p.error)}%` : '–'];
        })),
      ),
    );
  }

  if (sections.includes('eta')) {
    const segments = etaRuns.flatMap((dir, i) => replayEta(dir, etaLines[i]));
    out.eta = segments;
    process.stdout.write(`\n## ETA: the dashboard's panel replayed over finished runs (steps left / mean step rate since the segment's origin), against the time that really remained\n\n`);
    process.stdout.write(
      table(
        ['run', 'segment', 'origin step', 'planned', 'span s', 'read at', 'step', 'ETA s', 'real s', 'error'],
        segments.flatMap((sg) => sg.readings.map((r) => [basename(sg.run), sg.kind, String(sg.originStep), String(sg.plannedStep), fmt(sg.spanS), `${fmt(100 * r.fraction)}% (${fmt(r.afterS)} s)`, String(r.globalStep), fmt(r.etaS), fmt(r.realS), `${r.error >= 0 ? '+' : ''}${fmt(100 * r.error)}%`])),
      ),
    );
  }

  log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (v.json) {
    await writeFile(v.json as string, `${JSON.stringify(out, null, 2)}\n`);
    log(`wrote ${v.json as string}`);
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench: ${err.message.split('\n')[0]}\n`);
  process.exitCode = err instanceof FlagError ? 2 : 1;
});
