/**
 * The training loop, one for `npm run train` and the cluster: epochs, steps, the stop request,
 * non-finite steps, samples, evaluations, checkpoints and rollback snapshots, read top to bottom.
 *
 * What runs the steps is a `StepExecutor`: in one process the replica itself (local-executor.ts),
 * in a cluster the workers, which run the deterministic schedule on their own and stream their
 * reports back (coordinator/cluster-executor.ts). The loop speaks to the executor only at
 * boundaries: a run of steps, the end of an epoch, a stop, a snapshot.
 *
 * Invariants: steps are recorded in order, each exactly once per attempt; a stop mid-epoch happens
 * at a boundary the executor offers (every step in one process, the end of a run of steps in a
 * cluster) and after an epoch's last step only once that epoch's records are written; a checkpoint
 * is written at the position it describes.
 */
import type { CheckpointFiles } from '../checkpoint/format.js';
import type { TrainConfig } from '../config.js';
import type { EvalResult } from '../eval/summary.js';
import type { RunOutputs } from './outputs.js';
import type { RunPosition } from './snapshot.js';
import type { StepRecord } from './step-report.js';
import { releaseMemory } from '../release-memory.js';

/** Runs the steps, and the work rank 0's replica does between them. */
export interface StepExecutor {
  /**
   * Runs steps [from, to) of `epoch`, calling `onStep` for each in order as it ends (`onStep` may
   * throw to abandon the run). Between steps where it can stop, asks `pause()`; resolves once `to`
   * is reached or `pause()` said yes.
   */
  run(range: StepRange, onStep: (record: StepRecord) => Promise<void>, pause: () => boolean): Promise<void>;
  /** The fixed-noise sample images of the current weights (after `epoch` epochs). */
  samples(epoch: number): Promise<Float32Array>;
  /** Evaluates the current generator (--eval-every) after `epoch` epochs. */
  evaluate(epoch: number): Promise<{ result: EvalResult; seconds: number }>;
  /** The current state, serialised as a checkpoint at `pos`. */
  checkpointFiles(pos: RunPosition): Promise<CheckpointFiles>;
}

/** A run of steps within one epoch. */
export interface StepRange {
  epoch: number;
  from: number;
  to: number;
  /** Steps done before `from`. */
  globalStep: number;
  /** A checkpoint follows the last step (the cluster checks the replicas' hashes there). */
  checkpointAfter: boolean;
}

/** A state kept in memory to roll back to (a checkpoint's bytes and where it stands). */
export interface Snapshot {
  files: CheckpointFiles;
  pos: RunPosition;
}

/** Too many consecutive non-finite steps. */
export class NonFiniteStepsError extends Error {}

export interface LoopArgs {
  executor: StepExecutor;
  out: RunOutputs;
  config: TrainConfig;
  stepsPerEpoch: number;
  /** Where to start; updated in place as steps complete. */
  pos: RunPosition;
  shouldStop: () => boolean;
  /** Cluster only: keep an in-memory snapshot at every checkpoint and every this many seconds. */
  snapshotIntervalSec?: number;
  /** Called with each checkpoint written and each snapshot taken (the new rollback point). */
  onSnapshot?: (s: Snapshot, written: { seconds: number } | undefined) => void;
  onEpochEnd?: (epochsCompleted: number) => void;
  onEval?: (result: EvalResult, epoch: number) => void;
  /** Called as the run leaves its steps for an evaluation or a checkpoint (the run status metric). */
  onPhase?: (phase: 'evaluating' | 'checkpointing') => void;
}

/** Trains from `pos` to the end of the run; resolves true when stopped by request. */
export async function trainLoop(a: LoopArgs): Promise<boolean> {
  const { executor, out, config, stepsPerEpoch: steps, pos } = a;
  let nonFinite = 0;
  let lastSnapshot = performance.now();
  const snapshotDue = () => a.snapshotIntervalSec !== undefined && (performance.now() - lastSnapshot) / 1000 >= a.snapshotIntervalSec;
  const checkpoint = async () => {
    a.onPhase?.('checkpointing');
    const t0 = performance.now();
    const s = { files: await executor.checkpointFiles({ ...pos }), pos: { ...pos } };
    await out.writeCheckpoint(s.files, s.pos);
    a.onSnapshot?.(s, { seconds: (performance.now() - t0) / 1000 });
    releaseMemory(); // the snapshot this one replaced, and the garbage of making it
    lastSnapshot = performance.now();
  };
  const snapshot = async () => {
    a.onSnapshot?.({ files: await executor.checkpointFiles({ ...pos }), pos: { ...pos } }, undefined);
    releaseMemory();
    lastSnapshot = performance.now();
  };
  const onStep = async (record: StepRecord) => {
    pos.step++;
    pos.globalStep++;
    await out.recordStep(pos.epoch, pos.step, pos.globalStep, record);
    nonFinite = record.skipped ? nonFinite + 1 : 0;
    if (nonFinite >= config.maxNonFinite) throw new NonFiniteStepsError(`${nonFinite} consecutive steps with a non-finite loss or gradient (up to step ${pos.globalStep})`);
  };

  while (pos.epoch < config.epochs) {
    const epoch = pos.epoch;
    if (pos.step === 0) out.beginEpoch();
    const wants = out.wants(epoch + 1);
    while (pos.step < steps) {
      await executor.run({ epoch, from: pos.step, to: steps, globalStep: pos.globalStep, checkpointAfter: wants.checkpoint }, onStep, () => a.shouldStop() || snapshotDue());
      if (pos.step === steps) break;
      // The executor paused mid-epoch: a stop, or a snapshot to take.
      if (a.shouldStop()) {
        out.progress.log(`stop requested: saving a checkpoint at epoch ${epoch + 1}, step ${pos.step}`);
        await checkpoint();
        return true;
      }
      if (snapshotDue()) await snapshot();
    }
    pos.epoch++;
    pos.step = 0;
    await out.endEpoch(epoch + 1, pos.globalStep);
    a.onEpochEnd?.(epoch + 1);
    if (wants.samples) await out.writeSamples(epoch + 1, await executor.samples(epoch + 1));
    if (wants.eval) {
      a.onPhase?.('evaluating');
      const { result, seconds } = await executor.evaluate(epoch + 1);
      await out.recordEval(epoch + 1, pos.globalStep, result, seconds);
      a.onEval?.(result, epoch + 1);
    }
    const stopped = pos.epoch < config.epochs && a.shouldStop();
    if (stopped) out.progress.log(`stop requested: saving a checkpoint at the end of epoch ${epoch + 1}`);
    if (wants.checkpoint || stopped) await checkpoint();
    else if (snapshotDue()) await snapshot();
    if (stopped) return true;
  }
  return false;
}
