/**
 * One process of the all-reduce benchmark: a rank of a ring all-reduce (the code workers run,
 * src/shared/allreduce/ring.ts) over the transport asked for.
 *
 * Protocol with the parent (src/bench/allreduce.ts): the child prints `endpoint <tcp://…>`, reads
 * every rank's endpoint (one line, space-separated) on stdin, runs every size `warmup + repeats` times in order, and
 * prints `result <JSON number[][]>`: per size, the timed durations in ms. Errors: one line on
 * stderr, exit code 1.
 */
import { createInterface } from 'node:readline';
import { RingAllReduce, type Compression } from '../shared/allreduce/ring.js';
import type { BenchPlane } from './allreduce.js';

/** What the parent asks one child to do. */
export interface AllReduceChildArgs {
  rank: number;
  world: number;
  /** Payload sizes in bytes (multiples of 4), run in this order. */
  sizes: number[];
  warmup: number;
  repeats: number;
  /** Largest message payload, bytes. */
  chunkBytes: number;
  compression?: Compression;
  /** The wire under the ring: 'auto' is the workers' default (shared memory inside a host, TCP between hosts, hierarchical where the hosts allow). */
  transport: BenchPlane;
  /** Longest wait for any one message, ms. */
  timeoutMs: number;
  /** Address the ring listens on (a virtual host's, src/bench/netns.ts). Default 127.0.0.1. */
  bindHost?: string;
}

/** Every rank's endpoint, in rank order: one line, space-separated. */
async function peerEndpoints(): Promise<string[]> {
  const lines = createInterface({ input: process.stdin });
  const line = await new Promise<string>((resolve) => lines.once('line', resolve));
  lines.close();
  return line.trim().split(/\s+/);
}

async function runRing(a: AllReduceChildArgs): Promise<number[][]> {
  const ring = await RingAllReduce.bind({ rank: a.rank, world: a.world, chunkBytes: a.chunkBytes, compression: a.compression ?? 'none', timeoutMs: a.timeoutMs, transport: a.transport === 'auto' ? 'tcp' : a.transport, shm: a.transport === 'auto', hierarchical: a.transport === 'auto', bindHost: a.bindHost });
  try {
    process.stdout.write(`endpoint ${ring.endpoint}\n`);
    await ring.connect(await peerEndpoints());
    const out: number[][] = [];
    for (const size of a.sizes) {
      const buf = new Float32Array(size / 4).map((_, i) => ((i * 7 + a.rank) % 13) - 6);
      const times: number[] = [];
      for (let i = 0; i < a.warmup + a.repeats; i++) {
        const t0 = performance.now();
        await ring.allReduceMean(buf);
        if (i >= a.warmup) times.push(performance.now() - t0);
      }
      out.push(times);
    }
    return out;
  } finally {
    ring.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = JSON.parse(process.argv[2]) as AllReduceChildArgs;
  try {
    const result = await runRing(args);
    process.stdout.write(`result ${JSON.stringify(result)}\n`);
  } catch (err) {
    process.stderr.write(`ring rank ${args.rank}: ${(err as Error).message.split('\n')[0]}\n`);
    process.exitCode = 1;
  }
}
