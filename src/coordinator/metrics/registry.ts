/**
 * Every Prometheus metric of a run, in one place. The coordinator owns the registry; workers'
 * numbers arrive in their step reports and are exported here with `worker` (rank) and `device`
 * labels. Naming follows Prometheus conventions: a `gan_` prefix, base units (`_seconds`,
 * `_bytes`, `_ratio`), `_total` for counters, and no high-cardinality labels (never a step or epoch).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
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
}

export class RunMetrics {
  readonly registry = new Registry();

  private readonly lossG = new Gauge({ name: 'gan_generator_loss', help: 'Generator loss (non-saturating BCE) of the last step, mean over workers', registers: [this.registry] });
  private readonly lossD = new Gauge({ name: 'gan_discriminator_loss', help: 'Discriminator loss (BCE real + BCE fake) of the last step, mean over workers', registers: [this.registry] });
  private readonly dReal = new Gauge({ name: 'gan_d_real_ratio', help: 'Mean D(x) on real images (probability 0..1) of the last step', registers: [this.registry] });
  private readonly dFake = new Gauge({ name: 'gan_d_fake_ratio', help: 'Mean D(G(z)) on generated images (probability 0..1) of the last step, before the D update', registers: [this.registry] });

  private readonly epoch = new Gauge({ name: 'gan_epoch', help: 'Epochs completed', registers: [this.registry] });
  private readonly epochsPlanned = new Gauge({ name: 'gan_epochs_planned', help: 'Epochs the run will train', registers: [this.registry] });
  private readonly stepsPerEpoch = new Gauge({ name: 'gan_steps_per_epoch', help: 'Steps in one epoch', registers: [this.registry] });
  private readonly steps = new Counter({ name: 'gan_steps_total', help: 'Training steps completed', registers: [this.registry] });
  private readonly images = new Counter({ name: 'gan_images_total', help: 'Training images processed (all workers)', registers: [this.registry] });
  private readonly info = new Gauge({ name: 'gan_info', help: 'Run facts as labels (value 1)', labelNames: ['model', 'backend', 'version', 'world_size'], registers: [this.registry] });

  private readonly stepDuration = new Histogram({ name: 'gan_step_duration_seconds', help: 'Wall time of a training step as the coordinator sees it', buckets: STEP_BUCKETS, registers: [this.registry] });
  private readonly workerStep = new Histogram({ name: 'gan_worker_step_duration_seconds', help: 'Time of a step on a worker (compute, all-reduce, optimizer)', labelNames: ['worker', 'device'], buckets: STEP_BUCKETS, registers: [this.registry] });
  private readonly allreduce = new Histogram({ name: 'gan_allreduce_duration_seconds', help: 'Time a worker spent in gradient all-reduce per step (D and G), waits for peers included', labelNames: ['worker', 'device'], buckets: ALLREDUCE_BUCKETS, registers: [this.registry] });
  private readonly workerImagesPerSecond = new Gauge({ name: 'gan_worker_images_per_second', help: 'Images per second of one worker over its last step', labelNames: ['worker', 'device'], registers: [this.registry] });
  private readonly imagesPerSecond = new Gauge({ name: 'gan_images_per_second', help: 'Images per second of the whole run over the last step', registers: [this.registry] });
  private readonly allreduceBytes = new Counter({ name: 'gan_allreduce_sent_bytes_total', help: 'Gradient bytes a worker sent in all-reduce', labelNames: ['worker', 'device'], registers: [this.registry] });

  private readonly memory = new Gauge({ name: 'gan_backend_memory_bytes', help: 'Backend memory in use on a worker (tf.memory().numBytes)', labelNames: ['worker', 'device'], registers: [this.registry] });
  private readonly tensors = new Gauge({ name: 'gan_backend_tensors', help: 'Live tensors on a worker (tf.memory().numTensors): flat in a healthy run', labelNames: ['worker', 'device'], registers: [this.registry] });
  private readonly rss = new Gauge({ name: 'gan_worker_resident_memory_bytes', help: 'Resident set size of a worker process', labelNames: ['worker', 'device'], registers: [this.registry] });
  private readonly workerInfo = new Gauge({ name: 'gan_worker_info', help: "A worker's backend and WebGPU adapter (name, vendor, type gpu|software; empty off webgpu) as labels (value 1)", labelNames: ['worker', 'device', 'backend', 'adapter', 'adapter_vendor', 'adapter_type'], registers: [this.registry] });
  private readonly deviceMemory = new Gauge({ name: 'gan_backend_device_memory_bytes', help: "GPU memory of a worker's webgpu backend: tf.memory().numBytesInGPU (state=used) and numBytesAllocatedInGPU (state=allocated, the buffer pool included); absent on other backends", labelNames: ['worker', 'device', 'state'], registers: [this.registry] });
  private readonly gpuUtil = new Gauge({ name: 'gan_gpu_utilization_ratio', help: "GPU utilisation of a worker's GPU from nvidia-smi (0..1); absent without nvidia-smi", labelNames: ['worker', 'device'], registers: [this.registry] });
  private readonly gpuMemory = new Gauge({ name: 'gan_gpu_memory_used_bytes', help: "Memory used on a worker's GPU from nvidia-smi; absent without nvidia-smi", labelNames: ['worker', 'device'], registers: [this.registry] });

  private readonly workersConnected = new Gauge({ name: 'gan_workers_connected', help: 'Workers admitted and not reported silent', registers: [this.registry] });
  private readonly workerUp = new Gauge({ name: 'gan_worker_up', help: '1 while a worker is in the run, 0 after it was lost', labelNames: ['worker', 'device'], registers: [this.registry] });
  private readonly restarts = new Counter({ name: 'gan_worker_restarts_total', help: 'Recoveries from a lost worker (the workers restarted and rolled back to the last snapshot)', registers: [this.registry] });
  private readonly heartbeatAge = new Gauge({ name: 'gan_worker_heartbeat_age_seconds', help: 'Seconds since the last message from a worker', labelNames: ['worker', 'device'], registers: [this.registry] });
  private readonly rejected = new Counter({ name: 'gan_rejected_messages_total', help: 'Control messages dropped: failed authentication or validation, or from a connection that never said hello', registers: [this.registry] });
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

  private readonly labels = new Map<number, { worker: string; device: string }>();
  private rejectedSeen = 0;

  constructor(private readonly sources: { heartbeatAges: () => Map<number, number>; rejected: () => number }) {
    collectDefaultMetrics({ register: this.registry });
    // Absent until the first evaluation (and in runs without --eval-every): a 0 would read as a perfect FID.
    for (const g of [this.fid, this.fidFloor, this.mnistScore, this.coverageKl, this.digitsUnder, this.collapse, this.evalEpoch]) g.remove();
  }

  /**
   * Brings the values the coordinator already tracks (heartbeat ages, dropped messages) up to date;
   * the HTTP handler calls it before each scrape rather than having them pushed.
   */
  refresh(): void {
    for (const [rank, age] of this.sources.heartbeatAges()) {
      const l = this.labels.get(rank);
      if (l) this.heartbeatAge.set(l, age);
    }
    const r = this.sources.rejected();
    if (r > this.rejectedSeen) {
      this.rejected.inc(r - this.rejectedSeen);
      this.rejectedSeen = r;
    }
  }

  private info_: RunInfo | undefined;

  setInfo(info: RunInfo, epochs: number, stepsPerEpoch: number): void {
    this.info_ = info;
    this.info.set({ model: info.model, backend: info.backend, version: info.version, world_size: String(info.world) }, 1);
    this.epochsPlanned.set(epochs);
    this.stepsPerEpoch.set(stepsPerEpoch);
    this.epoch.set(0);
  }

  /** The run went on with fewer workers (--elastic). */
  resize(world: number): void {
    if (!this.info_) return;
    this.info_ = { ...this.info_, world };
    this.info.reset();
    this.info.set({ model: this.info_.model, backend: this.info_.backend, version: this.info_.version, world_size: String(world) }, 1);
  }

  /** A (re)assembly starts: no worker is in the run until it joins again. */
  beginAssembly(): void {
    for (const l of this.labels.values()) this.workerUp.set(l, 0);
    this.workerInfo.reset();
    this.labels.clear();
    this.workersConnected.set(0);
  }

  workerJoined(w: WorkerLabels): void {
    const l = { worker: String(w.rank), device: w.device };
    this.labels.set(w.rank, l);
    this.workerUp.set(l, 1);
    this.workerInfo.set({ ...l, backend: w.backend ?? '', adapter: w.adapter ?? '', adapter_vendor: w.adapterVendor ?? '', adapter_type: w.adapterType ?? '' }, 1);
    this.workersConnected.set(this.labels.size);
  }

  workerLost(rank: number): void {
    const l = this.labels.get(rank);
    if (l) this.workerUp.set(l, 0);
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
    this.lossG.set(mean((r) => r.lossG));
    this.lossD.set(mean((r) => r.lossD));
    this.dReal.set(mean((r) => r.dReal));
    this.dFake.set(mean((r) => r.dFake));
    this.steps.inc();
    this.images.inc(globalBatch);
    this.stepDuration.observe(seconds);
    this.imagesPerSecond.set(globalBatch / Math.max(seconds, 1e-9));
    if (reports.some((r) => r.skipped)) this.nonFinite.inc();
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
      if (r.gpuUtilization !== undefined) this.gpuUtil.set(l, r.gpuUtilization);
      if (r.gpuMemoryBytes !== undefined) this.gpuMemory.set(l, r.gpuMemoryBytes);
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
  }

  workerRestarted(): void {
    this.restarts.inc();
  }
}
