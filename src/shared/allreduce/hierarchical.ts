/**
 * The collectives across hosts, as Horovod's hierarchical all-reduce: H hosts with G ranks each
 * (rank = h·G + g, a host's ranks consecutive) reduce inside each host in shared memory first, then
 * each local rank g runs a ring with the g-th rank of every other host over its own local segment,
 * then every host shares the result back in shared memory. The network carries 2(H−1)/H·L bytes per
 * host instead of the single ring's 2(N−1)/N·L (2 × 2: L instead of 1.5 L; 2 × 8: L instead of
 * 1.88 L), and each host's G cross-host rings run at once.
 *
 *   local ring  (shm-transport.ts, world G, rank g): the ranks of this host
 *   cross ring  (the socket transport, world H, rank h): rank g of every host
 *
 * Order of a sharded step (reduceUpdateGather), every rank alike:
 *   1. local reduce-scatter (mean over G): rank g owns local segment s = ownedSegment(g, G)
 *   2. cross reduce-scatter of segment s (mean over H): rank (h, g) owns piece ownedSegment(h, H)
 *      of it; its checks run on the pieces as they are reduced
 *   3. the verdict: agreed on the cross ring, then on the local ring (the AND of every rank's)
 *   4. update of the owned piece, cross all-gather of segment s (float32), local all-gather
 * The mean is the mean of the hosts' means: the same value as the flat ring's up to rounding (other
 * additions in another order), bit-identical on every rank (each piece is computed once, by its
 * owner, and its bits copied). It is not the flat ring's bits: a run keeps one data plane.
 *
 * Chosen at connect (ring.ts) when the ranks' endpoints show ≥ 2 hosts of the same size ≥ 2, each
 * host's ranks consecutive; otherwise the single host-aware ring (host-transport.ts) runs.
 */
import { ownedSegment, segmentBounds, agree, allGather, allReduceMean, broadcast, reduceScatterMean, reduceScatterUpdateGather, type CollectiveArgs, type OwnedUpdate } from './schedule.js';
import { splitEndpoint } from './host-transport.js';
import { endpointHostKey, type ShmTransport } from './shm-transport.js';
import type { WireTransport } from './transport.js';

/** Hosts and ranks per host, when `peers` (socket+shm endpoints by rank) allow the hierarchy; else undefined. */
export function hostLayout(peers: readonly string[]): { hosts: number; perHost: number } | undefined {
  const keys = peers.map((p) => endpointHostKey(splitEndpoint(p).shm));
  if (keys.some((k) => k === undefined)) return undefined;
  const groups: string[] = [];
  keys.forEach((k, r) => {
    if (r === 0 || k !== keys[r - 1]) groups.push(k!);
  });
  const perHost = keys.length / groups.length;
  if (groups.length < 2 || new Set(groups).size !== groups.length || !Number.isInteger(perHost) || perHost < 2) return undefined;
  const sizesEqual = groups.every((k, h) => keys.slice(h * perHost, (h + 1) * perHost).every((x) => x === k));
  return sizesEqual ? { hosts: groups.length, perHost } : undefined;
}

export class HierarchicalPlane {
  readonly g: number;
  readonly h: number;

  constructor(
    private readonly local: ShmTransport,
    private readonly cross: WireTransport,
    readonly rank: number,
    readonly hosts: number,
    readonly perHost: number,
  ) {
    this.g = rank % perHost;
    this.h = Math.floor(rank / perHost);
  }

  /** Joins both rings: the local one over this host's regions, the cross one over rank g of every host's socket. */
  connect(peers: readonly string[]): void {
    const G = this.perHost;
    const base = this.h * G;
    this.local.rank = this.g;
    this.local.world = G;
    this.local.openRight(splitEndpoint(peers[base + ((this.g + 1) % G)]).shm);
    this.cross.rank = this.h;
    this.cross.world = this.hosts;
    this.cross.connect(Array.from({ length: this.hosts }, (_, h) => splitEndpoint(peers[h * G + this.g]).socket));
  }

  get connected(): boolean {
    return this.local.connected && this.cross.connected;
  }

  /** Local segment s of this rank: [a, b). */
  private localSegment(length: number): [number, number] {
    const b = segmentBounds(length, this.perHost);
    const s = ownedSegment(this.g, this.perHost);
    return [b[s], b[s + 1]];
  }

  /** The N pieces of a buffer of `length`, in buffer order: each local segment cut in H. */
  segmentBounds(length: number): number[] {
    const lb = segmentBounds(length, this.perHost);
    const out = [0];
    for (let s = 0; s < this.perHost; s++) {
      const cb = segmentBounds(lb[s + 1] - lb[s], this.hosts);
      for (let k = 1; k <= this.hosts; k++) out.push(lb[s] + cb[k]);
    }
    return out;
  }

  /** The piece this rank owns (updates) after a reduce-scatter: [lo, hi). */
  ownedRange(length: number): [number, number] {
    const [a, b] = this.localSegment(length);
    const cb = segmentBounds(b - a, this.hosts);
    const k = ownedSegment(this.h, this.hosts);
    return [a + cb[k], a + cb[k + 1]];
  }

  async allReduceMean(buf: Float32Array, a: CollectiveArgs): Promise<void> {
    const [lo, hi] = this.localSegment(buf.length);
    await reduceScatterMean(this.local, buf, a, undefined, true);
    await allReduceMean(this.cross, buf.subarray(lo, hi), a);
    await this.cross.flush();
    await allGather(this.local, buf, a);
  }

  async reduceUpdateGather(buf: Float32Array, rs: CollectiveArgs, ag: CollectiveArgs, owned: OwnedUpdate): Promise<boolean> {
    const [lo, hi] = this.localSegment(buf.length);
    await reduceScatterMean(this.local, buf, rs, undefined, true);
    const shifted: OwnedUpdate = { check: (x, y) => owned.check(lo + x, lo + y), update: (x, y) => owned.update(lo + x, lo + y) };
    const ok = await reduceScatterUpdateGather(this.cross, buf.subarray(lo, hi), rs, ag, shifted, (crossOk) => agree(this.local, crossOk, ag.seq));
    await this.cross.flush();
    if (!ok) return false;
    await allGather(this.local, buf, ag);
    return true;
  }

  /** Every rank's owned piece to every rank (float32 or the codec of `a`). */
  async allGather(buf: Float32Array, a: CollectiveArgs): Promise<void> {
    const [lo, hi] = this.localSegment(buf.length);
    await allGather(this.cross, buf.subarray(lo, hi), a);
    await this.cross.flush();
    await allGather(this.local, buf, a);
  }

  /** Root's bytes to every rank: along the cross ring of the root's local index, then inside each host. */
  async broadcast(bytes: Uint8Array, root: number, seq: number, chunkBytes: number): Promise<void> {
    const rootG = root % this.perHost;
    if (this.g === rootG) {
      await broadcast(this.cross, bytes, Math.floor(root / this.perHost), seq, chunkBytes);
      await this.cross.flush();
    }
    await broadcast(this.local, bytes, rootG, seq, chunkBytes);
  }

  async flush(): Promise<void> {
    await Promise.all([this.local.flush(), this.cross.flush()]);
  }
}
