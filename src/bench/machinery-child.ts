/**
 * One rank of the machinery benchmark: the data-parallel step with the models' forward/backward
 * replaced by a synthetic one. Each half-step (D, then G) fills a gradient buffer of the real
 * model's size, spends half of `syntheticComputeMs` (a spin: a GPU-like step keeps the host
 * waiting, not idle), then does what a worker does after its backward pass (replica.ts): the ring
 * sharded optimizer step (ZeRO stage 1): the ring's reduce-scatter, the non-finite check of the
 * owned segment, the verdict agreed by every rank, Adam in place on the segment this rank owns
 * (src/shared/optimizer.ts), the all-gather of the parameters. World 1 has no sockets (the ring is
 * the identity). The optimizer's time is the check's and Adam's; writing into tfjs variables is not
 * part of it (src/bench/optimizer-update.ts measures that).
 *
 * Protocol with the parent (src/bench/machinery.ts): prints `endpoint <tcp://…>` (empty for world
 * 1), reads every rank's endpoint (one line, space-separated) on stdin, runs `warmup + steps` steps, and
 * prints `result <JSON MachineryChildResult>`. Errors: one line on stderr, exit code 1.
 */
import { createInterface } from 'node:readline';
import { RingAllReduce } from '../shared/allreduce/ring.js';
import { Adam, allFinite } from '../shared/optimizer.js';
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
  /** Bytes of Adam state this rank holds after the steps (its segments' moments). */
  adamBytes: number;
}

async function main(a: MachineryChildArgs): Promise<MachineryChildResult> {
  // The workers' default data plane: shared memory between ranks of this host (host-transport.ts).
  const ring = await RingAllReduce.bind({ rank: a.rank, world: a.world, chunkBytes: a.chunkBytes, timeoutMs: a.timeoutMs, secret: Buffer.from('machinery bench'), shm: true, hierarchical: true });
  try {
    process.stdout.write(`endpoint ${ring.endpoint || '-'}\n`);
    const lines = createInterface({ input: process.stdin });
    // Every rank's endpoint, space-separated, in rank order.
    const peers = await new Promise<string>((resolve) => lines.once('line', resolve));
    lines.close();
    await ring.connect(peers.trim().split(/\s+/));
    const adam = { lr: 2e-4, beta1: 0.5, beta2: 0.999 };
    // Two buffers per network, as replica.ts: the gathered buffer becomes the parameters and the
    // old parameters' buffer the next step's gradients (replica.ts gets a fresh one from flatten).
    const nets = [[a.sizes.D, a.sizes.D], [a.sizes.G, a.sizes.G + a.sizes.stats]].map(([trainable, length]) => {
      const [lo, end] = ring.ownedRange(length);
      const hi = Math.min(end, trainable);
      return { trainable, lo, hi, params: new Float32Array(length).fill(0.01), grads: new Float32Array(length), adam: new Adam(hi - lo, adam) };
    });
    const out: MachineryChildResult = { stepMs: [], computeMs: [], reduceMs: [], optimizerMs: [], reduceByNetMs: [[], []], adamBytes: 0 };
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
        let updateMs = 0;
        const buf = net.grads;
        // As replica.ts: each reduced piece checked, the verdict agreed, then Adam in place piece by piece.
        const timed = <T>(f: () => T): T => {
          const u0 = performance.now();
          const r = f();
          updateMs += performance.now() - u0;
          return r;
        };
        const ok = await ring.reduceUpdateGather(buf, {
          check: (lo, hi) => timed(() => allFinite(buf.subarray(lo, Math.min(hi, net.hi)))),
          update: (lo, hi) => timed(() => {
            const top = Math.min(hi, net.hi);
            if (top > lo) net.adam.stepPiece(net.params.subarray(lo, top), buf.subarray(lo, top), buf.subarray(lo, top), lo - net.lo);
          }),
        });
        const o0 = performance.now();
        if (ok) {
          net.adam.endStep();
          [net.params, net.grads] = [buf, net.params];
        }
        const o1 = performance.now();
        compute += r0 - c0;
        reduce += o0 - r0 - updateMs;
        byNet[n] = o0 - r0 - updateMs;
        optimizer += updateMs + (o1 - o0);
      }
      if (s < a.warmup) continue;
      out.stepMs.push(performance.now() - t0);
      out.computeMs.push(compute);
      out.reduceMs.push(reduce);
      out.optimizerMs.push(optimizer);
      out.reduceByNetMs[0].push(byNet[0]);
      out.reduceByNetMs[1].push(byNet[1]);
    }
    out.adamBytes = nets.reduce((sum, net) => sum + net.adam.stateBytes, 0);
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
