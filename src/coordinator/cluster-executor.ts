/**
 * The step executor of a cluster: the workers run the steps, the coordinator listens.
 *
 * A `run` command hands every worker a range of steps; the schedule (batches, noise, hash points)
 * is deterministic, so the workers run it back to back and stream one report per step. The
 * coordinator combines each step's reports as they arrive, off the workers' path: no step waits
 * for the coordinator, its metrics or the disk. It speaks again only at a boundary: the end of a
 * range, where the loop may pause (stop, snapshot). A range is sized to last about RANGE_TARGET_MS
 * from the measured step time, which bounds how long a stop waits (measured below) while the
 * per-range round trip stays a small share (about 1 ms of the target).
 */
import { CHECKPOINT_FILES, type CheckpointFiles } from '../shared/checkpoint/format.js';
import type { TrainConfig } from '../shared/config.js';
import type { EvalResult } from '../shared/eval/summary.js';
import type { StepReport, ToCoordinator, ToWorker } from '../shared/protocol/messages.js';
import type { StepExecutor, StepRange } from '../shared/run/loop.js';
import { sampleGridCount } from '../shared/run/outputs.js';
import type { RunPosition } from '../shared/run/snapshot.js';
import { combineReports, type StepRecord } from '../shared/run/step-report.js';
import type { Member } from './membership.js';

/** How long a range of steps should take: a stop waits for the range in flight. */
export const RANGE_TARGET_MS = 250;

/** The coordinator's side of the control channel, as the executor needs it. */
export interface ControlChannel {
  world(): number;
  /** Rank 0, which samples, evaluates and serialises checkpoints. */
  root(): Member;
  send(member: Member, msg: ToWorker): Promise<void>;
  broadcast(msg: ToWorker): Promise<void>;
  /** The next message from a member (fails on a lost or silent worker, or after `timeoutMs`). */
  next(timeoutMs: number, what: string): Promise<{ msg: ToCoordinator; raw: Buffer[]; member: Member }>;
  /** Thrown for a reply that breaks the protocol (one line). */
  error(message: string): Error;
}

export interface ClusterExecutorArgs {
  config: TrainConfig;
  channel: ControlChannel;
  /** Each step's per-rank reports, once all are in (Prometheus, hash checks, health). */
  onReports: (reports: StepReport[], seconds: number, globalStep: number) => void;
}

export class ClusterExecutor implements StepExecutor {
  /** Moving estimate of a step's wall time; undefined until the first step. */
  private stepMs: number | undefined;

  constructor(private readonly a: ClusterExecutorArgs) {}

  /** Steps in the next range: one at first, then about RANGE_TARGET_MS worth. */
  private rangeSteps(): number {
    return this.stepMs === undefined ? 1 : Math.max(1, Math.floor(RANGE_TARGET_MS / Math.max(this.stepMs, 1e-3)));
  }

  async run(range: StepRange, onStep: (r: StepRecord) => Promise<void>, pause: () => boolean): Promise<void> {
    const { channel, config } = this.a;
    let from = range.from;
    while (from < range.to) {
      const to = Math.min(range.to, from + this.rangeSteps());
      const before = range.globalStep + (from - range.from);
      let last = performance.now();
      await channel.broadcast({ t: 'run', epoch: range.epoch, from, to, globalStep: before, hashLast: range.checkpointAfter && to === range.to });
      const early = new Map<number, Map<number, StepReport>>();
      let metricsMs = 0;
      for (let step = from; step < to; step++) {
        const reports = await this.collect(range.epoch, step, early);
        const now = performance.now();
        const ms = now - last;
        last = now;
        this.stepMs = this.stepMs === undefined ? ms : 0.8 * this.stepMs + 0.2 * ms;
        this.a.onReports(reports, ms / 1000, before + (step - from) + 1);
        await onStep({ ...combineReports(reports), ms, images: config.batchSize, metricsMs });
        metricsMs = performance.now() - now;
      }
      from = to;
      if (from < range.to && pause()) return;
    }
  }

  /**
   * All ranks' reports of one step, in rank order; reports of later steps wait in `early`. Keyed by
   * rank, so a rank's report counts once however often it arrives (as the lock-step code had it).
   */
  private async collect(epoch: number, step: number, early: Map<number, Map<number, StepReport>>): Promise<StepReport[]> {
    const world = this.a.channel.world();
    const mine = early.get(step) ?? new Map<number, StepReport>();
    early.delete(step);
    // A step is bounded by the collectives' own timeouts on the workers, and a silent worker by
    // the liveness check; this bound only has to catch a coordinator-side surprise.
    while (mine.size < world) {
      const m = await this.a.channel.next(10 * 60_000, `step reports (epoch ${epoch + 1}, step ${step + 1})`);
      if (m.msg.t !== 'report') continue;
      const r = m.msg;
      if (r.epoch !== epoch || r.step < step || r.rank !== m.member.rank) continue;
      if (r.step === step) mine.set(r.rank, r);
      else early.set(r.step, (early.get(r.step) ?? new Map<number, StepReport>()).set(r.rank, r));
    }
    return [...mine.values()].sort((x, y) => x.rank - y.rank);
  }

  async samples(epoch: number): Promise<Float32Array> {
    const { channel } = this.a;
    const count = sampleGridCount(this.a.config.model);
    await channel.send(channel.root(), { t: 'sample', epoch, count });
    for (;;) {
      const m = await channel.next(120_000, 'sample images from rank 0');
      if (m.msg.t === 'samples' && m.msg.epoch === epoch && m.raw.length === 1) {
        const b = m.raw[0];
        if (b.byteLength !== count * 28 * 28 * 4) throw channel.error(`rank 0 sent ${b.byteLength} bytes of samples, expected ${count * 28 * 28 * 4}`);
        return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
      }
    }
  }

  /** Rank 0 evaluates its generator; the other workers wait for the next command meanwhile. */
  async evaluate(epoch: number): Promise<{ result: EvalResult; seconds: number }> {
    const { channel } = this.a;
    await channel.send(channel.root(), { t: 'eval', epoch, count: this.a.config.evalN });
    for (;;) {
      const m = await channel.next(600_000, 'evaluation from rank 0');
      if (m.msg.t === 'eval-done' && m.msg.epoch === epoch) return { result: m.msg.result as EvalResult, seconds: m.msg.seconds };
    }
  }

  /**
   * Rank 0 serialises its state at `pos`. Every rank is asked: each holds the Adam moments of its
   * own segment (sharded optimizer), and they gather to rank 0 in one collective.
   */
  async checkpointFiles(pos: RunPosition): Promise<CheckpointFiles> {
    const { channel } = this.a;
    await channel.broadcast({ t: 'checkpoint', ...pos });
    for (;;) {
      const m = await channel.next(300_000, 'checkpoint files from rank 0');
      const msg = m.msg;
      if (msg.t !== 'checkpoint-data' || msg.globalStep !== pos.globalStep) continue;
      if (msg.files.length !== CHECKPOINT_FILES.length || m.raw.length !== CHECKPOINT_FILES.length || CHECKPOINT_FILES.some((f, i) => msg.files[i] !== f)) {
        throw channel.error(`rank 0 sent an incomplete checkpoint (${m.raw.length} files)`);
      }
      return Object.fromEntries(CHECKPOINT_FILES.map((f, i) => [f, new Uint8Array(m.raw[i])])) as CheckpointFiles;
    }
  }
}
