/**
 * One compute measurement in a fresh process (so backends and memory never mix between figures):
 * the plain-matmul rate of a backend, then training steps of one model on one replica, then the
 * matmul rate again. Both rates and the steps come from the same process, minutes apart at most.
 *
 * argv: one JSON `ComputeChildArgs`. stdout: one line `result <JSON ComputeChildResult>`.
 * Exit code 2 with one line on stderr when the backend cannot be loaded here.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendUnavailableError, selectBackend, type BackendName } from '../shared/backend/select.js';
import { wasmBlas } from '../shared/backend/wasm-kernels.js';
import type { ModelName } from '../shared/models/index.js';
import { Replica } from '../shared/replica.js';
import { Rng } from '../shared/rng.js';
import { profileSteps, type ProfileCategory } from './cpu-profile.js';
import { stepFlops } from './flops.js';

/** A backend of the compute section: a product backend, or `wasm+blas` (wasm on the system's OpenBLAS). */
export type ComputeBackend = Exclude<BackendName, 'auto'> | 'wasm+blas';

/** What the parent asks for. */
export interface ComputeChildArgs {
  backend: ComputeBackend;
  model: ModelName;
  /** Images per step (one replica). */
  batch: number;
  /** Untimed steps first (kernel set-up, allocator warm-up). */
  warmup: number;
  /** Timed steps. */
  repeats: number;
  /** Timed plain matmuls before and after the steps (each side). */
  matmulRepeats: number;
  /** Plain matmul shape [m, k] × [k, n]. */
  matmul: [number, number, number];
  /** Steps run under the CPU profiler after the timed ones (0: none). */
  profileSteps?: number;
}

/** What one child measured. Times in ms. */
export interface ComputeChildResult {
  backend: string;
  model: string;
  batch: number;
  stepFlops: number;
  /** wasm+blas: OpenBLAS' threads per product in this process. */
  blasThreads?: number;
  /** Per timed step: wall time and the replica's own split. */
  steps: { ms: number; computeMs: number; flattenMs: number; optimizerMs: number }[];
  /** GFLOP/s of each timed plain matmul. */
  matmulGflops: number[];
  /** CPU ms per profiled step by category (cpu-profile.ts), when asked for. */
  profile?: Record<ProfileCategory, number>;
  /** Live tensors and backend bytes after the warm-up and after the last step (leak watch). */
  tensors: { before: number; after: number };
  bytes: { before: number; after: number };
}

function timeMatmul(m: number, k: number, n: number, repeats: number): number[] {
  const a = tf.randomUniform([m, k], -1, 1, 'float32', 1);
  const b = tf.randomUniform([k, n], -1, 1, 'float32', 2);
  const rates: number[] = [];
  try {
    for (let i = 0; i < repeats + 1; i++) {
      const t0 = performance.now();
      const c = tf.matMul(a, b);
      c.dataSync(); // waits for the result on asynchronous backends
      const ms = performance.now() - t0;
      c.dispose();
      if (i > 0) rates.push((2 * m * k * n) / (ms * 1e6)); // the first call sets up the kernel
    }
  } finally {
    tf.dispose([a, b]);
  }
  return rates;
}

export async function runComputeChild(args: ComputeChildArgs): Promise<ComputeChildResult> {
  // `wasm` is the plain wasm kernels; `wasm+blas` the same backend with OpenBLAS under them.
  const blasRow = args.backend === 'wasm+blas';
  const backend: BackendName = args.backend === 'wasm+blas' ? 'wasm' : args.backend;
  const choice = await selectBackend(backend, { blas: blasRow ? 'auto' : 'off' });
  if (blasRow && !choice.blas?.active) throw new BackendUnavailableError(choice.blas?.reason ?? 'OpenBLAS did not load');
  const [m, k, n] = args.matmul;
  const matmulGflops = timeMatmul(m, k, n, args.matmulRepeats);
  const replica = new Replica({ model: args.model, latent: 100, seed: 1, adam: { lr: 2e-4, beta1: 0.5, beta2: 0.999 } });
  const imageSize = replica.gan.imageShape.reduce((p, x) => p * x, 1);
  // Synthetic real images in [-1, 1]: the arithmetic does not depend on the pixel values.
  const rng = Rng.stream(1, 'test');
  const real = new Float32Array(args.batch * imageSize).map(() => 2 * rng.uniform() - 1);
  const steps: ComputeChildResult['steps'] = [];
  let before = { numTensors: 0, numBytes: 0 };
  for (let i = 0; i < args.warmup + args.repeats; i++) {
    if (i === args.warmup) before = tf.memory();
    const t0 = performance.now();
    const s = await replica.trainStep(real, args.batch, { epoch: 0, step: i, rank: 0, world: 1 });
    const ms = performance.now() - t0;
    if (i >= args.warmup) steps.push({ ms, computeMs: s.timings.discriminator + s.timings.generator, flattenMs: s.timings.flatten, optimizerMs: s.timings.optimizer });
  }
  const after = tf.memory();
  const first = args.warmup + args.repeats;
  const profile = args.profileSteps ? await profileSteps(args.profileSteps, async (i) => void (await replica.trainStep(real, args.batch, { epoch: 0, step: first + i, rank: 0, world: 1 }))) : undefined;
  matmulGflops.push(...timeMatmul(m, k, n, args.matmulRepeats));
  return {
    backend: args.backend,
    model: args.model,
    batch: args.batch,
    stepFlops: stepFlops(replica.gan, args.batch).total,
    ...(blasRow ? { blasThreads: wasmBlas()?.info.threads } : {}),
    steps,
    matmulGflops,
    ...(profile ? { profile } : {}),
    tensors: { before: before.numTensors, after: after.numTensors },
    bytes: { before: before.numBytes, after: after.numBytes },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    const result = await runComputeChild(JSON.parse(process.argv[2]) as ComputeChildArgs);
    process.stdout.write(`result ${JSON.stringify(result)}\n`);
  } catch (err) {
    process.stderr.write(`${(err as Error).message.split('\n')[0]}\n`);
    process.exitCode = err instanceof BackendUnavailableError ? 2 : 1;
  }
}
