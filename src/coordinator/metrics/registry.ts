/**
 * Every Prometheus metric of a run, in one place. The coordinator owns the registry; workers'
 * numbers arrive in their step reports and are exported here with `worker` (rank), `device` and
 * `host` labels (GPU series add DCGM's `gpu`, `UUID`, `Hostname`). Per-step values are summaries
 * (counters under the hood) and the run's position a gauge set from the run, so window means and
 * the ETA survive scrape gaps, rollbacks and resumes. Naming follows Prometheus conventions: a `gan_` prefix, base units (`_seconds`,
 * `_bytes`, `_ratio`), `_total` for counters, and no high-cardinality labels (never a step or epoch).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, Summary } from 'prom-client';
import type { StepReport } from '../../shared/protocol/messages.js';
import type { EvalResult } from '../../shared/eval/summary.js';

/** Step-duration buckets spanning a ~3 ms GPU step to a ~10 s wasm DCGAN step. */
export const STEP_BUCKETS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** All-reduce buckets: sub-millisecond NVLink-class to seconds on a slow link. */
export const ALLREDUCE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** A worker as the metrics label it. */
export interface WorkerLabels {
  rank: number;
  device: string;
  /** The worker's host name (its hello); exported as `host` on every per-worker series. */
  host?: string;
  /** For gan_worker_info: the worker's backend and, on webgpu, its adapter. */
  backend?: string;
  adapter?: string;
  adapterVendor?: string;
  adapterType?: string;
}

/** Run-wide facts for `gan_info`. */
export interface RunInfo {
  model: string;
  backend: string;
  version: string;
  world: number;
  /** Names the run: successive runs on one port stay apart, a resumed run keeps its id (the run directory's name). */
  runId?: string;
  seed?: number;
  lr?: number;
  /** Global batch (all workers). */
  batchSize?: number;
}

/** What a run is doing; `gan_run_status{status}` is 1 for the current one and 0 for the others (a state set). */
export const RUN_STATUSES = ['starting', 'training', 'evaluating', 'checkpointing', 'finished', 'failed'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** The labels of one worker's series. */
interface Labels {
  worker: string;
  device: string;
  host: string;
}

/** Per-worker metrics and the label set they are exported with (GPU series add DCGM's gpu, UUID, Hostname). */
const WORKER_LABELS = ['worker', 'device', 'host'] as const;
const GPU_LABELS = [...WORKER_LABELS, 'gpu', 'UUID', 'Hostname'] as const;

export class RunMetrics {
  readonly registry = new Registry();

  // Per-step values as summaries without quantiles: `_sum` and `_count` are counters, so
  // rate(x_sum[w]) / rate(x_count[w]) is the exact mean over every step of the window, whatever
  // the scrape interval (a last-step gauge shows 1 step in 12 at a 5 s scrape). Non-finite values
  // (a skipped step) are left out of both.
  private readonly lossG = new Summary({ name: 'gan_generator_loss', help: 'Generator loss (non-saturating BCE) per step, mean over workers: rate(_sum)/rate(_count) is the window mean', percentiles: [], registers: [this.registry] });
  private readonly lossD = new Summary({ name: 'gan_discriminator_loss', help: 'Discriminator loss (BCE real + BCE fake) per step, mean over workers: rate(_sum)/rate(_count) is the window mean', percentiles: [], registers: [this.registry] });
  private readonly dReal = new Summary({ name: 'gan_d_real_ratio', help: 'Mean D(x) on real images (probability 0..1) per step: rate(_sum)/rate(_count) is the window mean', percentiles: [], registers: [this.registry] });
  private readonly gradNorm = new Summary({ name: 'gan_gradient_norm', help: 'L2 norm of a network\'s averaged gradient per step (the shares of every worker combined): rate(_sum)/rate(_count) is the window mean', labelNames: ['network'], percentiles: [], registers: [this.registry] });
  private readonly dFake = new Summary({ name: 'gan_d_fake_ratio', help: 'Mean D(G(z)) on generated images (probability 0..1) per step, before the D update: rate(_sum)/rate(_count) is the window mean', percentiles: [], registers: [this.registry] });

  private readonly epoch = new Gauge({ name: 'gan_epoch', help: 'Epochs completed', registers: [this.registry] });
  private readonly epochsPlanned = new Gauge({ name: 'gan_epochs_planned', help: 'Epochs the run will train', registers: [this.registry] });
  private readonly stepsPerEpoch = new Gauge({ name: 'gan_steps_per_epoch', help: 'Steps in one epoch', registers: [this.registry] });
  private readonly stepsPlanned = new Gauge({ name: 'gan_steps_planned', help: 'Steps the whole run will train (epochs planned x steps per epoch)', registers: [this.registry] });
  private readonly globalStep = new Gauge({ name: 'gan_global_step', help: "The run's position in steps: goes back on a rollback, starts at the checkpoint's step on --resume", registers: [this.registry] });
  private readonly startTime = new Gauge({ name: 'gan_run_start_timestamp_seconds', help: 'Unix time of the end of the first step after this process started training, rolled back or resumed, at gan_run_start_global_step: the ETA\'s mean-rate origin', registers: [this.registry] });
  private readonly startStep = new Gauge({ name: 'gan_run_start_global_step', help: 'gan_global_step at gan_run_start_timestamp_seconds (one past where training (re)started: the warm-up step is left out of the ETA rate)', registers: [this.registry] });
  private readonly steps = new Counter({ name: 'gan_steps_total', help: 'Training steps computed by this process (steps redone after a rollback count again; see gan_global_step for the position)', registers: [this.registry] });
  private readonly rollbacks = new Counter({ name: 'gan_rollbacks_total', help: 'Times the run went back to an earlier step (restart after a lost worker, non-finite rollback)', registers: [this.registry] });
  private readonly images = new Counter({ name: 'gan_images_total', help: 'Training images processed (all workers)', registers: [this.registry] });
  private readonly info = new Gauge({ name: 'gan_info', help: 'Run facts as labels (value 1): run_id (the run directory), seed, lr, batch_size (global), world_size', labelNames: ['model', 'backend', 'version', 'world_size', 'run_id', 'seed', 'lr', 'batch_size'], registers: [this.registry] });
  private readonly status = new Gauge({ name: 'gan_run_status', help: `What the run is doing, a state set: 1 for the current status, 0 for the others (${RUN_STATUSES.join(', ')})`, labelNames: ['status'], registers: [this.registry] });
  private readonly evaluations = new Counter({ name: 'gan_evaluations_total', help: 'In-training evaluations done (--eval-every)', registers: [this.registry] });
  private readonly checkpoints = new Counter({ name: 'gan_checkpoints_total', help: 'Checkpoints written', registers: [this.registry] });

  private readonly stepDuration = new Histogram({ name: 'gan_step_duration_seconds', help: 'Wall time of a training step as the coordinator sees it', buckets: STEP_BUCKETS, registers: [this.registry] });
  private readonly workerStep = new Histogram({ name: 'gan_worker_step_duration_seconds', help: 'Time of a step on a worker (compute, all-reduce, optimizer)', labelNames: WORKER_LABELS, buckets: STEP_BUCKETS, registers: [this.registry] });
  private readonly allreduce = new Histogram({ name: 'gan_allreduce_duration_seconds', help: 'Time a worker spent in gradient all-reduce per step (D and G), waits for peers included', labelNames: WORKER_LABELS, buckets: ALLREDUCE_BUCKETS, registers: [this.registry] });
  private readonly workerImagesPerSecond = new Gauge({ name: 'gan_worker_images_per_second', help: 'Images per second of one worker over its last step', labelNames: WORKER_LABELS, registers: [this.registry] });
  private readonly imagesPerSecond = new Gauge({ name: 'gan_images_per_second', help: 'Images per second of the whole run over the last step', registers: [this.registry] });
  private readonly allreduceBytes = new Counter({ name: 'gan_allreduce_sent_bytes_total', help: 'Gradient bytes a worker sent in all-reduce', labelNames: WORKER_LABELS, registers: [this.registry] });

  private readonly memory = new Gauge({ name: 'gan_backend_memory_bytes', help: 'Backend memory in use on a worker (tf.memory().numBytes)', labelNames: WORKER_LABELS, registers: [this.registry] });
  private readonly tensors = new Gauge({ name: 'gan_backend_tensors', help: 'Live tensors on a worker (tf.memory().numTensors): flat in a healthy run', labelNames: WORKER_LABELS, registers: [this.registry] });
  private readonly rss = new Gauge({ name: 'gan_worker_resident_memory_bytes', help: 'Resident set size of a worker process', labelNames: WORKER_LABELS, registers: [this.registry] });
  private readonly workerInfo = new Gauge({ name: 'gan_worker_info', help: "A worker's backend and WebGPU adapter (name, vendor, type gpu|software; empty off webgpu) as labels (value 1)", labelNames: [...WORKER_LABELS, 'backend', 'adapter', 'adapter_vendor', 'adapter_type'], registers: [this.registry] });
  private readonly deviceMemory = new Gauge({ name: 'gan_backend_device_memory_bytes', help: "GPU memory of a worker's webgpu backend: tf.memory().numBytesInGPU (state=used) and numBytesAllocatedInGPU (state=allocated, the buffer pool included); absent on other backends", labelNames: [...WORKER_LABELS, 'state'], registers: [this.registry] });
  private readonly gpuUtil = new Gauge({ name: 'gan_gpu_utilization_ratio', help: "GPU utilisation of a worker's GPU from nvidia-smi (0..1), labelled gpu/UUID/Hostname as NVIDIA's DCGM exporter labels them; absent without nvidia-smi", labelNames: GPU_LABELS, registers: [this.registry] });
  private readonly gpuMemory = new Gauge({ name: 'gan_gpu_memory_used_bytes', help: "Memory used on a worker's GPU from nvidia-smi, labelled gpu/UUID/Hostname as NVIDIA's DCGM exporter labels them; absent without nvidia-smi", labelNames: GPU_LABELS, registers: [this.registry] });

  private readonly workersConnected = new Gauge({ name: 'gan_workers_connected', help: 'Workers admitted and not reported silent', registers: [this.registry] });
  private readonly workerUp = new Gauge({ name: 'gan_worker_up', help: '1 while a worker is in the run, 0 once it was lost (until that rank joins again); series of a rank that left the run (--elastic) are removed', labelNames: WORKER_LABELS, registers: [this.registry] });
  private readonly losses = new Counter({ name: 'gan_worker_lost_total', help: 'Times this rank was lost (died, failed or went silent): names the rank that failed', labelNames: WORKER_LABELS, registers: [this.registry] });
  private readonly restarts = new Counter({ name: 'gan_worker_restarts_total', help: 'Recoveries from a lost worker (the workers restarted and rolled back to the last snapshot)', registers: [this.registry] });
  private readonly heartbeatAge = new Gauge({ name: 'gan_worker_heartbeat_age_seconds', help: 'Seconds since the last message from a worker; keeps growing while the worker is down', labelNames: WORKER_LABELS, registers: [this.registry] });
  private readonly rejected = new Counter({ name: 'gan_rejected_messages_total', help: 'Control messages dropped: failed authentication or validation, or from a connection that never said hello', registers: [this.registry] });
  private readonly shedConnections = new Counter({ name: 'gan_metrics_connections_shed_total', help: 'Connections to this endpoint closed as they came (over its connection cap) or that failed to be accepted: load shed so that the run keeps its file descriptors', registers: [this.registry] });
  private readonly lastCheckpoint = new Gauge({ name: 'gan_last_checkpoint_timestamp_seconds', help: 'Unix time of the last complete checkpoint', registers: [this.registry] });
  private readonly checkpointDuration = new Gauge({ name: 'gan_last_checkpoint_duration_seconds', help: 'How long the last checkpoint took (serialise, send, hash, write)', registers: [this.registry] });
  private readonly nonFinite = new Counter({ name: 'gan_nonfinite_steps_skipped_total', help: 'Steps whose update was skipped for a non-finite loss or gradient', registers: [this.registry] });

  private readonly fid = new Gauge({ name: 'gan_fid', help: 'FID of the last evaluation (--eval-every) in the MNIST classifier\'s features, against the test images; lower is better', registers: [this.registry] });
  private readonly fidFloor = new Gauge({ name: 'gan_fid_floor', help: 'FID of the real train images against the test images: the best a generator can expect', registers: [this.registry] });
  private readonly mnistScore = new Gauge({ name: 'gan_mnist_score', help: 'MNIST score (Inception Score with the MNIST classifier) of the last evaluation; higher is better, up to the test images\' score', registers: [this.registry] });
  private readonly coverageKl = new Gauge({ name: 'gan_digit_coverage_kl', help: 'KL divergence (nats) of the generated digit shares from the test set\'s, last evaluation', registers: [this.registry] });
  private readonly digitsUnder = new Gauge({ name: 'gan_digits_underrepresented', help: 'Digits with under a quarter of their expected share among generated images, last evaluation', registers: [this.registry] });
  private readonly collapse = new Gauge({ name: 'gan_mode_collapse', help: '1 when the last evaluation found a digit under a quarter of its share (mode collapse), else 0', registers: [this.registry] });
  private readonly evalEpoch = new Gauge({ name: 'gan_eval_epoch', help: 'Epoch of the last evaluation', registers: [this.registry] });

  /** Ranks in the run or lost from it (their series stay, up=0, until the rank rejoins or leaves the run). */
  private readonly labels = new Map<number, Labels>();
  /** GPU labels each rank's GPU series were last exported with. */
  private readonly gpuLabels = new Map<number, Record<string, string>>();
  /** Ranks reported lost and not yet rejoined. */
  private readonly lost = new Set<number>();
  /** When each rank was last heard from (ms since epoch), so a lost worker's heartbeat age keeps growing. */
  private readonly lastHeard = new Map<number, number>();
  private rejectedSeen = 0;
  private shedSource: () => number = () => 0;
  private shedSeen = 0;
  /** The run's position; undefined until setPosition. */
  private position: number | undefined;
  /** The next step recorded sets the ETA origin (after a start, a rollback or a resume). */
  private originPending = true;
  private status_: RunStatus = 'starting';
  private scrapes = 0;
  private readonly scrapeWaiters: (() => void)[] = [];

  constructor(private readonly sources: { heartbeatAges: () => Map<number, number>; rejected: () => number }) {
    collectDefaultMetrics({ register: this.registry });
    // Absent until they mean something (a 0 loss or FID reads as perfect, a 0 step as a fresh run):
    // the per-step values until the first step, the evaluation until the first one (and in runs
    // without --eval-every), the position until the run knows it.
    for (const m of [this.lossG, this.lossD, this.dReal, this.dFake]) m.remove();
    this.gradNorm.reset();
    for (const g of [this.fid, this.fidFloor, this.mnistScore, this.coverageKl, this.digitsUnder, this.collapse, this.evalEpoch]) g.remove();
    for (const g of [this.globalStep, this.startTime, this.startStep, this.imagesPerSecond, this.epoch, this.epochsPlanned, this.stepsPerEpoch, this.stepsPlanned]) g.remove();
    for (const g of [this.lastCheckpoint, this.checkpointDuration]) g.remove();
    this.setStatus('starting');
  }

  /** The run's status now. */
  get runStatus(): RunStatus {
    return this.status_;
  }

  /** Sets the run status (`gan_run_status`): the state set has exactly one 1. */
  setStatus(status: RunStatus): void {
    this.status_ = status;
    for (const s of RUN_STATUSES) this.status.set({ status: s }, s === status ? 1 : 0);
  }

  /**
   * The run is at `globalStep` steps done: at the start (0, or the checkpoint's step on --resume)
   * and after every rollback. Every recorded step then moves it one on; the ETA origin
   * (gan_run_start_*) is taken at the end of the next recorded step, so start-up, reassembly,
   * restore and first-step warm-up time is not counted as training speed.
   */
  setPosition(globalStep: number, rollback = false): void {
    // A recovery counts even when it lands on the step it failed at (a snapshot just before).
    if (rollback || (this.position !== undefined && globalStep < this.position)) this.rollbacks.inc();
    this.position = globalStep;
    this.globalStep.set(globalStep);
    this.originPending = true;
    // No ETA while the run restarts: the old origin would mix the time lost with the steps undone.
    this.startTime.remove();
    this.startStep.remove();
  }

  /**
   * Brings the values the coordinator already tracks (heartbeat ages, dropped messages) up to date;
   * the HTTP handler calls it before each scrape rather than having them pushed.
   */
  refresh(): void {
    const now = Date.now();
    for (const [rank, age] of this.sources.heartbeatAges()) this.lastHeard.set(rank, now - age * 1000);
    for (const [rank, l] of this.labels) {
      const heard = this.lastHeard.get(rank);
      if (heard !== undefined) this.heartbeatAge.set(l, Math.max(0, (now - heard) / 1000));
    }
    const r = this.sources.rejected();
    if (r > this.rejectedSeen) {
      this.rejected.inc(r - this.rejectedSeen);
      this.rejectedSeen = r;
    }
    const shed = this.shedSource();
    if (shed > this.shedSeen) {
      this.shedConnections.inc(shed - this.shedSeen);
      this.shedSeen = shed;
    }
  }

  /** Where gan_metrics_connections_shed_total is read from (the metrics server's own count). */
  countShedConnections(source: () => number): void {
    this.shedSource = source;
  }

  /** The HTTP handler counts each /metrics answer (the linger after the run waits for scrapes). */
  scraped(): void {
    this.scrapes++;
    for (const w of this.scrapeWaiters.splice(0)) w();
  }

  /** /metrics answers so far. */
  get scrapeCount(): number {
    return this.scrapes;
  }

  /** Resolves at the next /metrics answer. */
  nextScrape(): Promise<void> {
    return new Promise((resolve) => this.scrapeWaiters.push(resolve));
  }

  private info_: RunInfo | undefined;

  setInfo(info: RunInfo, epochs: number, stepsPerEpoch: number): void {
    this.info_ = info;
    this.exportInfo();
    this.epochsPlanned.set(epochs);
    this.stepsPerEpoch.set(stepsPerEpoch);
    this.stepsPlanned.set(epochs * stepsPerEpoch);
    this.epoch.set(0);
    if (this.status_ === 'starting') this.setStatus('training');
  }

  private exportInfo(): void {
    const i = this.info_!;
    this.info.reset();
    this.info.set({
      model: i.model, backend: i.backend, version: i.version, world_size: String(i.world),
      run_id: i.runId ?? '', seed: i.seed === undefined ? '' : String(i.seed), lr: i.lr === undefined ? '' : String(i.lr), batch_size: i.batchSize === undefined ? '' : String(i.batchSize),
    }, 1);
  }

  /** The run went on with fewer workers (--elastic): ranks from `world` on left the run, their series go. */
  resize(world: number): void {
    for (const rank of [...this.labels.keys()]) if (rank >= world) this.dropRank(rank);
    if (!this.info_) return;
    this.info_ = { ...this.info_, world };
    this.exportInfo();
  }

  /** Removes every series of `rank` (it left the run, or came back as another worker). */
  private dropRank(rank: number): void {
    const l = this.labels.get(rank);
    if (l) {
      for (const m of [this.workerStep, this.allreduce, this.workerImagesPerSecond, this.allreduceBytes, this.memory, this.tensors, this.rss, this.workerUp, this.losses, this.heartbeatAge]) m.remove(l);
      for (const state of ['used', 'allocated']) this.deviceMemory.remove({ ...l, state });
      // gan_worker_info carries extra labels: drop its series by matching worker.
      this.removeMatching(this.workerInfo, l);
    }
    const gpu = this.gpuLabels.get(rank);
    if (gpu) for (const m of [this.gpuUtil, this.gpuMemory]) m.remove(gpu);
    this.labels.delete(rank);
    this.gpuLabels.delete(rank);
    this.lost.delete(rank);
    this.lastHeard.delete(rank);
  }

  private removeMatching(g: Gauge, l: Labels): void {
    const values = (g as unknown as { hashMap: Record<string, { labels: Record<string, string> }> }).hashMap;
    for (const v of Object.values(values)) if (v.labels.worker === l.worker && v.labels.host === l.host && v.labels.device === l.device) g.remove(v.labels);
  }

  /** A (re)assembly starts: workers join again. Lost ranks stay at up=0 until they rejoin; the others keep their series. */
  beginAssembly(): void {
    this.workersConnected.set(0);
    if (this.status_ !== 'finished' && this.status_ !== 'failed') this.setStatus('starting');
  }

  workerJoined(w: WorkerLabels): void {
    const l: Labels = { worker: String(w.rank), device: w.device, host: w.host ?? '' };
    const old = this.labels.get(w.rank);
    // The rank came back as another worker (other device or host): its old series would be stale.
    if (old && (old.device !== l.device || old.host !== l.host)) this.dropRank(w.rank);
    else if (old) this.removeMatching(this.workerInfo, old);
    this.labels.set(w.rank, l);
    this.lost.delete(w.rank);
    this.lastHeard.set(w.rank, Date.now());
    this.workerUp.set(l, 1);
    this.losses.inc(l, 0);
    this.workerInfo.set({ ...l, backend: w.backend ?? '', adapter: w.adapter ?? '', adapter_vendor: w.adapterVendor ?? '', adapter_type: w.adapterType ?? '' }, 1);
    this.workersConnected.set([...this.labels.keys()].filter((r) => !this.lost.has(r)).length);
  }

  workerLost(rank: number): void {
    const l = this.labels.get(rank);
    if (!l || this.lost.has(rank)) return;
    this.lost.add(rank);
    this.workerUp.set(l, 0);
    this.losses.inc(l);
    this.workersConnected.dec();
  }

  /** An in-training evaluation's numbers (after epoch `epoch`, 1-based). */
  recordEval(r: EvalResult, epoch: number): void {
    this.fid.set(r.fid);
    this.fidFloor.set(r.fidFloor);
    this.mnistScore.set(r.score);
    this.coverageKl.set(r.coverage.kl);
    this.digitsUnder.set(r.coverage.underQuarter.length);
    this.collapse.set(r.coverage.collapsed ? 1 : 0);
    this.evalEpoch.set(epoch);
    this.evaluations.inc();
  }

  private conditionalAccuracy?: Gauge;

  /**
   * A conditional model's evaluation: the share of generated images the classifier sees as the
   * digit asked for. The gauge is made at the first such evaluation, so other runs never export it.
   */
  recordConditionalAccuracy(r: EvalResult): void {
    if (!r.conditional) return;
    this.conditionalAccuracy ??= new Gauge({ name: 'gan_conditional_accuracy', help: 'Share of generated images the classifier sees as the digit asked for, last evaluation of a conditional model (chance: 0.1)', registers: [this.registry] });
    this.conditionalAccuracy.set(r.conditional.accuracy);
  }

  /** One completed step: the reports of every worker and the coordinator's wall time. */
  recordStep(reports: StepReport[], seconds: number, globalBatch: number): void {
    const mean = (f: (r: StepReport) => number) => reports.reduce((s, r) => s + f(r), 0) / reports.length;
    const observe = (s: Summary, v: number) => {
      if (Number.isFinite(v)) s.observe(v);
    };
    observe(this.lossG, mean((r) => r.lossG));
    observe(this.lossD, mean((r) => r.lossD));
    observe(this.dReal, mean((r) => r.dReal));
    observe(this.dFake, mean((r) => r.dFake));
    // Each worker reports its share of the squared norm (its segment, with the sharded optimizer).
    const norm = (f: (r: StepReport) => number) => Math.sqrt(reports.reduce((s, r) => s + f(r), 0));
    const dNorm = norm((r) => r.gradSqD);
    const gNorm = norm((r) => r.gradSqG);
    if (Number.isFinite(dNorm)) this.gradNorm.observe({ network: 'D' }, dNorm);
    if (Number.isFinite(gNorm)) this.gradNorm.observe({ network: 'G' }, gNorm);
    this.steps.inc();
    this.images.inc(globalBatch);
    this.stepDuration.observe(seconds);
    this.imagesPerSecond.set(globalBatch / Math.max(seconds, 1e-9));
    if (reports.some((r) => r.skipped)) this.nonFinite.inc();
    const position = (this.position ?? 0) + 1;
    if (this.originPending) {
      // The origin is the end of the first step after a (re)start: that step carries one-time
      // costs (wasm compilation, buffer allocation: 2.9 s against 0.3 s for the next ones in a
      // 2-worker mlp run here) that would weigh on the mean rate for long.
      this.startTime.set(Date.now() / 1000);
      this.startStep.set(position);
      this.originPending = false;
    }
    this.position = position;
    this.globalStep.set(position);
    if (this.status_ !== 'training') this.setStatus('training');
    const local = globalBatch / reports.length;
    for (const r of reports) {
      const l = this.labels.get(r.rank);
      if (!l) continue;
      this.workerStep.observe(l, r.totalMs / 1000);
      this.allreduce.observe(l, r.reduceMs / 1000);
      this.workerImagesPerSecond.set(l, local / Math.max(r.totalMs / 1000, 1e-9));
      this.allreduceBytes.inc(l, r.reducedBytes);
      this.memory.set(l, r.memoryBytes);
      this.tensors.set(l, r.numTensors);
      this.rss.set(l, r.rssBytes);
      if (r.gpuUtilization !== undefined || r.gpuMemoryBytes !== undefined) {
        const gpu: Record<string, string> = { ...l, Hostname: l.host, ...(r.gpuIndex !== undefined ? { gpu: String(r.gpuIndex) } : {}), ...(r.gpuUuid ? { UUID: r.gpuUuid } : {}) };
        const before = this.gpuLabels.get(r.rank);
        if (before && JSON.stringify(before) !== JSON.stringify(gpu)) for (const m of [this.gpuUtil, this.gpuMemory]) m.remove(before);
        this.gpuLabels.set(r.rank, gpu);
        if (r.gpuUtilization !== undefined) this.gpuUtil.set(gpu, r.gpuUtilization);
        if (r.gpuMemoryBytes !== undefined) this.gpuMemory.set(gpu, r.gpuMemoryBytes);
      }
      if (r.deviceMemoryBytes !== undefined) this.deviceMemory.set({ ...l, state: 'used' }, r.deviceMemoryBytes);
      if (r.deviceMemoryAllocatedBytes !== undefined) this.deviceMemory.set({ ...l, state: 'allocated' }, r.deviceMemoryAllocatedBytes);
    }
  }

  epochDone(epochsCompleted: number): void {
    this.epoch.set(epochsCompleted);
  }

  checkpointWritten(seconds: number): void {
    this.lastCheckpoint.set(Date.now() / 1000);
    this.checkpointDuration.set(seconds);
    this.checkpoints.inc();
  }

  workerRestarted(): void {
    this.restarts.inc();
  }
}
