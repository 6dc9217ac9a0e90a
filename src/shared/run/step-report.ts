/**
 * The step report, declared once: what one replica measured in one step, its type on the wire (the
 * control protocol validates reports against it) and how each field combines across replicas into
 * the run's step record (metrics.jsonl's step and epoch lines, the progress line, `npm run bench`).
 * Prometheus reads the per-rank reports as they are.
 */
import type { StepStats } from '../replica.js';

/** Wire type of a field; `?` marks one a report may leave out. */
type Wire = 'number' | 'boolean' | 'number?' | 'string?';
/**
 * How replicas' values become the step's: `mean` (losses, timings: every replica did the same
 * work), `sum` (each replica holds a share of the whole: squared norms), `max` (leak watch: the
 * worst replica), `any` (a skipped step is skipped everywhere), or `rank` (per replica only, not
 * combined).
 */
type Across = 'mean' | 'sum' | 'max' | 'any' | 'rank';

export const STEP_REPORT_FIELDS = {
  lossD: { wire: 'number', across: 'mean' },
  lossG: { wire: 'number', across: 'mean' },
  /** Mean D(x) over the real images. */
  dReal: { wire: 'number', across: 'mean' },
  /** Mean D(G(z)) in the D step. */
  dFake: { wire: 'number', across: 'mean' },
  /** Mean D(G(z)) in the G step, after the D update. */
  dFakeForG: { wire: 'number', across: 'mean' },
  /** A loss or gradient was not finite and the update was skipped (on every replica alike). */
  skipped: { wire: 'boolean', across: 'any' },
  /**
   * Squared norm of D's and G's averaged gradient: each replica sends its share (StepStats), the
   * step's value is their sum. Logs and Prometheus show its square root, the gradient norm.
   */
  gradSqD: { wire: 'number', across: 'sum' },
  gradSqG: { wire: 'number', across: 'sum' },
  /**
   * Milliseconds: dataMs gathering the batch, computeMs forward + backward, flattenMs gradients into
   * fusion buffers, reduceMs all-reduce, optimizerMs Adam + weight writes; totalMs = all but dataMs.
   */
  dataMs: { wire: 'number', across: 'mean' },
  computeMs: { wire: 'number', across: 'mean' },
  flattenMs: { wire: 'number', across: 'mean' },
  reduceMs: { wire: 'number', across: 'mean' },
  optimizerMs: { wire: 'number', across: 'mean' },
  totalMs: { wire: 'number', across: 'rank' },
  /** Bytes sent by this rank's all-reduce during the step. */
  reducedBytes: { wire: 'number', across: 'rank' },
  /** Backend memory in use (tf.memory().numBytes) and live tensors (tf.memory().numTensors). */
  memoryBytes: { wire: 'number', across: 'rank' },
  numTensors: { wire: 'number', across: 'max' },
  /** Resident set size of the replica's process. */
  rssBytes: { wire: 'number', across: 'max' },
  /** GPU utilisation 0..1 and memory used, from nvidia-smi; absent where there is none. */
  gpuUtilization: { wire: 'number?', across: 'rank' },
  gpuMemoryBytes: { wire: 'number?', across: 'rank' },
  /** The GPU those figures are of, as nvidia-smi names it: its index on the host and its UUID (DCGM's `gpu` and `UUID` labels). */
  gpuIndex: { wire: 'number?', across: 'rank' },
  gpuUuid: { wire: 'string?', across: 'rank' },
  /** webgpu: bytes of GPU buffers in use by tensors and held by tfjs's buffer pool (tf.memory()). */
  deviceMemoryBytes: { wire: 'number?', across: 'rank' },
  deviceMemoryAllocatedBytes: { wire: 'number?', across: 'rank' },
  /** A hash of the weights after the step, on the steps the hash check asks for. */
  weightsHash: { wire: 'string?', across: 'rank' },
} as const satisfies Record<string, { wire: Wire; across: Across }>;

type Fields = typeof STEP_REPORT_FIELDS;
type ValueOf<W> = W extends 'number' | 'number?' ? number : W extends 'boolean' ? boolean : string;
type Optional<K extends keyof Fields> = Fields[K]['wire'] extends `${string}?` ? true : false;

/** One replica's report of one step, as the declaration above types it. */
export type StepReportFields = { [K in keyof Fields as Optional<K> extends true ? never : K]: ValueOf<Fields[K]['wire']> } & {
  [K in keyof Fields as Optional<K> extends true ? K : never]?: ValueOf<Fields[K]['wire']>;
};

type KeysAcross<A extends Across> = { [K in keyof Fields]: Fields[K]['across'] extends A ? K : never }[keyof Fields];
type CombinedKey = KeysAcross<'mean' | 'sum' | 'max' | 'any'>;

/** The step across replicas: `mean`, `sum` and `max` fields as numbers, `skipped` if any replica skipped. */
export type CombinedStep = { [K in CombinedKey]: ValueOf<Fields[K]['wire']> };

/** What the run records of one step: the combined report, plus the step's wall time and the recorder's own time. */
export interface StepRecord extends CombinedStep {
  /** Wall time of the step in milliseconds. */
  ms: number;
  /** Images in the (global) batch. */
  images: number;
  /** Time spent recording the previous step (metrics, logs): on the step path in one process, beside it in a cluster. */
  metricsMs: number;
}

const keysAcross = (across: Across) => (Object.keys(STEP_REPORT_FIELDS) as (keyof Fields)[]).filter((k) => STEP_REPORT_FIELDS[k].across === across);

/** Fields averaged over replicas and, in the log windows, over steps. */
export const MEAN_FIELDS = keysAcross('mean') as KeysAcross<'mean'>[];
/** Fields summed over replicas (shares of one whole), then averaged over steps in the log windows. */
export const SUM_FIELDS = keysAcross('sum') as KeysAcross<'sum'>[];
/** Fields that take the worst replica, and the latest value in a window. */
export const MAX_FIELDS = keysAcross('max') as KeysAcross<'max'>[];

/** The wire schema of a report (for the control protocol's validation). */
export function reportWireSchema(): Record<string, Wire> {
  return Object.fromEntries(Object.entries(STEP_REPORT_FIELDS).map(([k, f]) => [k, f.wire]));
}

/** Combines the replicas' reports of one step (one report: itself). */
export function combineReports(reports: readonly StepReportFields[]): CombinedStep {
  const out: Record<string, number | boolean> = { skipped: reports.some((r) => r.skipped) };
  for (const k of MEAN_FIELDS) out[k] = reports.reduce((s, r) => s + r[k], 0) / reports.length;
  for (const k of SUM_FIELDS) out[k] = reports.reduce((s, r) => s + r[k], 0);
  for (const k of MAX_FIELDS) out[k] = Math.max(...reports.map((r) => r[k]));
  return out as CombinedStep;
}

/** The report fields a replica's step result gives (losses and timings); the caller adds its process's. */
export function reportOfStep(s: StepStats, dataMs: number): Pick<StepReportFields, 'lossD' | 'lossG' | 'dReal' | 'dFake' | 'dFakeForG' | 'skipped' | 'gradSqD' | 'gradSqG' | 'dataMs' | 'computeMs' | 'flattenMs' | 'reduceMs' | 'optimizerMs' | 'totalMs'> {
  return {
    lossD: s.lossD, lossG: s.lossG, dReal: s.dReal, dFake: s.dFake, dFakeForG: s.dFakeForG, skipped: s.skipped, gradSqD: s.gradSqD, gradSqG: s.gradSqG,
    dataMs, computeMs: s.timings.discriminator + s.timings.generator, flattenMs: s.timings.flatten, reduceMs: s.timings.reduce, optimizerMs: s.timings.optimizer, totalMs: s.timings.total,
  };
}
