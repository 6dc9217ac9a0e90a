/**
 * All-reduce over ZeroMQ on loopback, N processes, against the loopback limit measured in the
 * same run: one PUSH→PULL stream of the same bytes between two processes.
 *
 * busbw (as nccl-tests define it) = bytes · 2(N−1)/N / time: the rate each rank's link actually
 * carried. `ratioToLoopback` = busbw / (bytes / loopback time), both medians.
 */
import { startChild, type BenchChild } from './child.js';
import type { AllReduceChildArgs } from './allreduce-child.js';
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
}

/** One (N, payload) figure. Times in ms, rates in GB/s (1e9 bytes). */
export interface AllReduceRow {
  world: number;
  bytes: number;
  algorithm: string;
  timeMs: Summary;
  busbwGBs: Summary;
  loopbackGBs: number;
  ratioToLoopback: number;
}

/** The loopback stream's rate per payload size. */
export interface LoopbackRow {
  bytes: number;
  timeMs: Summary;
  GBs: Summary;
}

/** Wires children in a ring (each child's peer is the next one's endpoint) and collects results. */
async function runRing(children: BenchChild[]): Promise<number[][][]> {
  try {
    const eps = await Promise.all(children.map((c) => c.endpoint));
    if (eps.some((e) => !e)) await Promise.all(children.map((c) => c.result)); // surfaces the child's error
    children.forEach((c, i) => c.tell(eps[(i + 1) % children.length]));
    return (await Promise.all(children.map((c) => c.result))) as number[][][];
  } finally {
    children.forEach((c) => c.kill());
  }
}

function childDeadline(a: AllReduceBenchArgs): number {
  return 60_000 + a.sizes.length * (a.warmup + a.repeats) * a.timeoutMs;
}

export async function measureLoopback(a: AllReduceBenchArgs): Promise<LoopbackRow[]> {
  const base: Omit<AllReduceChildArgs, 'role'> = { sizes: a.sizes, warmup: a.warmup, repeats: a.repeats, chunkBytes: a.chunkBytes, timeoutMs: a.timeoutMs };
  const [sender, receiver] = (['sender', 'receiver'] as const).map((role) => startChild('allreduce-child.ts', { ...base, role }, childDeadline(a)));
  const [times] = await runRing([sender, receiver]);
  return a.sizes.map((bytes, i) => {
    const timeMs = summarize(times[i]);
    return { bytes, timeMs, GBs: mapSummary(timeMs, (ms) => bytes / (ms * 1e6)) };
  });
}

export async function measureRing(a: AllReduceBenchArgs, world: number): Promise<Summary[]> {
  const children = Array.from({ length: world }, (_, rank) =>
    startChild('allreduce-child.ts', { role: 'ring', rank, world, sizes: a.sizes, warmup: a.warmup, repeats: a.repeats, chunkBytes: a.chunkBytes, timeoutMs: a.timeoutMs } satisfies AllReduceChildArgs, childDeadline(a)),
  );
  const perRank = await runRing(children);
  // An iteration lasts as long as its slowest rank.
  return a.sizes.map((_, i) => summarize(perRank[0][i].map((_, j) => Math.max(...perRank.map((r) => r[i][j])))));
}

/**
 * Loopback first and last (the limit is the median over both, so drift during the run is shared),
 * rings of each N in between.
 */
export async function allReduceBench(a: AllReduceBenchArgs, log: (line: string) => void): Promise<{ loopback: LoopbackRow[]; rows: AllReduceRow[] }> {
  log('all-reduce: loopback limit (PUSH→PULL, 2 processes)');
  const first = await measureLoopback(a);
  const rings: { world: number; times: Summary[] }[] = [];
  for (const world of a.worlds) {
    log(`all-reduce: ring, ${world} processes`);
    rings.push({ world, times: await measureRing(a, world) });
  }
  log('all-reduce: loopback limit again');
  const last = await measureLoopback(a);
  const loopback = first.map((f, i) => {
    const timeMs = summarize([f.timeMs.median, last[i].timeMs.median, f.timeMs.min, last[i].timeMs.min, f.timeMs.max, last[i].timeMs.max]);
    return { bytes: f.bytes, timeMs, GBs: mapSummary(timeMs, (ms) => f.bytes / (ms * 1e6)) };
  });
  const rows: AllReduceRow[] = [];
  for (const { world, times } of rings) {
    a.sizes.forEach((bytes, i) => {
      const busbwGBs = mapSummary(times[i], (ms) => (bytes * (2 * (world - 1)) / world) / (ms * 1e6));
      rows.push({ world, bytes, algorithm: 'ring (chunked, pipelined)', timeMs: times[i], busbwGBs, loopbackGBs: loopback[i].GBs.median, ratioToLoopback: busbwGBs.median / loopback[i].GBs.median });
    });
  }
  return { loopback, rows };
}
