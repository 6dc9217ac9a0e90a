/**
 * A cost model of a data-parallel step, fitted to this run's measurements, and its projection to
 * larger clusters.
 *
 *   all-reduce(N, L) = 2(N−1)·α + (2(N−1)/N)·L / B          (ring: 2(N−1) steps of L/N bytes)
 *   step(N)          = T_compute + c + Σ over D and G of all-reduce(N, L_net)
 *
 * α (s per ring step: message latency and per-message software cost) and B (bytes/s per link) are
 * fitted by least squares either to the all-reduce section (N = 2…4, every payload; c = what the
 * 2-worker cluster run spent outside compute, optimizer and all-reduce: data, the coordinator's
 * round trip, metrics, flatten) or to the machinery section (each step's D and G all-reduce times
 * at N = 2…4 for both models' sizes; c = the machinery step's rest at N = 2, without the
 * coordinator, which that section leaves out). The projection keeps α and c (software costs that a
 * GPU host pays too) and replaces B by the link's bandwidth, and assumes weak scaling: every GPU
 * keeps its own batch and its step time T_gpu, so efficiency(N) = T_gpu / step(N). Communication
 * is not overlapped with compute in this trainer (the D step's update must land before the G step),
 * so the model adds them.
 */

/** The fitted parameters. */
export interface CostModel {
  /** Seconds per ring step (latency + per-message cost). */
  alphaSec: number;
  /** Link bandwidth in bytes/s. */
  bandwidthBytesPerSec: number;
  /** Per-step fixed overhead outside compute, optimizer and all-reduce, seconds. */
  fixedSec: number;
}

/**
 * One all-reduce measurement, or the sum of `collectives` of them (a step's D and G all-reduces:
 * bytes is then their total, seconds their total time).
 */
export interface AllReducePoint {
  world: number;
  bytes: number;
  seconds: number;
  /** All-reduces in the measurement. Default 1. */
  collectives?: number;
}

/** Seconds of one ring all-reduce of `bytes` over `world` ranks under `m` (bandwidth override optional). */
export function allReduceSeconds(m: Pick<CostModel, 'alphaSec' | 'bandwidthBytesPerSec'>, world: number, bytes: number): number {
  if (world < 2) return 0;
  return 2 * (world - 1) * m.alphaSec + ((2 * (world - 1)) / world) * (bytes / m.bandwidthBytesPerSec);
}

/**
 * Least-squares fit of α ≥ 0 and 1/B > 0 to the points (no intercept: a ring of one rank costs 0).
 * Throws when the points cannot determine a positive bandwidth.
 */
export function fitAllReduce(points: readonly AllReducePoint[]): Pick<CostModel, 'alphaSec' | 'bandwidthBytesPerSec'> {
  if (points.length < 2) throw new RangeError('fitAllReduce: need at least two measurements');
  const rows = points.map((p) => ({ x1: (p.collectives ?? 1) * 2 * (p.world - 1), x2: ((2 * (p.world - 1)) / p.world) * p.bytes, y: p.seconds }));
  let [s11, s12, s22, s1y, s2y] = [0, 0, 0, 0, 0];
  for (const r of rows) {
    s11 += r.x1 * r.x1;
    s12 += r.x1 * r.x2;
    s22 += r.x2 * r.x2;
    s1y += r.x1 * r.y;
    s2y += r.x2 * r.y;
  }
  const det = s11 * s22 - s12 * s12;
  let alpha = det !== 0 ? (s22 * s1y - s12 * s2y) / det : 0;
  let inv = det !== 0 ? (s11 * s2y - s12 * s1y) / det : s2y / s22;
  if (alpha < 0) {
    // A negative latency fits noise; refit with bandwidth alone.
    alpha = 0;
    inv = s2y / s22;
  }
  if (!(inv > 0)) throw new RangeError('fitAllReduce: the measurements give no positive bandwidth (time does not grow with bytes)');
  return { alphaSec: alpha, bandwidthBytesPerSec: 1 / inv };
}

/** What to project. */
export interface ProjectionArgs {
  /** One GPU's compute + optimizer time per step, seconds. */
  gpuStepSec: number;
  /** Fusion-buffer bytes all-reduced per step, one entry per collective (D and G). */
  payloadBytes: number[];
  /** Link bandwidth, bits/s. */
  linkBitsPerSec: number;
  gpus: number[];
}

/** Projected step time and efficiency for each GPU count. */
export function project(m: CostModel, a: ProjectionArgs): { gpus: number; stepSec: number; efficiency: number }[] {
  const link = { alphaSec: m.alphaSec, bandwidthBytesPerSec: a.linkBitsPerSec / 8 };
  return a.gpus.map((n) => {
    const comm = n > 1 ? m.fixedSec + a.payloadBytes.reduce((s, b) => s + allReduceSeconds(link, n, b), 0) : 0;
    const stepSec = a.gpuStepSec + comm;
    return { gpus: n, stepSec, efficiency: a.gpuStepSec / stepSec };
  });
}

/**
 * A cluster of `hosts` machines with `gpusPerHost` ranks each. One host: one ring in shared memory.
 * Several: either one ring with each host's ranks consecutive (host-transport.ts: N − H links in
 * shared memory, H across the network), or hierarchical (hierarchicalAllReduceSeconds), the default.
 */
export interface Layout {
  hosts: number;
  gpusPerHost: number;
}

/** The two link kinds of the default data plane: shared memory inside a host, a network link between hosts. */
export interface HostModel {
  /** Fitted to the shared-memory ring (α per ring step, B per link). */
  intra: Pick<CostModel, 'alphaSec' | 'bandwidthBytesPerSec'>;
  /** Per-ring-step software cost of a socket link, s (fitted to the TCP ring); its bandwidth is the link rate projected. */
  interAlphaSec: number;
  fixedSec: number;
}

/**
 * Seconds of one ring all-reduce of `bytes` over `layout`: 2(N−1) steps, each moving L/N bytes on
 * every link at once, so a step lasts as long as its slowest link (α + (L/N)/B of either kind).
 * Assumes each rank copies at the measured shared-memory rate whatever the rank count (a core or
 * more per rank; memory bandwidth saturation is not modelled).
 */
export function layoutAllReduceSeconds(m: HostModel, layout: Layout, linkBytesPerSec: number, bytes: number): number {
  const n = layout.hosts * layout.gpusPerHost;
  if (n < 2) return 0;
  const piece = bytes / n;
  const shm = layout.gpusPerHost > 1 ? m.intra.alphaSec + piece / m.intra.bandwidthBytesPerSec : 0;
  const net = layout.hosts > 1 ? m.interAlphaSec + piece / linkBytesPerSec : 0;
  return 2 * (n - 1) * Math.max(shm, net);
}

/** Projected step and efficiency (weak scaling, as `project`) for each layout at one link rate (the built ring unless `allReduce` says otherwise). */
export function projectLayouts(
  m: HostModel,
  a: { gpuStepSec: number; payloadBytes: number[]; linkBitsPerSec: number; layouts: Layout[]; allReduce?: typeof layoutAllReduceSeconds },
): { layout: Layout; stepSec: number; efficiency: number }[] {
  const allReduce = a.allReduce ?? layoutAllReduceSeconds;
  return a.layouts.map((layout) => {
    const n = layout.hosts * layout.gpusPerHost;
    const comm = n > 1 ? m.fixedSec + a.payloadBytes.reduce((s, b) => s + allReduce(m, layout, a.linkBitsPerSec / 8, b), 0) : 0;
    const stepSec = a.gpuStepSec + comm;
    return { layout, stepSec, efficiency: a.gpuStepSec / stepSec };
  });
}

/** `HxG` (hosts × GPUs per host), comma-separated, e.g. '1x4,1x8,2x8,8x8'. */
export function parseLayouts(text: string): Layout[] {
  return text.split(',').map((item) => {
    const m = /^\s*(\d+)\s*[x×]\s*(\d+)\s*$/.exec(item);
    if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new RangeError(`'${item}' is not HOSTSxGPUS (e.g. 2x8)`);
    return { hosts: Number(m[1]), gpusPerHost: Number(m[2]) };
  });
}

/**
 * The hierarchical all-reduce (hierarchical.ts, the default across hosts of equal size) on `layout`:
 * reduce-scatter inside each host in shared memory, then each local rank runs a ring between the H
 * hosts over its 1/G of the buffer (the G rings share the host's link), then all-gather inside the
 * host. The network carries 2(H−1)/H·L per host instead of the single ring's 2(N−1)/N·L.
 */
export function hierarchicalAllReduceSeconds(m: HostModel, layout: Layout, linkBytesPerSec: number, bytes: number): number {
  const { hosts: h, gpusPerHost: g } = layout;
  if (h * g < 2) return 0;
  const inside = g > 1 ? 2 * (g - 1) * (m.intra.alphaSec + bytes / g / m.intra.bandwidthBytesPerSec) : 0;
  const between = h > 1 ? 2 * (h - 1) * (m.interAlphaSec + (bytes / g / h) / (linkBytesPerSec / g)) : 0;
  return inside + between;
}
