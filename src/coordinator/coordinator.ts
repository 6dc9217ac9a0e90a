/**
 * The coordinator: admits workers, deals the steps, aggregates what the workers report, watches
 * liveness and replica consistency, and owns the run directory (metrics, samples, plot,
 * checkpoints that rank 0 serialised). It never touches a tensor and is not on the gradient path.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import * as zmq from 'zeromq';
import { CHECKPOINT_FILES, type CheckpointFiles } from '../shared/checkpoint/format.js';
import { configFingerprintFields, type TrainConfig } from '../shared/config.js';
import { describeSource, loadMnist } from '../shared/data/mnist.js';
import { shardSize, stepsPerEpoch } from '../shared/data/schedule.js';
import { Inbox, receiveLoop, ReceiveTimeoutError, SendQueue, type ReceiveStats } from '../shared/protocol/channel.js';
import { encodeMessage } from '../shared/protocol/codec.js';
import { curveServer, type CurveKeys } from '../shared/protocol/curve.js';
import { fingerprint } from '../shared/protocol/fingerprint.js';
import type { Hello, StepReport, ToCoordinator, ToWorker } from '../shared/protocol/messages.js';
import { RunOutputs } from '../shared/run/outputs.js';
import { NonFiniteStepsError, trainLoop, type Snapshot } from '../shared/run/loop.js';
import type { RunPosition } from '../shared/run/snapshot.js';
import { ClusterExecutor, type ControlChannel } from './cluster-executor.js';
import { maxControlFrameBytes } from '../shared/models/sizes.js';
import { defaultRunDir, readLatestSampleGrid, writeRunConfig, type RunPaths } from '../shared/run/run-dir.js';
import { claimRunDir, type RunDirClaim } from '../shared/run/run-claim.js';
import { rewindMetrics, type ResumePlan } from '../shared/run/resume.js';
import type { TrainResult } from '../shared/run/trainer.js';
import { VERSION } from '../shared/version.js';
import { describeHashMismatch, Membership, type Member } from './membership.js';
import { RunMetrics } from './metrics/registry.js';
import { batchSplitProblem } from '../shared/run/batch-split.js';
import { linger, startMetricsServer, type Health, type MetricsServer } from './metrics/server.js';
import { describeError } from '../shared/describe-error.js';

/** Everything the coordinator needs. */
export interface CoordinatorArgs {
  config: TrainConfig;
  world: number;
  /** Address to bind the control socket to. */
  bindHost: string;
  /** Port, 0 for a free one. */
  port: number;
  token: Buffer;
  compression: 'none' | 'fp16';
  workerTimeoutMs: number;
  joinTimeoutMs: number;
  hashEvery: number;
  /** Where the Prometheus endpoint listens. */
  metricsBind: string;
  metricsPort: number;
  /** --metrics-token-file's token: /metrics answers only its bearer. */
  metricsToken?: string;
  /** --linger: seconds /metrics stays up after the run for Prometheus to scrape the final values (0: off). */
  lingerSec?: number;
  /** CurveZMQ cluster keypair: the control socket becomes a CURVE server. */
  curve?: CurveKeys;
  log: (line: string) => void;
  /** True when the run should stop at the next step boundary. */
  shouldStop?: () => boolean;
  /** Continue a run from a checkpoint (its merged config is `config`). */
  resume?: ResumePlan;
  /** Recoveries from lost workers before the run stops (or, with `elastic`, shrinks). */
  maxRestarts: number;
  /** Once restarts are used up, go on with one worker fewer (global batch kept) instead of stopping. */
  elastic: boolean;
  /** Seconds between in-memory snapshots. */
  snapshotIntervalSec: number;
  /**
   * Called after a lost worker, once the others were told to stop: restart the workers (the
   * launcher respawns its local processes). Without it the coordinator waits for workers to join
   * again (remote workers under a supervisor).
   */
  onRecover?: (world: number) => Promise<void>;
}

/** Thrown when the run cannot go on; the message is one line. */
export class ClusterError extends Error {}

/** A worker died, stalled or failed: the run can recover by restarting workers and rolling back. */
export class WorkerLostError extends ClusterError {}


const HEARTBEAT_MS = 1000;

type Incoming = { msg: ToCoordinator; raw: Buffer[]; identity?: Buffer };

export class Coordinator {
  private readonly router: zmq.Router;
  private readonly sendQ: SendQueue;
  private readonly inbox = new Inbox<Incoming>();
  readonly stats: ReceiveStats = { received: 0, rejected: 0 };
  private membership: Membership | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  endpoint = '';
  private readonly metrics = new RunMetrics({
    heartbeatAges: () => new Map((this.membership?.members() ?? []).map((m) => [m.rank, (Date.now() - m.lastSeen) / 1000])),
    rejected: () => this.stats.rejected,
  });
  private metricsServer: MetricsServer | undefined;
  /** The run directory once the run has one (the metrics endpoint serves its newest sample grid). */
  private runDir: RunPaths | undefined;
  private health: Health = { status: 'starting', globalStep: 0, workers: 0 };
  /** Workers in the run: --workers/--gpus, fewer after an elastic shrink. */
  world: number;
  /** Incremented at each (re)assembly; events of older worker generations are ignored. */
  generation = 0;
  /** Connections of workers from earlier generations: their late messages are ignored, not counted. */
  private readonly retired = new Set<string>();
  /** Workers restarted after a loss so far (bounded by --max-restarts). */
  private restarts = 0;
  /** Set when a worker forwarded a stop signal it received (`stop-request`). */
  private workerStopRequest: string | undefined;
  /** The run directory, taken (created and locked) in `bind`, before any worker is spawned. */
  private claim: RunDirClaim | undefined;

  constructor(private readonly args: CoordinatorArgs) {
    this.world = args.world;
    this.router = new zmq.Router({
      linger: 1000,
      sendHighWaterMark: 0,
      receiveHighWaterMark: 0,
      mandatory: false,
      // ZMQ_MAXMSGSIZE (default -1: no limit): a peer sending a larger frame is disconnected before
      // its bytes are buffered. Anyone who can reach the port can send, token or not; the largest
      // legitimate frame is a checkpoint file of this run's model, which this bound covers.
      maxMessageSize: maxControlFrameBytes(args.config.model, args.config.latent),
    });
    this.sendQ = new SendQueue(this.router);
  }

  /**
   * Takes the run directory (run-claim.ts), binds the metrics endpoint, then the control socket;
   * resolves with the endpoint workers connect to. All three are taken here, before the launcher
   * spawns any worker, so a bad or busy run directory or port fails fast.
   */
  async bind(): Promise<string> {
    const { config, resume } = this.args;
    this.claim = await claimRunDir(resume ? config.runDir! : config.runDir ?? defaultRunDir(config.model), resume !== undefined, this.args.log);
    try {
      this.metricsServer = await startMetricsServer(this.metrics, this.args.metricsBind, this.args.metricsPort, () => this.health, async () => (this.runDir ? readLatestSampleGrid(this.runDir) : undefined), { token: this.args.metricsToken, log: this.args.log });
    } catch (err) {
      throw new ClusterError(`metrics endpoint ${this.args.metricsBind}:${this.args.metricsPort}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (choose another --metrics-port, or 0 for a free one)`);
    }
    this.args.log(`metrics: ${this.metricsServer.url}/metrics`);
    if (this.args.curve) curveServer(this.router, this.args.curve);
    const address = `tcp://${this.args.bindHost}:${this.args.port === 0 ? '*' : this.args.port}`;
    try {
      await this.router.bind(address);
    } catch (err) {
      throw new ClusterError(`cannot bind the control socket to ${address}: ${(err as Error).message.split('\n')[0]} (choose another --port or --bind)`);
    }
    this.endpoint = this.router.lastEndpoint!.replace('0.0.0.0', this.args.bindHost);
    void receiveLoop<ToCoordinator>(this.router, this.args.token, 1, (m) => this.onMessage(m), this.stats).catch((err) => this.inbox.fail(err as Error));
    return this.endpoint;
  }

  /** Makes the run fail with `reason` at the next wait (a local worker process died, say). */
  fail(reason: string): void {
    this.inbox.fail(new ClusterError(reason));
  }

  /** A local worker process of generation `generation` exited (the launcher calls this). */
  workerExited(rank: number, generation: number, description: string): void {
    // Exits of an older generation were expected (told to stop, or already recovered from).
    if (generation < this.generation) return;
    this.inbox.push({ msg: { t: 'error', rank, message: description }, raw: [] });
  }

  private onMessage(m: Incoming): void {
    const member = m.identity && this.membership?.byId(m.identity);
    if (member) member.lastSeen = Date.now();
    if (m.msg.t === 'hb') return;
    if (!member && m.identity && this.retired.has(m.identity.toString('hex'))) return;
    if (!member && m.msg.t !== 'hello') {
      // Authentic (it passed the mac) but from a connection that never said hello: not acted on.
      this.stats.rejected++;
      this.stats.lastRejection = `'${m.msg.t}' from a connection that did not say hello`;
      return;
    }
    if (m.msg.t === 'stop-request') {
      if (!this.stopRequested()) this.args.log(`worker rank ${member ? member.rank : m.msg.rank} received ${m.msg.signal}: stopping the run with a checkpoint at the next step boundary`);
      this.workerStopRequest ??= m.msg.signal;
      return;
    }
    this.inbox.push(m);
  }

  /**
   * A launched worker died on a stop signal before it could handle one (while loading): the signal
   * was a stop of the run (Ctrl-C reaches the whole process group).
   */
  workerKilledByStop(rank: number, signal: string): void {
    if (!this.stopRequested()) this.args.log(`worker rank ${rank} ended on ${signal} while starting: stopping the run`);
    this.workerStopRequest ??= signal;
  }

  /** A stop was asked for: a signal to this process (`shouldStop`) or one a worker forwarded. */
  private stopRequested(): boolean {
    return this.workerStopRequest !== undefined || this.args.shouldStop?.() === true;
  }

  private send(identity: Buffer, msg: ToWorker): Promise<void> {
    return this.sendQ.send([identity, ...encodeMessage(msg, this.args.token)]);
  }

  private async broadcast(msg: ToWorker): Promise<void> {
    await Promise.all(this.membership!.members().map((m) => this.send(m.identity, msg)));
  }

  /**
   * The next message from a member, failing if any worker goes silent for the worker timeout, or
   * nothing arrives within `timeoutMs`.
   */
  private async nextFromMembers(timeoutMs: number, what: string): Promise<Incoming & { member: Member }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const silent = this.membership!.silent(this.args.workerTimeoutMs);
      if (silent.length) {
        for (const m of silent) this.metrics.workerLost(m.rank);
        throw new WorkerLostError(`worker ${silent.map((m) => `rank ${m.rank} (${m.hello.host} pid ${m.hello.pid})`).join(', ')} silent for over ${this.args.workerTimeoutMs / 1000} s while waiting for ${what}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new ClusterError(`no ${what} within ${(timeoutMs / 1000).toFixed(0)} s`);
      let m: Incoming;
      try {
        m = await this.inbox.next(Math.min(left, 500), what);
      } catch (err) {
        if (err instanceof ReceiveTimeoutError) continue;
        throw err;
      }
      if (m.msg.t === 'error') {
        const member = m.identity ? this.membership!.byId(m.identity) : undefined;
        const rank = member?.rank ?? m.msg.rank;
        // A ring error names the neighbour it saw go: that rank is the one lost (a SIGKILLed worker's
        // neighbour often reports before the launcher sees the exit); the reporter is only a witness.
        const lost = m.msg.peer !== undefined && m.msg.peer >= 0 && m.msg.peer < this.world ? m.msg.peer : rank;
        this.metrics.workerLost(lost);
        throw new WorkerLostError(lost === rank ? `worker rank ${rank} failed: ${m.msg.message}` : `worker rank ${lost} lost (rank ${rank}: ${m.msg.message})`);
      }
      if (m.msg.t === 'hello') {
        await this.send(m.identity!, { t: 'refuse', reason: `the run already has all ${this.world} workers` });
        continue;
      }
      return { ...m, member: this.membership!.byId(m.identity!)! };
    }
  }

  /** Waits for `world` workers, admits them, sends the welcomes and waits until all are ready. */
  private async assemble(configFields: Record<string, unknown>, restore?: Uint8Array[]): Promise<void> {
    this.generation++;
    for (const m of this.membership?.members() ?? []) this.retired.add(m.identity.toString('hex'));
    this.metrics.beginAssembly();
    clearInterval(this.heartbeat);
    const membership = new Membership({ world: this.world, version: VERSION, configHash: fingerprint(configFields), config: configFields });
    this.membership = membership;
    const deadline = Date.now() + this.args.joinTimeoutMs;
    while (!membership.full) {
      const left = deadline - Date.now();
      if (left <= 0) throw new ClusterError(`only ${membership.size} of ${this.world} workers joined within ${this.args.joinTimeoutMs / 1000} s (coordinator at ${this.endpoint})`);
      // A stop asked for while the workers start (Ctrl-C at launch) ends the run here: in slices, so it is seen.
      if (this.stopRequested()) throw new ClusterError('stop requested while the workers were starting');
      let m: Incoming;
      try {
        m = await this.inbox.next(Math.min(left, 250), `hello from ${this.world - membership.size} more worker(s)`);
      } catch (err) {
        if (err instanceof ReceiveTimeoutError && Date.now() < deadline) continue;
        throw err instanceof ClusterError ? err : new ClusterError(`only ${membership.size} of ${this.world} workers joined: ${(err as Error).message}`);
      }
      if (m.msg.t === 'error' && !m.identity) throw new ClusterError(`${m.msg.message} before joining the run`);
      if (m.msg.t !== 'hello') continue;
      const admitted = membership.admit(m.identity!, m.msg as Hello);
      if (typeof admitted === 'string') {
        this.args.log(`refused a worker from ${(m.msg as Hello).host} pid ${(m.msg as Hello).pid}: ${admitted}`);
        await this.send(m.identity!, { t: 'refuse', reason: admitted });
        continue;
      }
      const h = admitted.hello;
      this.metrics.workerJoined({ rank: admitted.rank, device: h.device, host: h.host, backend: h.backend, adapter: h.adapterName, adapterVendor: h.adapterVendor, adapterType: h.adapterType });
      this.args.log(`worker rank ${admitted.rank} joined: ${admitted.hello.host} pid ${admitted.hello.pid}, ${admitted.hello.backend}, ${admitted.hello.device}, data ${admitted.hello.dataEndpoint}`);
    }
    const runId = randomBytes(6).toString('hex');
    const peers = membership.members().map((m) => m.hello.dataEndpoint);
    for (const m of membership.members()) await this.send(m.identity, { t: 'welcome', rank: m.rank, world: this.world, runId, peers, hashEvery: this.args.hashEvery, restore: restore !== undefined });
    this.heartbeat = setInterval(() => void this.broadcast({ t: 'hb' }).catch(() => undefined), HEARTBEAT_MS);
    if (restore) {
      // Rank 0 loads the checkpoint and the start broadcast hands it to every replica.
      const root = membership.members()[0];
      await this.sendQ.send([root.identity, ...encodeMessage({ t: 'restore', files: [...CHECKPOINT_FILES] }, this.args.token, restore)]);
    }
    const hashes = new Map<number, string>();
    while (hashes.size < this.world) {
      const m = await this.nextFromMembers(this.args.joinTimeoutMs, 'ready from every worker (ring set-up and start broadcast)');
      if (m.msg.t === 'ready') hashes.set(m.member.rank, m.msg.weightsHash);
    }
    this.checkHashes(hashes, 'after the start broadcast');
  }

  /** Assembles the workers; one lost while starting costs a restart, as one lost while training does. */
  private async assembleOrRestart(configFields: Record<string, unknown>, restore?: Uint8Array[]): Promise<void> {
    for (;;) {
      try {
        return await this.assemble(configFields, restore);
      } catch (err) {
        if (!(err instanceof WorkerLostError) || this.restarts >= this.args.maxRestarts || this.stopRequested()) throw err;
        this.restarts++;
        this.metrics.workerRestarted();
        this.args.log(`${err.message} while the workers were starting: restart ${this.restarts} of ${this.args.maxRestarts}`);
        await this.restartWorkers();
      }
    }
  }

  /** Tells the workers to stop (best effort), forgets their queued messages, and has them restarted. */
  private async restartWorkers(): Promise<void> {
    await Promise.race([this.broadcast({ t: 'stop', reason: 'a worker was lost: restarting the workers' }), new Promise((r) => setTimeout(r, 500))]);
    this.inbox.drain();
    await this.args.onRecover?.(this.world);
  }

  private checkHashes(hashes: Map<number, string>, when: string): void {
    const diff = describeHashMismatch(hashes);
    if (diff) throw new ClusterError(`replica weights differ ${when}: ${diff}`);
  }

  /** Runs the whole training; resolves like single-process `train`. */
  async run(): Promise<TrainResult> {
    const { config } = this.args;
    const world = this.world;
    const split = batchSplitProblem(config.batchSize, world, this.args.resume !== undefined);
    if (split) throw new ClusterError(split);
    const local = shardSize(config.batchSize, world);
    const data = await loadMnist({ dir: config.data, split: 'train', limit: config.limit });
    const steps = stepsPerEpoch(data.count, config.batchSize);
    if (steps === 0) throw new ClusterError(`--batch-size ${config.batchSize} is larger than the ${data.count} training images: no full batch to train on`);
    const resume = this.args.resume;
    const paths = this.claim!.paths;
    const configFields = configFingerprintFields(config, this.args.compression);

    this.args.log(`coordinator listening on ${this.endpoint}; waiting for ${world} worker(s)`);
    // The rollback point: the checkpoint resumed from, then the latest checkpoint or in-memory snapshot.
    let snapshot: Snapshot | undefined = resume
      ? { files: Object.fromEntries(await Promise.all(CHECKPOINT_FILES.map(async (f) => [f, new Uint8Array(await readFile(join(resume.checkpointDir, f)))]))) as CheckpointFiles, pos: { epoch: resume.state.epoch, step: resume.state.step, globalStep: resume.state.globalStep } }
      : undefined;
    try {
      await this.assembleOrRestart(configFields, snapshot && CHECKPOINT_FILES.map((f) => snapshot!.files[f]));
    } catch (err) {
      // Stopped before the first step (workers killed by the same Ctrl-C included): nothing trained,
      // nothing to save; the run directory is given back as it was (run-claim.ts).
      if (!this.stopRequested()) throw err;
      this.args.log(`stop requested while the workers were starting: no step was trained (${(err as Error).message.split('\n')[0]})`);
      return { runDir: paths.root, lastCheckpoint: resume?.checkpointDir, stepsDone: resume?.state.globalStep ?? 0, stopped: true, beforeFirstStep: true };
    }
    const members = this.membership!.members();
    if (resume) this.args.log(`resumed from ${resume.checkpointDir}: epoch ${resume.state.epoch + 1}, step ${resume.state.step} (${resume.state.globalStep} steps done)`);
    else await writeRunConfig(paths, {
      config,
      world,
      batchPerWorker: local,
      gradCompression: this.args.compression,
      backend: { name: members[0].hello.backend, reason: 'chosen by the workers' },
      workers: members.map((m) => ({ rank: m.rank, host: m.hello.host, pid: m.hello.pid, device: m.hello.device, backend: m.hello.backend, ...(m.hello.blas ? { blas: m.hello.blas } : {}) })),
      data: { source: describeSource(config.data), images: data.count, stepsPerEpoch: steps },
      version: VERSION,
      node: process.version,
      startedAt: new Date().toISOString(),
    });
    this.args.log(`run directory: ${paths.root}; ${world} workers × ${local} images per step, ${steps} steps per epoch`);
    this.runDir = paths;

    const resumed = resume ? { globalStep: resume.state.globalStep, checkpoint: resume.checkpointDir, history: await rewindMetrics(paths.metrics, resume) } : undefined;
    const extra = { world };
    const out = new RunOutputs({ paths, config, stepsPerEpoch: steps, extra, resumed });
    await out.init();
    this.metrics.setInfo({ model: config.model, backend: members[0].hello.backend, version: VERSION, world, runId: basename(paths.root), seed: config.seed, lr: config.lr, batchSize: config.batchSize }, config.epochs, steps);
    this.health = { status: 'training', globalStep: 0, workers: world };
    let pos: RunPosition = resume ? { epoch: resume.state.epoch, step: resume.state.step, globalStep: resume.state.globalStep } : { epoch: 0, step: 0, globalStep: 0 };
    const executor = new ClusterExecutor({ config, channel: this.channel(), onReports: (reports, seconds, globalStep) => this.onReports(reports, seconds, globalStep) });
    this.metrics.setPosition(pos.globalStep);
    let stopped = false;
    let nonFiniteRollbacks = 0;
    this.metrics.epochDone(pos.epoch);
    try {
      for (;;) {
        try {
          stopped = await trainLoop({
            executor, out, config, stepsPerEpoch: steps, pos, shouldStop: () => this.stopRequested(), snapshotIntervalSec: this.args.snapshotIntervalSec,
            onSnapshot: (s, written) => {
              snapshot = s;
              if (written) this.metrics.checkpointWritten(written.seconds);
            },
            onEpochEnd: (epochs) => this.metrics.epochDone(epochs),
            onEval: (result, epoch) => {
              this.metrics.recordEval(result, epoch);
              this.metrics.recordConditionalAccuracy(result);
            },
            onPhase: (phase) => this.metrics.setStatus(phase),
          });
          break;
        } catch (err) {
          if (err instanceof NonFiniteStepsError) {
            if (nonFiniteRollbacks > 0 || !snapshot) throw new ClusterError(`${err.message}${nonFiniteRollbacks ? ', again after rolling back' : ' and no snapshot to roll back to'}: stopping (a lower --lr may help)`);
            nonFiniteRollbacks++;
          } else if (!(err instanceof WorkerLostError)) {
            throw err;
          }
          let shrunk = false;
          if (err instanceof WorkerLostError && this.restarts >= this.args.maxRestarts) {
            const smaller = this.world - 1;
            if (!this.args.elastic || smaller < 1 || config.batchSize % smaller !== 0) {
              const why = this.args.elastic ? `; cannot shrink to ${smaller} worker(s) (the global batch ${config.batchSize} must divide)` : '';
              if (this.args.maxRestarts > 0 || why) throw new ClusterError(`${err.message}; giving up after ${this.restarts} restart(s) (--max-restarts ${this.args.maxRestarts})${why}`);
              throw err;
            }
            this.world = smaller;
            shrunk = true;
            this.metrics.resize(smaller);
            extra.world = smaller;
            out.progress.log(`--elastic: going on with ${smaller} worker(s), ${config.batchSize / smaller} images each (global batch kept)`);
          }
          if (err instanceof WorkerLostError && !shrunk) {
            this.restarts++;
            this.metrics.workerRestarted();
          }
          const failedAt = pos.globalStep;
          pos = snapshot ? { ...snapshot.pos } : { epoch: 0, step: 0, globalStep: 0 };
          this.metrics.setPosition(pos.globalStep, true);
          const what = err instanceof NonFiniteStepsError ? 'restarting the workers once' : shrunk ? `continuing with ${this.world} worker(s)` : `restart ${this.restarts} of ${this.args.maxRestarts}`;
          out.progress.log(`${err.message}: ${what}, rolling back from step ${failedAt} to step ${pos.globalStep} (epoch ${pos.epoch + 1}, step ${pos.step}): ${failedAt - pos.globalStep} step(s) to redo`);
          await out.rollback(pos.globalStep, err.message);
          await this.restartWorkers();
          await this.assembleOrRestart(configFields, snapshot && CHECKPOINT_FILES.map((f) => snapshot!.files[f]));
          out.progress.log(`workers ready again (${this.world}): going on from step ${pos.globalStep}`);
        }
      }
      await this.broadcast({ t: 'stop', reason: stopped ? 'stop requested' : 'training finished' });
      this.health.status = 'finished';
      this.metrics.setStatus('finished');
    } catch (err) {
      this.health.status = 'failed';
      this.metrics.setStatus('failed');
      await this.saveSnapshot(out, snapshot);
      throw err;
    } finally {
      await out.close();
    }
    return { runDir: paths.root, lastCheckpoint: out.lastCheckpoint, stepsDone: pos.globalStep, stopped };
  }

  /** The control channel as the cluster executor sees it. */
  private channel(): ControlChannel {
    return {
      world: () => this.world,
      root: () => this.membership!.members()[0],
      send: (member, msg) => this.send(member.identity, msg),
      broadcast: (msg) => this.broadcast(msg),
      next: (timeoutMs, what) => this.nextFromMembers(timeoutMs, what),
      error: (message) => new ClusterError(message),
    };
  }

  /** A step's reports are all in: Prometheus, health, and the replicas' hashes where they were taken. */
  private onReports(reports: StepReport[], seconds: number, globalStep: number): void {
    this.metrics.recordStep(reports, seconds, this.args.config.batchSize);
    this.health.globalStep = globalStep;
    if (reports.some((r) => r.weightsHash !== undefined)) this.checkHashes(new Map(reports.map((r) => [r.rank, r.weightsHash ?? ''])), `after step ${globalStep}`);
  }

  /**
   * On giving up, writes the in-memory rollback snapshot as a checkpoint when it is newer than the
   * last one on disk, so that `--resume latest` loses at most --snapshot-interval of training.
   */
  private async saveSnapshot(out: RunOutputs, snapshot: Snapshot | undefined): Promise<void> {
    if (!snapshot || snapshot.pos.globalStep <= out.lastCheckpointStep) return;
    try {
      const path = await out.writeCheckpoint(snapshot.files, snapshot.pos);
      this.args.log(`saved the last snapshot (epoch ${snapshot.pos.epoch + 1}, step ${snapshot.pos.step}, ${snapshot.pos.globalStep} steps done) as ${path}: continue with --resume latest`);
    } catch (err) {
      this.args.log(`could not save the last snapshot: ${describeError(err)}`);
    }
  }

  /**
   * Tells every worker to stop (best effort) and closes the socket; then keeps /metrics up for
   * --linger (metrics/server.ts `linger`: until two more scrapes, the linger's seconds or `stop`)
   * so the final values reach Prometheus, and closes it.
   */
  async close(reason = 'coordinator shutting down', stop: AbortSignal = new AbortController().signal): Promise<void> {
    clearInterval(this.heartbeat);
    // Closing a run that did not finish (it failed before training, at assembly say): say so.
    if (this.metrics.runStatus !== 'finished') this.metrics.setStatus('failed');
    if (this.stats.rejected) this.args.log(`dropped ${this.stats.rejected} control message(s) that failed authentication or validation (last: ${this.stats.lastRejection})`);
    if (this.membership) await Promise.race([this.broadcast({ t: 'stop', reason }), new Promise((r) => setTimeout(r, 500))]).catch(() => undefined);
    this.router.close();
    try {
      if (this.metricsServer) await linger(this.metrics, this.args.lingerSec ?? 0, stop, this.args.log);
      await this.metricsServer?.close();
    } finally {
      await this.claim?.release();
    }
  }
}


