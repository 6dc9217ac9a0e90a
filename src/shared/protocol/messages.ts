/**
 * Control messages between the coordinator and the workers (the data plane, gradients, goes
 * worker to worker and is not here). Every message is a msgpack map with a `t` tag; bulk bytes
 * (sample images, checkpoint files) ride as extra raw frames, never inside the map.
 */
import { reportWireSchema, type StepReportFields } from '../run/step-report.js';

// 2: steps run in runs of several (`run`), not one `step` command each.
export const PROTOCOL_VERSION = 2;

/** Worker → coordinator: first message; everything the coordinator needs to admit the worker. */
export interface Hello {
  t: 'hello';
  protocol: number;
  /** Requested rank, or -1 for "any". */
  rank: number;
  /** Human description of the device (GPU name, "cpu"). */
  device: string;
  /** Backend the worker runs (after its own selection). */
  backend: string;
  /** Package version of the worker's code. */
  version: string;
  /** sha256 of the canonical training config (see configFingerprint). */
  configHash: string;
  /** The fields the hash covers, so a mismatch can be named. */
  config: Record<string, unknown>;
  /** Where this worker's ring receive socket listens. */
  dataEndpoint: string;
  host: string;
  pid: number;
  /** The WebGPU adapter (webgpu backend only): name, vendor, 'gpu' or 'software'. */
  adapterName?: string;
  adapterVendor?: string;
  adapterType?: string;
  /** On wasm: the BLAS line (which OpenBLAS, threads, or why none), as the worker printed it. */
  blas?: string;
}

/** Coordinator → worker: admitted; the ring and the start position. */
export interface Welcome {
  t: 'welcome';
  rank: number;
  world: number;
  runId: string;
  /** Data endpoints by rank; worker r sends to peers[(r + 1) % world]. */
  peers: string[];
  /** Check a hash of the weights every this many steps. */
  hashEvery: number;
  /** Resuming: rank 0 waits for a Restore with the checkpoint before the start broadcast. */
  restore: boolean;
}

/** Coordinator → rank 0: the checkpoint to resume from; its files follow as raw frames in `files` order. */
export interface Restore {
  t: 'restore';
  files: string[];
}

/** Coordinator → worker: not admitted (config mismatch, rank taken, run full). The worker exits. */
export interface Refuse {
  t: 'refuse';
  reason: string;
}

/** Worker → coordinator: ring connected and rank 0's state received; ready for steps. */
export interface Ready {
  t: 'ready';
  rank: number;
  /** Hash of the replica's weights after the start broadcast. */
  weightsHash: string;
}

/**
 * Coordinator → workers: run steps [from, to) of `epoch` back to back, reporting each as it ends.
 * The schedule (batches, noise) is deterministic, so workers need nothing else per step; the
 * coordinator only speaks at boundaries: the end of a run of steps, a stop, a snapshot, an epoch.
 */
export interface RunCommand {
  t: 'run';
  epoch: number;
  from: number;
  to: number;
  /** Steps done before `from`; a hash of the weights is reported after every step whose count is a multiple of hashEvery. */
  globalStep: number;
  /** Also report a hash after the last step (a checkpoint follows). */
  hashLast: boolean;
}

/** Worker → coordinator: what one step measured on this replica (fields: STEP_REPORT_FIELDS). */
export type StepReport = { t: 'report'; rank: number; epoch: number; step: number } & StepReportFields;

/** Coordinator → rank 0: generate the fixed-noise sample images. Reply: Samples + one raw frame. */
export interface SampleRequest {
  t: 'sample';
  epoch: number;
  count: number;
}

/** Rank 0 → coordinator: the images follow as one float32 frame. */
export interface Samples {
  t: 'samples';
  epoch: number;
  count: number;
}

/** Coordinator → rank 0: evaluate the generator on `count` images (--eval-every). Reply: EvalDone. */
export interface EvalRequest {
  t: 'eval';
  epoch: number;
  count: number;
}

/** Rank 0 → coordinator: the evaluation's numbers (an EvalResult) and how long it took. */
export interface EvalDone {
  t: 'eval-done';
  epoch: number;
  result: object;
  seconds: number;
}

/** Coordinator → rank 0: serialise a checkpoint. Reply: CheckpointData + one frame per file. */
export interface CheckpointRequest {
  t: 'checkpoint';
  epoch: number;
  step: number;
  globalStep: number;
}

/** Rank 0 → coordinator: checkpoint files follow as raw frames, in `files` order. */
export interface CheckpointData {
  t: 'checkpoint-data';
  files: string[];
  epoch: number;
  globalStep: number;
}

/** Either way: liveness. */
export interface Heartbeat {
  t: 'hb';
}

/** Coordinator → workers: finish and exit. */
export interface Stop {
  t: 'stop';
  reason: string;
}

/**
 * Worker → coordinator: the worker's process was asked to stop (SIGTERM/SIGINT from `srun`,
 * `scancel`, a node shutdown or a user). The coordinator treats it as its own first stop signal:
 * a checkpoint at the next step boundary, then a stop for all. Repeats change nothing.
 */
export interface StopRequest {
  t: 'stop-request';
  rank: number;
  signal: string;
}

/** Worker → coordinator: a fatal error on the worker. */
export interface WorkerError {
  t: 'error';
  rank: number;
  message: string;
  /**
   * The ring neighbour the failure points at (its connection closed, failed, went silent or sent
   * garbage), if any: a neighbour SIGKILLed is often seen by the ring before its own exit is, and
   * the lost rank is this one, not the reporter.
   */
  peer?: number;
}

export type ToCoordinator = Hello | Ready | StepReport | Samples | EvalDone | CheckpointData | Heartbeat | StopRequest | WorkerError;
export type ToWorker = Welcome | Restore | Refuse | RunCommand | SampleRequest | EvalRequest | CheckpointRequest | Heartbeat | Stop;
export type Message = ToCoordinator | ToWorker;

type FieldType = 'number' | 'string' | 'boolean' | 'object' | 'string[]' | 'number?' | 'string?';

/** The fields each message must carry, with their types: anything else is malformed. */
const SCHEMA: Record<Message['t'], Record<string, FieldType>> = {
  hello: { protocol: 'number', rank: 'number', device: 'string', backend: 'string', version: 'string', configHash: 'string', config: 'object', dataEndpoint: 'string', host: 'string', pid: 'number', adapterName: 'string?', adapterVendor: 'string?', adapterType: 'string?', blas: 'string?' },
  welcome: { rank: 'number', world: 'number', runId: 'string', peers: 'string[]', hashEvery: 'number', restore: 'boolean' },
  restore: { files: 'string[]' },
  refuse: { reason: 'string' },
  ready: { rank: 'number', weightsHash: 'string' },
  run: { epoch: 'number', from: 'number', to: 'number', globalStep: 'number', hashLast: 'boolean' },
  report: { rank: 'number', epoch: 'number', step: 'number', ...reportWireSchema() },
  sample: { epoch: 'number', count: 'number' },
  samples: { epoch: 'number', count: 'number' },
  eval: { epoch: 'number', count: 'number' },
  'eval-done': { epoch: 'number', result: 'object', seconds: 'number' },
  checkpoint: { epoch: 'number', step: 'number', globalStep: 'number' },
  'checkpoint-data': { files: 'string[]', epoch: 'number', globalStep: 'number' },
  hb: {},
  stop: { reason: 'string' },
  'stop-request': { rank: 'number', signal: 'string' },
  error: { rank: 'number', message: 'string', peer: 'number?' },
};

function fieldOk(v: unknown, type: FieldType): boolean {
  switch (type) {
    case 'number':
      return typeof v === 'number'; // NaN/Infinity allowed: losses may be non-finite
    case 'number?':
      return v === undefined || typeof v === 'number';
    case 'string':
      return typeof v === 'string' && v.length < 65536;
    case 'string?':
      return v === undefined || (typeof v === 'string' && v.length < 65536);
    case 'boolean':
      return typeof v === 'boolean';
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'string[]':
      return Array.isArray(v) && v.length < 4096 && v.every((s) => typeof s === 'string' && s.length < 4096);
  }
}

/** Checks that `v` is a well-formed message; returns a reason when it is not. */
export function validateMessage(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not a map';
  const t = (v as { t?: unknown }).t;
  if (typeof t !== 'string' || !(t in SCHEMA)) return `unknown message type ${JSON.stringify(t)?.slice(0, 40)}`;
  for (const [field, type] of Object.entries(SCHEMA[t as Message['t']])) {
    if (!fieldOk((v as Record<string, unknown>)[field], type)) return `${t}: field '${field}' is missing or not a ${type}`;
  }
  return undefined;
}
