/**
 * Everything a run writes besides the weights' own bytes: metrics.jsonl, the progress line, the
 * loss plot, sample grids, and checkpoint files (already serialised). Shared by single-process
 * training and the cluster coordinator, so both runs read the same. Knows nothing of TensorFlow.
 */
import { join } from 'node:path';
import { writeCheckpointFiles } from '../checkpoint/store.js';
import type { CheckpointFiles } from '../checkpoint/format.js';
import type { TrainConfig } from '../config.js';
import { DIGIT_GRID_COLUMNS, LABEL_CLASSES, modelClasses } from '../models/conditional.js';
import type { ModelName } from '../models/index.js';
import type { EvalResult } from '../eval/summary.js';
import { summaryLine } from '../eval/summary.js';
import { writeFileAtomic } from '../fsutil.js';
import { SidePool } from '../pool/side-pool.js';
import { MetricsLog, type RunPaths } from './run-dir.js';
import { Progress } from './progress.js';
import { MAX_FIELDS, MEAN_FIELDS, SUM_FIELDS, type StepRecord } from './step-report.js';

/** Images in the fixed-noise sample grid written during training (8×8, as `npm run sample` draws). */
export const SAMPLE_GRID_COUNT = 64;

/** Images in a run's sample grids: 8×8 for an unconditional model, one row of 8 per digit for a conditional one. */
export function sampleGridCount(model: ModelName): number {
  return modelClasses(model) === 0 ? SAMPLE_GRID_COUNT : LABEL_CLASSES * DIGIT_GRID_COLUMNS;
}

/** Pixel scale of the sample grids (a 28 px digit drawn 56 px wide is readable on a screen). */
export const SAMPLE_GRID_SCALE = 2;

/** Accumulates a window of step records (the log interval, the epoch) into means. */
export class Window {
  private n = 0;
  private readonly sums = Object.fromEntries([...MEAN_FIELDS, ...SUM_FIELDS].map((k) => [k, 0])) as Record<(typeof MEAN_FIELDS)[number] | (typeof SUM_FIELDS)[number], number>;
  private latest: Partial<Record<(typeof MAX_FIELDS)[number], number>> = {};
  private images = 0;
  private ms = 0;
  private metricsMs = 0;
  private skipped = 0;

  add(s: StepRecord): void {
    this.n++;
    for (const k of [...MEAN_FIELDS, ...SUM_FIELDS]) this.sums[k] += s[k];
    for (const k of MAX_FIELDS) this.latest[k] = s[k];
    this.images += s.images;
    this.ms += s.ms;
    this.metricsMs += s.metricsMs;
    if (s.skipped) this.skipped++;
  }

  /** The window's means (metrics.jsonl's step and epoch fields), with the latest leak-watch values. */
  means() {
    const n = Math.max(this.n, 1);
    const means = Object.fromEntries(MEAN_FIELDS.map((k) => [k, this.sums[k] / n])) as Record<(typeof MEAN_FIELDS)[number], number>;
    return {
      ...means,
      // Root mean square over the window's steps of each network's gradient norm.
      gradNormD: Math.sqrt(this.sums.gradSqD / n),
      gradNormG: Math.sqrt(this.sums.gradSqG / n),
      imagesPerSec: (1000 * this.images) / Math.max(this.ms, 1e-9),
      stepMs: this.ms / n,
      metricsMs: this.metricsMs / n,
      skipped: this.skipped,
      ...this.latest,
    };
  }
}

/** Options of `RunOutputs`. */
export interface RunOutputsArgs {
  paths: RunPaths;
  config: TrainConfig;
  stepsPerEpoch: number;
  /** Extra fields written into every metrics line (e.g. world size). */
  extra?: Record<string, unknown>;
  /** A resumed run: steps already done, the checkpoint resumed from, and the logged history to keep plotting. */
  resumed?: { globalStep: number; checkpoint: string; history: { globalStep: number; lossD: number; lossG: number; dReal: number; dFake: number }[] };
}

export class RunOutputs {
  readonly pool = new SidePool();
  readonly progress: Progress;
  private readonly metrics: MetricsLog;
  private readonly history = { step: [] as number[], lossD: [] as number[], lossG: [] as number[], dReal: [] as number[], dFake: [] as number[] };
  private window = new Window();
  private epochWindow = new Window();
  private epochStart = performance.now();
  /** The newest checkpoint on disk: the last one written, else the one resumed from. */
  lastCheckpoint: string | undefined;
  /** globalStep of the newest checkpoint on disk: the one resumed from, or -1 for none. */
  lastCheckpointStep: number;

  constructor(private readonly args: RunOutputsArgs) {
    this.metrics = new MetricsLog(args.paths.metrics);
    this.lastCheckpoint = args.resumed?.checkpoint;
    this.lastCheckpointStep = args.resumed?.globalStep ?? -1;
    this.progress = new Progress({ mode: args.config.progress, epochs: args.config.epochs, stepsPerEpoch: args.stepsPerEpoch }, args.resumed?.globalStep ?? 0);
    for (const h of args.resumed?.history ?? []) {
      this.history.step.push(h.globalStep);
      this.history.lossD.push(h.lossD);
      this.history.lossG.push(h.lossG);
      this.history.dReal.push(h.dReal);
      this.history.dFake.push(h.dFake);
    }
  }

  async init(): Promise<void> {
    await this.metrics.init();
  }

  /** Starts the accounting of a new epoch. */
  beginEpoch(): void {
    this.epochWindow = new Window();
    this.epochStart = performance.now();
  }

  /** Records one step (0-based epoch, 1-based step within it). */
  async recordStep(epoch: number, step: number, globalStep: number, s: StepRecord): Promise<void> {
    this.window.add(s);
    this.epochWindow.add(s);
    this.progress.update(epoch, step, this.window.means());
    if (globalStep % this.args.config.logEvery !== 0) return;
    const m = this.window.means();
    await this.metrics.append({ type: 'step', epoch, step, globalStep, ...m, ...this.args.extra, time: new Date().toISOString() });
    this.history.step.push(globalStep);
    this.history.lossD.push(m.lossD);
    this.history.lossG.push(m.lossG);
    this.history.dReal.push(m.dReal);
    this.history.dFake.push(m.dFake);
    this.window = new Window();
  }

  /** Writes the epoch line and the loss plot (epoch is 1-based here: the number just completed). */
  async endEpoch(epoch: number, globalStep: number): Promise<void> {
    const m = this.epochWindow.means();
    const seconds = (performance.now() - this.epochStart) / 1000;
    await this.metrics.append({ type: 'epoch', epoch, globalStep, ...m, seconds, ...this.args.extra, time: new Date().toISOString() });
    this.progress.log(
      `epoch ${epoch}/${this.args.config.epochs} done in ${seconds.toFixed(1)} s | ${m.imagesPerSec.toFixed(0)} img/s | D ${m.lossD.toFixed(3)} G ${m.lossG.toFixed(3)} | D(x) ${m.dReal.toFixed(2)} D(G(z)) ${m.dFake.toFixed(2)}${m.skipped ? ` | ${m.skipped} non-finite steps skipped` : ''}`,
    );
    await this.writePlot();
  }

  /**
   * After a failure the run continues from an earlier step: drop the plotted history past it and
   * record the rollback (metrics.jsonl keeps what happened; the lines after this one repeat steps).
   */
  async rollback(globalStep: number, reason: string): Promise<void> {
    const keep = this.history.step.findIndex((s) => s > globalStep);
    if (keep >= 0) for (const series of Object.values(this.history)) series.length = keep;
    this.window = new Window();
    await this.metrics.append({ type: 'rollback', globalStep, reason, time: new Date().toISOString() });
  }

  /** Whether epoch `epoch` (1-based, just completed) gets a sample grid / an evaluation / a checkpoint. */
  wants(epoch: number): { samples: boolean; eval: boolean; checkpoint: boolean } {
    const c = this.args.config;
    const last = epoch === c.epochs;
    return { samples: epoch % c.sampleEvery === 0 || last, eval: c.evalEvery !== undefined && (epoch % c.evalEvery === 0 || last), checkpoint: epoch % c.checkpointEvery === 0 || last };
  }

  /** Appends an `eval` line (epoch 1-based, just completed) to metrics.jsonl and logs its summary. */
  async recordEval(epoch: number, globalStep: number, r: EvalResult, seconds: number): Promise<void> {
    await this.metrics.append({
      type: 'eval', epoch, globalStep, images: r.images, fid: r.fid, fidFloor: r.fidFloor, score: r.score, scoreCeiling: r.scoreCeiling,
      coverageKl: r.coverage.kl, shares: r.coverage.shares, underQuarter: r.coverage.underQuarter, collapsed: r.coverage.collapsed,
      confidence: r.confidence.generated, realConfidence: r.confidence.real,
      ...(r.conditional ? { conditionalAccuracy: r.conditional.accuracy, conditionalPerDigit: r.conditional.perDigit } : {}),
      seconds, time: new Date().toISOString(),
    });
    this.progress.log(`eval after epoch ${epoch} (${r.images} images, ${seconds.toFixed(1)} s): ${summaryLine(r)}`);
  }

  /** Encodes the fixed-noise images (sampleGridCount × 28 × 28 in [-1, 1]) and writes samples/epoch-NNNN.png. */
  async writeSamples(epoch: number, images: Float32Array): Promise<void> {
    const model = this.args.config.model;
    const grid = modelClasses(model) === 0 ? {} : { gridCols: DIGIT_GRID_COLUMNS };
    const png = await this.pool.gridPng(images, sampleGridCount(model), 28, 28, { scale: SAMPLE_GRID_SCALE, ...grid });
    await writeFileAtomic(join(this.args.paths.samples, `epoch-${String(epoch).padStart(4, '0')}.png`), png);
  }

  private async writePlot(): Promise<void> {
    const h = this.history;
    const svg = await this.pool.lossSvg([
      { title: 'Losses', step: h.step, xLabel: 'step', yLabel: 'BCE loss', series: [{ name: 'D loss', values: h.lossD }, { name: 'G loss', values: h.lossG }] },
      { title: 'Discriminator outputs', step: h.step, xLabel: 'step', yLabel: 'mean probability', series: [{ name: 'D(x)', values: h.dReal }, { name: 'D(G(z))', values: h.dFake }] },
    ]);
    await writeFileAtomic(this.args.paths.lossPlot, svg);
  }

  /** Writes serialised checkpoint files (hashed in the pool), logs it, returns its path. */
  async writeCheckpoint(files: CheckpointFiles, state: { epoch: number; step: number; globalStep: number }): Promise<string> {
    const t0 = performance.now();
    const path = await writeCheckpointFiles(files, state, { dir: this.args.paths.checkpoints, keep: this.args.config.keep, hash: (p) => this.pool.sha256File(p) });
    const seconds = (performance.now() - t0) / 1000;
    this.lastCheckpoint = path;
    this.lastCheckpointStep = state.globalStep;
    await this.metrics.append({ type: 'checkpoint', epoch: state.epoch, step: state.step, globalStep: state.globalStep, path, seconds, time: new Date().toISOString() });
    this.progress.log(`checkpoint: ${path} (${seconds.toFixed(2)} s)`);
    return path;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
