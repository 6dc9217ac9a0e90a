/**
 * Single-process training (`npm run train`): one Replica, the epoch schedule, and the run's outputs
 * (metrics.jsonl, sample grids, loss plot, checkpoints) through RunOutputs, which the cluster
 * coordinator shares.
 */
import type { BackendChoice } from '../backend/select.js';
import { serializeCheckpoint } from '../checkpoint/serialize.js';
import type { TrainConfig } from '../config.js';
import { loadMnist, describeSource } from '../data/mnist.js';
import { batchIndices, epochPermutation, gatherBatch, stepsPerEpoch } from '../data/schedule.js';
import { paramCounts, summarize } from '../models/index.js';
import { Replica } from '../replica.js';
import { Rng } from '../rng.js';
import { VERSION } from '../version.js';
import { RunOutputs, sampleGridCount } from './outputs.js';
import { DIGIT_GRID_COLUMNS, digitRowLabels, modelClasses, repeatPerRow } from '../models/conditional.js';
import { readCheckpoint } from '../checkpoint/load.js';
import { CLASSIFIER_DEFAULTS, DEFAULT_CLASSIFIER_DIR, ensureClassifier } from '../eval/classifier-store.js';
import { evaluateGenerator, type GeneratorEvaluatorArgs } from '../eval/evaluate.js';
import { resolve } from 'node:path';
import { createRunDir, defaultRunDir, openRunDir, writeRunConfig } from './run-dir.js';
import { rewindMetrics, ResumeError, type ResumePlan } from './resume.js';
import { checkpointPayload, type RunPosition } from './snapshot.js';

/** Thrown for a configuration that can't train (e.g. no full batch); one line. */
export class TrainSetupError extends Error {}

/** Thrown when training keeps producing non-finite losses or gradients; one line. */
export class DivergedError extends Error {}

/** Arguments of `train`. */
export interface TrainArgs {
  config: TrainConfig;
  backend: BackendChoice;
  /** Receives the lines a user should see at start. Default: stderr. */
  log?: (line: string) => void;
  /** Returns true when the run should stop at the next step boundary (SIGINT/SIGTERM). */
  shouldStop?: () => boolean;
  /** Continue from a checkpoint (see planResume); `config` is then the plan's merged config. */
  resume?: ResumePlan;
}

/** What a finished (or stopped) run left behind. */
export interface TrainResult {
  runDir: string;
  lastCheckpoint?: string;
  stepsDone: number;
  stopped: boolean;
}

/**
 * The fixed noise of the sample grids: one batch for the whole run, so epochs compare. A
 * conditional model's grid has a row per digit, and column c uses the same z in every row.
 */
export function fixedNoise(config: TrainConfig): Float32Array {
  if (modelClasses(config.model) === 0) return Rng.stream(config.seed, 'fixed-noise').fillNormal(new Float32Array(sampleGridCount(config.model) * config.latent));
  return repeatPerRow(Rng.stream(config.seed, 'fixed-noise').fillNormal(new Float32Array(DIGIT_GRID_COLUMNS * config.latent)), DIGIT_GRID_COLUMNS, config.latent);
}

/** The digits of the sample grids beside `fixedNoise`: row d all d for a conditional model; undefined otherwise. */
export function fixedLabels(config: TrainConfig): Uint8Array | undefined {
  return modelClasses(config.model) === 0 ? undefined : digitRowLabels(DIGIT_GRID_COLUMNS);
}

export async function train(args: TrainArgs): Promise<TrainResult> {
  const { backend, resume } = args;
  const config = resume ? resume.config : args.config;
  const log = args.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const shouldStop = args.shouldStop ?? (() => false);

  const data = await loadMnist({ dir: config.data, split: 'train', limit: config.limit });
  const steps = stepsPerEpoch(data.count, config.batchSize);
  if (steps === 0) {
    throw new TrainSetupError(`--batch-size ${config.batchSize} is larger than the ${data.count} training images: no full batch to train on`);
  }
  const paths = resume ? await openRunDir(config.runDir!) : await createRunDir(config.runDir ?? defaultRunDir(config.model));

  const replica = await Replica.create({ model: config.model, latent: config.latent, seed: config.seed, adam: { lr: config.lr, beta1: config.beta1, beta2: config.beta2 } });
  if (resume) await restoreReplica(replica, resume);
  log(`backend: ${backend.label} (${backend.reason})`);
  if (backend.blas) log(`blas: ${backend.blas.reason}`);
  log(`data: ${describeSource(config.data)}; ${data.count} training images, ${steps} steps of ${config.batchSize} per epoch`);
  log(summarize(replica.gan));
  log(`run directory: ${paths.root}`);
  if (resume) log(`resuming from ${resume.checkpointDir}: epoch ${resume.state.epoch + 1}, step ${resume.state.step} (${resume.state.globalStep} steps done)`);
  else await writeRunConfig(paths, {
    config,
    backend: { name: backend.label, reason: backend.reason, ...(backend.blas ? { blas: backend.blas } : {}) },
    world: 1,
    models: { generator: paramCounts(replica.gan.generator), discriminator: paramCounts(replica.gan.discriminator) },
    data: { source: describeSource(config.data), images: data.count, stepsPerEpoch: steps },
    version: VERSION,
    node: process.version,
    startedAt: new Date().toISOString(),
  });

  // Loaded (or trained, once) before the first step, so an evaluation only costs its own images.
  const evaluator: GeneratorEvaluatorArgs | undefined = config.evalEvery === undefined ? undefined : {
    classifier: await ensureClassifier({ dir: resolve(config.classifier ?? DEFAULT_CLASSIFIER_DIR), ...CLASSIFIER_DEFAULTS, data: config.data, backend: backend.name, log }),
    n: config.evalN, latent: config.latent, seed: config.seed,
  };
  const resumed = resume ? { globalStep: resume.state.globalStep, checkpoint: resume.checkpointDir, history: await rewindMetrics(paths.metrics, resume) } : undefined;
  const out = new RunOutputs({ paths, config, stepsPerEpoch: steps, resumed });
  await out.init();
  const noise = fixedNoise(config);
  const batchBuf = new Float32Array(config.batchSize * 28 * 28);
  const labelBuf = new Uint8Array(config.batchSize);
  let globalStep = resume?.state.globalStep ?? 0;
  let stopped = false;
  let nonFinite = 0;
  const checkpoint = async (pos: RunPosition) => {
    const { files } = await serializeCheckpoint(checkpointPayload(replica, config, pos, backend.label));
    await out.writeCheckpoint(files, pos);
  };

  try {
    const first = resume?.state ?? { epoch: 0, step: 0 };
    for (let epoch = first.epoch; epoch < config.epochs && !stopped; epoch++) {
      const perm = epochPermutation(config.seed, epoch, data.count);
      out.beginEpoch();
      let metricsMs = 0;
      for (let step = epoch === first.epoch ? first.step : 0; step < steps; step++) {
        const t0 = performance.now();
        gatherBatch(data, batchIndices(perm, step, config.batchSize), batchBuf, labelBuf);
        const dataMs = performance.now() - t0;
        const s = await replica.trainStep(batchBuf, config.batchSize, { epoch, step, rank: 0, world: 1 }, undefined, labelBuf);
        globalStep++;
        const t1 = performance.now();
        await out.recordStep(epoch, step + 1, globalStep, {
          ...s, ms: dataMs + s.timings.total + metricsMs, images: config.batchSize, dataMs, computeMs: s.timings.discriminator + s.timings.generator,
          flattenMs: s.timings.flatten, reduceMs: s.timings.reduce, optimizerMs: s.timings.optimizer, metricsMs,
        });
        metricsMs = performance.now() - t1;
        nonFinite = s.skipped ? nonFinite + 1 : 0;
        if (nonFinite >= config.maxNonFinite) {
          throw new DivergedError(`${nonFinite} consecutive steps with a non-finite loss or gradient (up to step ${globalStep}): stopping; ${out.lastCheckpoint ? `the last checkpoint is ${out.lastCheckpoint}` : 'no checkpoint was written yet'} (a lower --lr may help)`);
        }
        // A step's awaits can all resolve as microtasks; one turn of the event loop per step lets a
        // signal's handler run now rather than several steps later (measured: 1.4 s late).
        await new Promise((resolve) => setImmediate(resolve));
        // Mid-epoch the stop happens here; after an epoch's last step, once the epoch's records are written.
        if (shouldStop() && step + 1 < steps) {
          out.progress.log(`stop requested: saving a checkpoint at epoch ${epoch + 1}, step ${step + 1}`);
          await checkpoint({ epoch, step: step + 1, globalStep });
          stopped = true;
          break;
        }
      }
      if (stopped) break;
      await out.endEpoch(epoch + 1, globalStep);
      const wants = out.wants(epoch + 1);
      if (wants.samples) await out.writeSamples(epoch + 1, await replica.generate(noise, sampleGridCount(config.model), fixedLabels(config)));
      if (wants.eval && evaluator) {
        const { result, seconds } = await evaluateGenerator(evaluator, replica.gan.generator);
        await out.recordEval(epoch + 1, globalStep, result, seconds);
      }
      stopped = shouldStop() && epoch + 1 < config.epochs;
      if (stopped) out.progress.log(`stop requested: saving a checkpoint at the end of epoch ${epoch + 1}`);
      if (wants.checkpoint || stopped) await checkpoint({ epoch: epoch + 1, step: 0, globalStep });
    }
  } finally {
    await out.close();
  }
  return { runDir: paths.root, lastCheckpoint: out.lastCheckpoint, stepsDone: globalStep, stopped };
}

/** Loads the plan's checkpoint into `replica` (weights, statistics, both Adams). */
export async function restoreReplica(replica: Replica, plan: ResumePlan): Promise<void> {
  const ck = await readCheckpoint(plan.checkpointDir, { full: true });
  try {
    await replica.restore({ generator: ck.generator, discriminator: ck.discriminator!, optimizer: ck.optimizer! });
  } catch (err) {
    throw new ResumeError(`--resume ${plan.checkpointDir}: ${(err as Error).message}`);
  } finally {
    ck.generator.dispose();
    ck.discriminator?.dispose();
  }
}
