/**
 * One process of the all-reduce benchmark: either a rank of a ring all-reduce (the code workers
 * run, src/shared/allreduce/ring.ts) or one end of the loopback limit: a single ZeroMQ PUSH→PULL
 * stream carrying the same bytes in the same chunks, acknowledged by the receiver.
 *
 * Protocol with the parent (src/bench/allreduce.ts): the child prints `endpoint <tcp://…>`, reads
 * its peer's endpoint as one line on stdin, runs every size `warmup + repeats` times in order, and
 * prints `result <JSON number[][]>`: per size, the timed durations in ms. Errors: one line on
 * stderr, exit code 1.
 */
import { createInterface } from 'node:readline';
import { Pull, Push } from 'zeromq';
import { RingAllReduce, type Compression } from '../shared/allreduce/ring.js';

/** What the parent asks one child to do. */
export interface AllReduceChildArgs {
  role: 'ring' | 'sender' | 'receiver';
  /** Ring only: rank and world. */
  rank?: number;
  world?: number;
  /** Payload sizes in bytes (multiples of 4), run in this order. */
  sizes: number[];
  warmup: number;
  repeats: number;
  /** Largest message payload, bytes (the ring's default is 256 KiB). */
  chunkBytes: number;
  compression?: Compression;
  /** Longest wait for any one message, ms. */
  timeoutMs: number;
}

async function peerEndpoint(): Promise<string> {
  const lines = createInterface({ input: process.stdin });
  const line = await new Promise<string>((resolve) => lines.once('line', resolve));
  lines.close();
  return line.trim();
}

async function runRing(a: AllReduceChildArgs): Promise<number[][]> {
  const ring = await RingAllReduce.bind({ rank: a.rank!, world: a.world!, chunkBytes: a.chunkBytes, compression: a.compression ?? 'none', timeoutMs: a.timeoutMs });
  try {
    process.stdout.write(`endpoint ${ring.endpoint}\n`);
    await ring.connect(await peerEndpoint());
    const out: number[][] = [];
    for (const size of a.sizes) {
      const buf = new Float32Array(size / 4).map((_, i) => ((i * 7 + a.rank!) % 13) - 6);
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

/**
 * The loopback limit. Both ends bind a PULL and connect a PUSH to the other's: data flows sender →
 * receiver in chunks, one empty acknowledgement flows back once all bytes of a round arrived. The
 * sender times a round from its first send to the acknowledgement.
 */
async function runStream(a: AllReduceChildArgs): Promise<number[][]> {
  const pull = new Pull({ linger: 0, receiveHighWaterMark: 64 });
  const push = new Push({ linger: 0, sendHighWaterMark: 64, sendTimeout: a.timeoutMs });
  pull.receiveTimeout = a.timeoutMs;
  try {
    await pull.bind('tcp://127.0.0.1:*');
    process.stdout.write(`endpoint ${pull.lastEndpoint}\n`);
    push.connect(await peerEndpoint());
    const out: number[][] = [];
    for (const size of a.sizes) {
      const times: number[] = [];
      const chunks: Buffer[] = [];
      for (let off = 0; off < size; off += a.chunkBytes) chunks.push(Buffer.alloc(Math.min(a.chunkBytes, size - off), 1));
      for (let i = 0; i < a.warmup + a.repeats; i++) {
        if (a.role === 'sender') {
          const t0 = performance.now();
          // A copy per chunk, as the ring makes one per message it sends (encode()).
          for (const c of chunks) await push.send(Buffer.from(c));
          await pull.receive();
          if (i >= a.warmup) times.push(performance.now() - t0);
        } else {
          let got = 0;
          while (got < size) {
            const [frame] = await pull.receive();
            got += frame.length;
          }
          await push.send(Buffer.alloc(0));
        }
      }
      out.push(times);
    }
    return out;
  } finally {
    push.close();
    pull.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = JSON.parse(process.argv[2]) as AllReduceChildArgs;
  try {
    const result = args.role === 'ring' ? await runRing(args) : await runStream(args);
    process.stdout.write(`result ${JSON.stringify(result)}\n`);
  } catch (err) {
    process.stderr.write(`${args.role}${args.rank !== undefined ? ` ${args.rank}` : ''}: ${(err as Error).message.split('\n')[0]}\n`);
    process.exitCode = 1;
  }
}
