/**
 * The link limit, measured in the same bench run as the all-reduce: a plain TCP stream between two
 * processes (src/bench/link-child.ts), one way and both ways at once.
 *
 * The 2-rank bound of an all-reduce of L bytes: each rank sends L/2 in the reduce-scatter and L/2
 * in the all-gather while receiving as much, so L bytes cross each direction, both directions busy
 * at once: the both-ways time of L bytes. For N ranks a ring moves 2(N−1)/N·L per direction, so
 * the bound is that many bytes at the both-ways rate.
 */
import { startChild } from './child.js';
import type { LinkChildArgs, LinkChildResult } from './link-child.js';
import { mapSummary, summarize, type Summary } from './stats.js';

/** One payload's figures. Times in ms, rates in GB/s (1e9 bytes) per direction. */
export interface LinkRow {
  bytes: number;
  oneWayMs: Summary;
  oneWayGBs: Summary;
  bothWaysMs: Summary;
  bothWaysGBs: Summary;
}

/** Where a process runs: a virtual host's namespace and address (src/bench/netns.ts). */
export interface Placement {
  ns: string;
  addr: string;
}

/** The stream between two processes, on loopback or, with `hosts`, between two virtual hosts. */
export async function measureLink(sizes: number[], warmup: number, repeats: number, timeoutMs: number, hosts?: [Placement, Placement]): Promise<LinkRow[]> {
  const deadline = 60_000 + sizes.length * 2 * (warmup + repeats) * timeoutMs;
  const children = (['a', 'b'] as const).map((role, i) =>
    startChild('link-child.ts', { role, sizes, warmup, repeats, timeoutMs, bindHost: hosts?.[i].addr } satisfies LinkChildArgs, deadline, {}, hosts?.[i].ns),
  );
  try {
    const eps = await Promise.all(children.map((c) => c.endpoint));
    if (eps.some((e) => !e)) await Promise.all(children.map((c) => c.result)); // surfaces the child's error
    children.forEach((c, i) => c.tell(eps[1 - i]));
    const [a] = (await Promise.all(children.map((c) => c.result))) as LinkChildResult[];
    return sizes.map((bytes, i) => {
      const oneWayMs = summarize(a.oneWay[i]);
      const bothWaysMs = summarize(a.bothWays[i]);
      const rate = (ms: number) => bytes / (ms * 1e6);
      return { bytes, oneWayMs, oneWayGBs: mapSummary(oneWayMs, rate), bothWaysMs, bothWaysGBs: mapSummary(bothWaysMs, rate) };
    });
  } finally {
    children.forEach((c) => c.kill());
  }
}
