/**
 * Single-process training (`npm run train`): one Replica, the epoch schedule, and the run's outputs
 * (metrics.jsonl, sample grids, loss plot, checkpoints). CPU-bound side work (PNG encoding, the
 * plot, checkpoint checksums) goes to the side pool.
 */
import { join } from 'node:path';
import { currentBackend, type BackendChoice } from '../backend/select.js';
import { writeCheckpoint } from '../checkpoint/store.js';
import type { TrainConfig } from '../config.js';
import { loadMnist, describeSource, type MnistSplit } from '../data/mnist.js';
import { batchIndices, epochPermutation, gatherImages, stepsPerEpoch } from '../data/schedule.js';
import { writeFileAtomic } from '../fsutil.js';
import { paramCounts, summarize } from '../models/index.js';
import { SidePool } from '../pool/side-pool.js';
import { Replica, type StepStats } from '../replica.js';
import { Rng } from '../rng.js';
import { VERSION } from '../version.js';
import { createRunDir, defaultRunDir, MetricsLog, writeRunConfig, type RunPaths } from './run-dir.js';
import { Progress, type ProgressStats } from './progress.js';

/** Images in the fixed-noise sample grid written during training (4×4). */
export const SAMPLE_GRID_COUNT = 16;

/** Thrown for a configuration that can't train (e.g. no full batch); one line. */
export class TrainSetupError extends Error {}

/** Arguments of `train`. */
export interface TrainArgs {
  config: TrainConfig;
  backend: BackendChoice;
  /** Receives the lines a user should see (summary, epoch lines). Default: stderr. */
  log?: (line: string) => void;
  /** Resolves true when the run should stop at the next step boundary (SIGINT/SIGTERM). */
  shouldStop?: () => boolean;
}

/** What a finished (or stopped) run left behind. */
export interface TrainResult {
  runDir: string;
  lastCheckpoint?: string;
  stepsDone: number;
  stopped: boolean;
}

/** Accumulates means of step statistics over a window. */
class Window {
  n = 0;
  lossD = 0;
  lossG = 0;
  dReal = 0;
  dFake = 0;
  images = 0;
  ms = 0;
  skipped = 0;
  add(s: StepStats, images: number): void {
    this.n++;
    this.lossD += s.lossD;
    this.lossG += s.lossG;
    this.dReal += s.dReal;
    this.dFake += s.dFake;
    this.images += images;
    this.ms += s.timings.total;
    if (s.skipped) this.skipped++;
  }
  means(): ProgressStats & { stepMs: number; skipped: number } {
    const n = Math.max(this.n, 1);
    return {
      lossD: this.lossD / n,
      lossG: this.lossG / n,
      dReal: this.dReal / n,
      dFake: this.dFake / n,
      imagesPerSec: (1000 * this.images) / Math.max(this.ms, 1e-9),
      stepMs: this.ms / n,
      skipped: this.skipped,
    };
  }
}

/** Loss history for the plot: one point per logged window. */
interface History {
  step: number[];
  lossD: number[];
  lossG: number[];
  dReal: number[];
  dFake: number[];
}

export async function train(args: TrainArgs): Promise<TrainResult> {
  const { config, backend } = args;
  const log = args.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const shouldStop = args.shouldStop ?? (() => false);

  const data: MnistSplit = await loadMnist({ dir: config.data, split: 'train', limit: config.limit });
  const steps = stepsPerEpoch(data.count, config.batchSize);
  if (steps === 0) {
    throw new TrainSetupError(`--batch-size ${config.batchSize} is larger than the ${data.count} training images: no full batch to train on`);
  }
  const root = config.runDir ?? defaultRunDir(config.model);
  const paths: RunPaths = await createRunDir(root);

  const replica = new Replica({
    model: config.model,
    latent: config.latent,
    seed: config.seed,
    adam: { lr: config.lr, beta1: config.beta1, beta2: config.beta2 },
  });
  log(`backend: ${backend.name} (${backend.reason})`);
  log(`data: ${describeSource(config.data)}; ${data.count} training images, ${steps} steps of ${config.batchSize} per epoch`);
  log(summarize(replica.gan));
  log(`run directory: ${paths.root}`);

  const counts = { generator: paramCounts(replica.gan.generator), discriminator: paramCounts(replica.gan.discriminator) };
  await writeRunConfig(paths, {
    config,
    backend: { name: backend.name, reason: backend.reason },
    models: counts,
    data: { source: describeSource(config.data), images: data.count, stepsPerEpoch: steps },
    version: VERSION,
    node: process.version,
    startedAt: new Date().toISOString(),
  });
  const metrics = new MetricsLog(paths.metrics);
  await metrics.init();

  const pool = new SidePool();
  const fixedNoise = Rng.stream(config.seed, 'fixed-noise').fillNormal(new Float32Array(SAMPLE_GRID_COUNT * config.latent));
  const [rows, cols] = [28, 28];
  const history: History = { step: [], lossD: [], lossG: [], dReal: [], dFake: [] };
  const progress = new Progress({ mode: config.progress, epochs: config.epochs, stepsPerEpoch: steps });
  const batchBuf = new Float32Array(config.batchSize * rows * cols);
  let globalStep = 0;
  let lastCheckpoint: string | undefined;
  let stopped = false;

  const checkpoint = async (epochsDone: number, stepInEpoch: number) => {
    const t0 = performance.now();
    lastCheckpoint = await writeCheckpoint(
      {
        generator: replica.gan.generator,
        discriminator: replica.gan.discriminator,
        optimizer: replica.optimizerStates(),
        state: {
          model: config.model,
          latent: config.latent,
          imageShape: replica.gan.imageShape,
          epoch: epochsDone,
          step: stepInEpoch,
          globalStep,
          optimizer: {
            lr: config.lr,
            beta1: config.beta1,
            beta2: config.beta2,
            epsilon: 1e-8,
            D: { t: replica.optimizerStates().D.t, size: replica.sizes.D },
            G: { t: replica.optimizerStates().G.t, size: replica.sizes.G },
          },
          rng: { seed: config.seed, scheme: 'counter-based streams: (seed, purpose, epoch, step, rank)' },
          config: { ...config },
          backend: currentBackend()?.name ?? backend.name,
          writer: VERSION,
        },
      },
      { dir: paths.checkpoints, keep: config.keep, hash: (p) => pool.sha256File(p) },
    );
    const seconds = (performance.now() - t0) / 1000;
    await metrics.append({ type: 'checkpoint', epoch: epochsDone, step: stepInEpoch, globalStep, path: lastCheckpoint, seconds, time: new Date().toISOString() });
    progress.log(`checkpoint: ${lastCheckpoint} (${seconds.toFixed(2)} s)`);
  };

  const writeSamples = async (epoch: number) => {
    const images = replica.generate(fixedNoise, SAMPLE_GRID_COUNT);
    const png = await pool.gridPng(images, SAMPLE_GRID_COUNT, rows, cols);
    await writeFileAtomic(join(paths.samples, `epoch-${String(epoch).padStart(4, '0')}.png`), png);
  };

  const writePlot = async () => {
    const svg = await pool.lossSvg([
      { title: 'Losses', step: history.step, xLabel: 'step', yLabel: 'BCE loss', series: [{ name: 'D loss', values: history.lossD }, { name: 'G loss', values: history.lossG }] },
      { title: 'Discriminator outputs', step: history.step, xLabel: 'step', yLabel: 'mean probability', series: [{ name: 'D(x)', values: history.dReal }, { name: 'D(G(z))', values: history.dFake }] },
    ]);
    await writeFileAtomic(paths.lossPlot, svg);
  };

  try {
    for (let epoch = 0; epoch < config.epochs && !stopped; epoch++) {
      const perm = epochPermutation(config.seed, epoch, data.count);
      const epochWin = new Window();
      let win = new Window();
      const epochStart = performance.now();
      for (let step = 0; step < steps; step++) {
        gatherImages(data, batchIndices(perm, step, config.batchSize), batchBuf);
        const stats = await replica.trainStep(batchBuf, config.batchSize, { epoch, step, rank: 0 });
        globalStep++;
        win.add(stats, config.batchSize);
        epochWin.add(stats, config.batchSize);
        progress.update(epoch, step + 1, win.means());
        if (globalStep % config.logEvery === 0) {
          const m = win.means();
          await metrics.append({ type: 'step', epoch, step: step + 1, globalStep, ...m, time: new Date().toISOString() });
          history.step.push(globalStep);
          history.lossD.push(m.lossD);
          history.lossG.push(m.lossG);
          history.dReal.push(m.dReal);
          history.dFake.push(m.dFake);
          win = new Window();
        }
        if (shouldStop()) {
          progress.log(`stop requested: saving a checkpoint at epoch ${epoch + 1}, step ${step + 1}`);
          await checkpoint(step + 1 === steps ? epoch + 1 : epoch, step + 1 === steps ? 0 : step + 1);
          stopped = true;
          break;
        }
      }
      if (stopped) break;
      const m = epochWin.means();
      const seconds = (performance.now() - epochStart) / 1000;
      await metrics.append({ type: 'epoch', epoch: epoch + 1, globalStep, ...m, seconds, time: new Date().toISOString() });
      progress.log(
        `epoch ${epoch + 1}/${config.epochs} done in ${seconds.toFixed(1)} s | ${m.imagesPerSec.toFixed(0)} img/s | D ${m.lossD.toFixed(3)} G ${m.lossG.toFixed(3)} | D(x) ${m.dReal.toFixed(2)} D(G(z)) ${m.dFake.toFixed(2)}${m.skipped ? ` | ${m.skipped} non-finite steps skipped` : ''}`,
      );
      const last = epoch + 1 === config.epochs;
      if ((epoch + 1) % config.sampleEvery === 0 || last) await writeSamples(epoch + 1);
      await writePlot();
      if ((epoch + 1) % config.checkpointEvery === 0 || last) await checkpoint(epoch + 1, 0);
    }
  } finally {
    await pool.close();
  }
  return { runDir: paths.root, lastCheckpoint, stepsDone: globalStep, stopped };
}
