/**
 * One end of the link limit: a plain TCP stream (node:net, no ZeroMQ, no framing, no copies in
 * JavaScript) between two processes on this host, the bound any all-reduce over this link has to
 * live with.
 *
 * Layout, as the ring's: each process listens, connects to the other's listener and reads only on
 * the connection it made (into one reused buffer, `onread`), and writes only on the connection it
 * accepted. So there is one TCP connection per direction, as between two ring neighbours.
 *
 * A round, timed by role 'a':
 *   one way    a writes `size` bytes; b, once it has read them all, writes 1 byte back; a stops
 *              the clock when that byte arrives.
 *   both ways  a writes `size` bytes; b starts writing its `size` bytes as soon as a's first bytes
 *              arrive and, once it has read all of a's, writes 1 more byte; a stops the clock when
 *              it has read b's `size` + 1 bytes. Both directions are busy at once for the round.
 *
 * Protocol with the parent (src/bench/link.ts): prints `endpoint <host:port>`, reads the peer's
 * as one line on stdin, prints `result <JSON {oneWay: number[][], bothWays: number[][]}>` (per
 * size, the timed rounds in ms; role 'a' only, 'b' prints empty lists). Errors: one line on
 * stderr, exit code 1. Every wait is bounded by `timeoutMs`.
 */
import { createServer, connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';

export interface LinkChildArgs {
  role: 'a' | 'b';
  /** Payload sizes in bytes, run in this order. */
  sizes: number[];
  warmup: number;
  repeats: number;
  /** Longest wait for one round, ms. */
  timeoutMs: number;
  /** Address to listen on (a virtual host's, src/bench/netns.ts). Default 127.0.0.1. */
  bindHost?: string;
}

export interface LinkChildResult {
  oneWay: number[][];
  bothWays: number[][];
}

async function peerLine(): Promise<string> {
  const lines = createInterface({ input: process.stdin });
  const line = await new Promise<string>((resolve) => lines.once('line', resolve));
  lines.close();
  return line.trim();
}

/** Counts bytes arriving on the connection this process made; `until(n)` resolves once n more have come. */
class Reader {
  private got = 0;
  private target = Infinity;
  private done?: () => void;
  private firstSeen?: () => void;
  constructor(readonly socket: Socket) {}
  onBytes(n: number): void {
    this.got += n;
    this.firstSeen?.();
    this.firstSeen = undefined;
    if (this.got >= this.target) {
      const d = this.done;
      this.done = undefined;
      this.target = Infinity;
      d?.();
    }
  }
  /** Resolves when `n` bytes (counted from the last call's end) have arrived. */
  until(n: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`link: fewer than ${n} bytes arrived within ${timeoutMs} ms`)), timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.got -= n;
        resolve();
      };
      if (this.got >= n) return finish();
      this.target = n;
      this.done = finish;
    });
  }
  /** Resolves when any byte arrives (or at once if some are already counted). */
  first(timeoutMs: number): Promise<void> {
    if (this.got > 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`link: nothing arrived within ${timeoutMs} ms`)), timeoutMs);
      this.firstSeen = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

export async function runLink(a: LinkChildArgs): Promise<LinkChildResult> {
  let accepted: Socket | undefined;
  let gotAccepted: (s: Socket) => void = () => undefined;
  const acceptedP = new Promise<Socket>((resolve) => (gotAccepted = resolve));
  const server = createServer({ noDelay: true }, (s) => {
    accepted = s;
    gotAccepted(s);
  });
  const scratch = Buffer.allocUnsafe(1 << 20);
  let reader: Reader | undefined;
  try {
    const bindHost = a.bindHost ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, bindHost, resolve));
    const addr = server.address();
    if (!addr || typeof addr === 'string') throw new Error('link: no listening address');
    process.stdout.write(`endpoint ${bindHost}:${addr.port}\n`);
    const [host, port] = (await peerLine()).split(':');
    const out = connect({ host, port: Number(port), noDelay: true, onread: { buffer: scratch, callback: (n) => (reader!.onBytes(n), true) } });
    reader = new Reader(out);
    await new Promise<void>((resolve, reject) => out.once('error', reject).once('connect', resolve));
    const send = await Promise.race([acceptedP, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('link: the peer did not connect')), a.timeoutMs))]);
    const write = (b: Buffer) => new Promise<void>((resolve, reject) => send.write(b, (e) => (e ? reject(e) : resolve())));
    const one = Buffer.alloc(1, 1);
    const result: LinkChildResult = { oneWay: [], bothWays: [] };
    for (const size of a.sizes) {
      const data = Buffer.alloc(size, 7);
      for (const mode of ['oneWay', 'bothWays'] as const) {
        const times: number[] = [];
        for (let i = 0; i < a.warmup + a.repeats; i++) {
          if (a.role === 'a') {
            const t0 = performance.now();
            void write(data);
            await reader.until(mode === 'oneWay' ? 1 : size + 1, a.timeoutMs);
            if (i >= a.warmup) times.push(performance.now() - t0);
          } else if (mode === 'oneWay') {
            await reader.until(size, a.timeoutMs);
            await write(one);
          } else {
            await reader.first(a.timeoutMs);
            const mine = write(data);
            await reader.until(size, a.timeoutMs);
            await mine;
            await write(one);
          }
        }
        result[mode].push(times);
      }
    }
    out.destroy();
    return result;
  } finally {
    accepted?.destroy();
    server.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = JSON.parse(process.argv[2]) as LinkChildArgs;
  try {
    const result = await runLink(args);
    process.stdout.write(`result ${JSON.stringify(result)}\n`);
    process.exit(0);
  } catch (err) {
    process.stderr.write(`link ${args.role}: ${(err as Error).message.split('\n')[0]}\n`);
    process.exit(1);
  }
}
