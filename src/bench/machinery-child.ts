/**
 * One rank of the machinery benchmark: the data-parallel step with the models' forward/backward
 * replaced by a synthetic one. Each half-step (D, then G) fills a gradient buffer of the real
 * model's size, spends half of `syntheticComputeMs` (a spin: a GPU-like step keeps the host
 * waiting, not idle), then does what a worker does after its backward pass (replica.ts): the ring
 * all-reduce of the buffer (src/shared/allreduce/ring.ts), the non-finite check and Adam over the
 * flat parameters (src/shared/optimizer.ts). World 1 has no sockets (the ring is the identity).
 *
 * Protocol with the parent (src/bench/machinery.ts): prints `endpoint <tcp://…>` (empty for world
 * 1), reads its right neighbour's endpoint as one line on stdin, runs `warmup + steps` steps, and
 * prints `result <JSON MachineryChildResult>`. Errors: one line on stderr, exit code 1.
 */
import { createInterface } from 'node:readline';
import { RingAllReduce } from '../shared/allreduce/ring.js';
import { Adam } from '../shared/optimizer.js';
import type { ModelSizes } from './model-sizes.js';

export interface MachineryChildArgs {
  rank: number;
  world: number;
  sizes: ModelSizes;
  warmup: number;
  steps: number;
  syntheticComputeMs: number;
  chunkBytes: number;
  timeoutMs: number;
}

/** Per timed step, ms: the whole step and its parts (both halves summed). */
export interface MachineryChildResult {
  stepMs: number[];
  computeMs: number[];
  reduceMs: number[];
  optimizerMs: number[];
  /** The all-reduce of D's and of G's buffer separately, per timed step. */
  reduceByNetMs: [number[], number[]];
}

function allFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

async function main(a: MachineryChildArgs): Promise<MachineryChildResult> {
  const ring = await RingAllReduce.bind({ rank: a.rank, world: a.world, chunkBytes: a.chunkBytes, timeoutMs: a.timeoutMs, secret: Buffer.from('machinery bench') });
  try {
    process.stdout.write(`endpoint ${ring.endpoint || '-'}\n`);
    const lines = createInterface({ input: process.stdin });
    const right = await new Promise<string>((resolve) => lines.once('line', resolve));
    lines.close();
    await ring.connect(right.trim());
    const adam = { lr: 2e-4, beta1: 0.5, beta2: 0.999 };
    const nets = [
      { params: new Float32Array(a.sizes.D).fill(0.01), trainable: a.sizes.D, grads: new Float32Array(a.sizes.D), adam: new Adam(a.sizes.D, adam) },
      { params: new Float32Array(a.sizes.G).fill(0.01), trainable: a.sizes.G, grads: new Float32Array(a.sizes.G + a.sizes.stats), adam: new Adam(a.sizes.G, adam) },
    ];
    const out: MachineryChildResult = { stepMs: [], computeMs: [], reduceMs: [], optimizerMs: [], reduceByNetMs: [[], []] };
    for (let s = 0; s < a.warmup + a.steps; s++) {
      let [compute, reduce, optimizer] = [0, 0, 0];
      const byNet = [0, 0];
      const t0 = performance.now();
      for (const [n, net] of nets.entries()) {
        const c0 = performance.now();
        net.grads.fill(1e-3 * (((s + a.rank) % 7) - 3));
        while (performance.now() - c0 < a.syntheticComputeMs / 2) {
          // spin: the host waits on the device
        }
        const r0 = performance.now();
        await ring.allReduceMean(net.grads);
        const o0 = performance.now();
        const g = net.grads.subarray(0, net.trainable);
        if (allFinite(net.grads)) net.adam.step(net.params, g);
        const o1 = performance.now();
        compute += r0 - c0;
        reduce += o0 - r0;
        byNet[n] = o0 - r0;
        optimizer += o1 - o0;
      }
      if (s < a.warmup) continue;
      out.stepMs.push(performance.now() - t0);
      out.computeMs.push(compute);
      out.reduceMs.push(reduce);
      out.optimizerMs.push(optimizer);
      out.reduceByNetMs[0].push(byNet[0]);
      out.reduceByNetMs[1].push(byNet[1]);
    }
    return out;
  } finally {
    ring.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = JSON.parse(process.argv[2]) as MachineryChildArgs;
  try {
    process.stdout.write(`result ${JSON.stringify(await main(args))}\n`);
  } catch (err) {
    process.stderr.write(`machinery rank ${args.rank}: ${(err as Error).message.split('\n')[0]}\n`);
    process.exitCode = 1;
  }
}
