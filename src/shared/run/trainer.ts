/**
 * Single-process training (`npm run train`): one Replica, the epoch schedule, and the run's outputs
 * (metrics.jsonl, sample grids, loss plot, checkpoints) through RunOutputs, which the cluster
 * coordinator shares.
 */
import type { BackendChoice } from '../backend/select.js';
import type { TrainConfig } from '../config.js';
import { loadMnist, describeSource } from '../data/mnist.js';
import { stepsPerEpoch } from '../data/schedule.js';
import { paramCounts, summarize } from '../models/index.js';
import { Replica, replicaArgsOf } from '../replica.js';
import { Rng } from '../rng.js';
import { VERSION } from '../version.js';
import { RunOutputs, sampleGridCount } from './outputs.js';
import { DIGIT_GRID_COLUMNS, digitRowLabels, modelClasses, repeatPerRow } from '../models/conditional.js';
import { LocalExecutor } from './local-executor.js';
import { NonFiniteStepsError, trainLoop } from './loop.js';
import { readCheckpoint } from '../checkpoint/load.js';
import { CLASSIFIER_DEFAULTS, DEFAULT_CLASSIFIER_DIR, ensureClassifier } from '../eval/classifier-store.js';
import type { GeneratorEvaluatorArgs } from '../eval/evaluate.js';
import { resolve } from 'node:path';
import { defaultRunDir, writeRunConfig } from './run-dir.js';
import { claimRunDir } from './run-claim.js';
import { rewindMetrics, ResumeError, type ResumePlan } from './resume.js';
import type { RunPosition } from './snapshot.js';

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
  /** Returns true when the run should stop at the next step boundary (SIGINT/SIGTERM/SIGHUP). */
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
  /** Cluster: stopped while the workers were starting, before any step (nothing was written). */
  beforeFirstStep?: boolean;
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

  // The run directory first: a path that cannot be a run directory, or one another run holds,
  // fails before the data loads (run-claim.ts).
  const claim = await claimRunDir(resume ? config.runDir! : config.runDir ?? defaultRunDir(config.model), resume !== undefined, log);
  const paths = claim.paths;
  try {
    const data = await loadMnist({ dir: config.data, split: 'train', limit: config.limit });
    const steps = stepsPerEpoch(data.count, config.batchSize);
    if (steps === 0) {
      throw new TrainSetupError(`--batch-size ${config.batchSize} is larger than the ${data.count} training images: no full batch to train on`);
    }

    const replica = await Replica.create(replicaArgsOf(config));
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
    const pos: RunPosition = resume ? { epoch: resume.state.epoch, step: resume.state.step, globalStep: resume.state.globalStep } : { epoch: 0, step: 0, globalStep: 0 };
    const executor = new LocalExecutor({ replica, data, config, backend: backend.label, noise: fixedNoise(config), noiseLabels: fixedLabels(config), evaluator });
    let stopped: boolean;
    try {
      stopped = await trainLoop({ executor, out, config, stepsPerEpoch: steps, pos, shouldStop });
    } catch (err) {
      if (!(err instanceof NonFiniteStepsError)) throw err;
      throw new DivergedError(`${err.message}: stopping; ${out.lastCheckpoint ? `the last checkpoint is ${out.lastCheckpoint}` : 'no checkpoint was written yet'} (a lower --lr may help)`);
    } finally {
      await out.close();
    }
    return { runDir: paths.root, lastCheckpoint: out.lastCheckpoint, stepsDone: pos.globalStep, stopped };
  } finally {
    await claim.release();
  }
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
