/**
 * All-reduce on loopback, N processes (the ring the workers run, over each transport), against the link
 * limit measured in the same run: a plain TCP stream between two processes (link.ts), and, when
 * PyTorch is installed, gloo's all-reduce of the same sizes (peer.ts).
 *
 * busbw (as nccl-tests define it) = bytes · 2(N−1)/N / time: the rate each rank's link actually
 * carried. The TCP bound of an N-rank all-reduce of L bytes = 2(N−1)/N · L at the both-ways rate
 * (each rank sends and receives that much at once); `ratioToTcp` = bound / time, both medians
 * (100% = the ring runs at the link's limit).
 */
import { startChild, type BenchChild } from './child.js';
import type { AllReduceChildArgs } from './allreduce-child.js';
import type { RingTransportKind } from '../shared/allreduce/ring.js';

/**
 * A data plane the bench measures: a ring transport, or 'auto' (what workers run by default: shared
 * memory between ranks of one host, TCP between hosts, hierarchical.ts where the hosts allow).
 */
export type BenchPlane = RingTransportKind | 'auto';
import { measureLink, type LinkRow, type Placement } from './link.js';
import { runGloo, type GlooResult } from './peer.js';
import { mapSummary, summarize, type Summary } from './stats.js';

/** What to measure. */
export interface AllReduceBenchArgs {
  /** Process counts (each ≥ 2). */
  worlds: number[];
  /** Payload sizes in bytes (multiples of 4). */
  sizes: number[];
  warmup: number;
  repeats: number;
  /** Largest message payload, bytes. */
  chunkBytes: number;
  /** Longest wait for one message inside a child, and (×repeats) for a whole child, ms. */
  timeoutMs: number;
  /** Process counts to run gloo at (none: skip gloo). */
  glooWorlds: number[];
  /** The ring's transports to measure. */
  transports: BenchPlane[];
}

/** One (N, payload) figure. Times in ms, rates in GB/s (1e9 bytes). */
export interface AllReduceRow {
  world: number;
  bytes: number;
  transport: BenchPlane;
  algorithm: string;
  timeMs: Summary;
  busbwGBs: Summary;
  /** 2(N−1)/N · bytes at the both-ways TCP rate of this payload, ms. */
  tcpBoundMs: number;
  /** tcpBoundMs / median time. */
  ratioToTcp: number;
  /** gloo's median time at the same N and payload, ms, when measured. */
  glooMs?: number;
  /**
   * 2(N−1)/N · bytes at the rate one process copies memory (TypedArray.set, measured in the same
   * run), ms: what a rank of a shared-memory ring must at least copy, the physical limit of that path.
   */
  copyBoundMs: number;
}

/** Wires children in a ring (each child's peer is the next one's endpoint) and collects results. */
async function runRing(children: BenchChild[]): Promise<number[][][]> {
  try {
    const eps = await Promise.all(children.map((c) => c.endpoint));
    if (eps.some((e) => !e)) await Promise.all(children.map((c) => c.result)); // surfaces the child's error
    children.forEach((c) => c.tell(eps.join(' ')));
    return (await Promise.all(children.map((c) => c.result))) as number[][][];
  } finally {
    children.forEach((c) => c.kill());
  }
}

function childDeadline(a: AllReduceBenchArgs): number {
  return 60_000 + a.sizes.length * (a.warmup + a.repeats) * a.timeoutMs;
}

/** Per payload, the ring's times over `world` ranks: on loopback, or rank r on `hosts[r]`. */
export async function measureRing(a: AllReduceBenchArgs, world: number, transport: BenchPlane, hosts?: Placement[]): Promise<Summary[]> {
  const children = Array.from({ length: world }, (_, rank) =>
    startChild(
      'allreduce-child.ts',
      { rank, world, sizes: a.sizes, warmup: a.warmup, repeats: a.repeats, chunkBytes: a.chunkBytes, timeoutMs: a.timeoutMs, transport, bindHost: hosts?.[rank].addr } satisfies AllReduceChildArgs,
      childDeadline(a), {}, hosts?.[rank].ns,
    ),
  );
  const perRank = await runRing(children);
  // An iteration lasts as long as its slowest rank.
  return a.sizes.map((_, i) => summarize(perRank[0][i].map((_, j) => Math.max(...perRank.map((r) => r[i][j])))));
}

/** One process copying `bytes` between two of its buffers (TypedArray.set), ms per copy. */
export function measureCopy(bytes: number, warmup: number, repeats: number): Summary {
  const src = new Uint8Array(bytes).fill(7);
  const dst = new Uint8Array(bytes);
  const times: number[] = [];
  for (let i = 0; i < warmup + Math.max(repeats, 5); i++) {
    const t0 = performance.now();
    dst.set(src);
    if (i >= warmup) times.push(performance.now() - t0);
  }
  return summarize(times);
}

/** busbw, GB/s, of an all-reduce of `bytes` over `world` ranks taking `times` ms (nccl-tests' definition, above). */
export function busbw(times: Summary, bytes: number, world: number): Summary {
  return mapSummary(times, (ms) => (bytes * (2 * (world - 1)) / world) / (ms * 1e6));
}

/** Both-ways time at `bytes`, ms, read off the link rows (same sizes) for N ranks. */
export function tcpBoundMs(link: LinkRow, world: number): number {
  return ((2 * (world - 1)) / world) * link.bytes / (link.bothWaysGBs.median * 1e6);
}

/**
 * The TCP link first and last (the limit is the median over both, so drift during the run is
 * shared), rings of each N in between, then gloo.
 */
export async function allReduceBench(a: AllReduceBenchArgs, log: (line: string) => void): Promise<{ link: LinkRow[]; rows: AllReduceRow[]; gloo: GlooResult }> {
  log('all-reduce: link limit (plain TCP, 2 processes, one way and both ways)');
  const first = await measureLink(a.sizes, a.warmup, a.repeats, a.timeoutMs);
  const rings: { world: number; transport: BenchPlane; times: Summary[] }[] = [];
  for (const world of a.worlds) {
    for (const transport of a.transports) {
      log(`all-reduce: ring over ${transport}, ${world} processes`);
      rings.push({ world, transport, times: await measureRing(a, world, transport) });
    }
  }
  log('all-reduce: link limit again');
  const last = await measureLink(a.sizes, a.warmup, a.repeats, a.timeoutMs);
  const both = (f: Summary, l: Summary) => summarize([f.median, l.median, f.min, l.min, f.max, l.max]);
  const link: LinkRow[] = first.map((f, i) => {
    const oneWayMs = both(f.oneWayMs, last[i].oneWayMs);
    const bothWaysMs = both(f.bothWaysMs, last[i].bothWaysMs);
    const rate = (ms: number) => f.bytes / (ms * 1e6);
    return { bytes: f.bytes, oneWayMs, oneWayGBs: mapSummary(oneWayMs, rate), bothWaysMs, bothWaysGBs: mapSummary(bothWaysMs, rate) };
  });
  let gloo: GlooResult = { available: false, reason: 'not asked for' };
  if (a.glooWorlds.length > 0) {
    log(`all-reduce: gloo (PyTorch), ${a.glooWorlds.join(', ')} processes`);
    gloo = await runGloo(a.glooWorlds, a.sizes, a.warmup, a.repeats, a.timeoutMs);
  }
  const copyMs = a.sizes.map((bytes) => measureCopy(bytes, a.warmup, a.repeats).median);
  const rows: AllReduceRow[] = [];
  for (const { world, transport, times } of rings) {
    a.sizes.forEach((bytes, i) => {
      const busbwGBs = busbw(times[i], bytes, world);
      const bound = tcpBoundMs(link[i], world);
      const glooMs = gloo.available ? gloo.rows.find((g) => g.world === world && g.bytes === bytes)?.timeMs.median : undefined;
      const copyBoundMs = ((2 * (world - 1)) / world) * copyMs[i];
      rows.push({ world, bytes, transport, algorithm: `ring over ${transport} (chunked, pipelined)`, timeMs: times[i], busbwGBs, tcpBoundMs: bound, ratioToTcp: bound / times[i].median, glooMs, copyBoundMs });
    });
  }
  return { link, rows, gloo };
}
