/**
 * The ring collectives as schedules of messages over a `Transport` (transport.ts): which segment
 * and chunk goes where at each step, and what is added, copied or forwarded. They move
 * Float32Arrays and know nothing of sockets or models.
 *
 * reduceScatterMean (N = world ranks, buffer split into N near-equal segments, segmentBounds):
 *   N−1 steps: at step s rank r sends segment (r − s) and receives segment (r − s − 1) from rank
 *   r − 1, adding it in. After the last step rank r holds the full sum of segment (r + 1), its
 *   *owned* segment (ownedSegment): segment k is summed in the fixed order
 *   ((x_k + x_{k+1}) + x_{k+2}) + … (ranks mod N), once, by the chain of ranks. The owner divides
 *   it by N (and, with fp16, rounds it through half precision) once. Only the owned segment is
 *   defined afterwards; the others hold partial sums.
 * allGather, N−1 steps: at step s rank r sends segment (r + 1 − s) and receives segment (r − s),
 *   copying the bits. So every rank ends with bit-identical results.
 * allReduceMean = reduceScatterMean then allGather, fused: the all-gather of an owned chunk starts
 *   the moment its reduction is done, so the two phases overlap on the wire.
 * reduceScatterUpdateGather (the sharded optimizer's step) = reduceScatterMean, the owners' checks,
 *   one verdict agreed by all (N−1 one-byte messages), then the owners' updates all-gathered.
 *
 * Each segment travels in chunks of at most `chunkBytes` (and in at least 4 while chunks stay
 * above 64 KiB), and a received chunk is added (or copied) and handed to the next step's send at
 * once: receive, add and send overlap (pipelining),
 * and the latency of a step is one chunk, not one segment. The add happens in place in the
 * received bytes, which are then forwarded as they are (codec.ts): apart from the first step's
 * copy of this rank's own segment, no chunk is copied or allocated in JavaScript. A received
 * chunk that is not forwarded is released to the transport, which may reuse its memory.
 *
 * Cost model (α: per-message latency in s, β: s per byte on one link, L: buffer bytes):
 *   time ≈ 2(N−1)·(α + (L/N)·β)   (pipelining hides all but about one chunk of each step's α)
 * Every rank sends and receives 2(N−1)/N·L bytes whatever N, which is bandwidth-optimal.
 * Bus bandwidth (as in nccl-tests): busbw = (L / time) · 2(N−1)/N, the per-link rate actually
 * achieved; compare it with the link's bandwidth (the bench measures a plain TCP stream).
 *
 * broadcast: a pipelined chain root → root+1 → … → root−1 in chunks (start-of-run weights and
 * optimizer state), time ≈ (N−1)·α' + L·β with chunking.
 *
 * All ranks must use the same world, chunkBytes and codec, call the same collectives in the same
 * order on buffers of the same length, and run on little-endian hosts.
 */
import type { Codec } from './codec.js';
import { AG, BC, FL, RS, type Transport } from './transport.js';

/** Offsets of the `world` near-equal segments of a buffer of `length`: segment k is [b[k], b[k+1]). */
export function segmentBounds(length: number, world: number): number[] {
  const base = Math.floor(length / world);
  const extra = length % world;
  const b = [0];
  for (let k = 0; k < world; k++) b.push(b[k] + base + (k < extra ? 1 : 0));
  return b;
}

/** The segment rank `rank` owns after a reduce-scatter (and sends first in an all-gather). */
export function ownedSegment(rank: number, world: number): number {
  return (rank + 1) % world;
}

/** What every rank of one collective agrees on. */
export interface CollectiveArgs {
  seq: number;
  codec: Codec;
  /** Largest payload of one message, bytes. */
  chunkBytes: number;
}

/** Chunks per segment the plan aims for (see Plan). */
const PIPELINE_DEPTH = 4;
/** Smallest chunk the plan splits a segment into for depth's sake, bytes. */
const MIN_CHUNK_BYTES = 64 * 1024;

/** Segments and their chunks of a buffer of `length` floats. */
class Plan {
  readonly bounds: number[];
  /** Elements per chunk. */
  readonly ce: number;
  constructor(
    length: number,
    readonly world: number,
    a: CollectiveArgs,
  ) {
    this.bounds = segmentBounds(length, world);
    // At most chunkBytes per message, and at least PIPELINE_DEPTH chunks per segment while chunks
    // stay above MIN_CHUNK_BYTES: a segment of only one or two chunks cannot overlap receiving,
    // adding and sending (every rank derives the same plan from length, world and chunkBytes).
    const bpe = a.codec.bytesPerElement;
    const most = Math.max(1, Math.floor(a.chunkBytes / bpe));
    const deep = Math.max(Math.ceil(this.bounds[1] / PIPELINE_DEPTH), Math.floor(MIN_CHUNK_BYTES / bpe));
    this.ce = Math.min(most, deep);
  }
  seg(k: number): number {
    return ((k % this.world) + this.world) % this.world;
  }
  chunks(k: number): number {
    return Math.ceil((this.bounds[k + 1] - this.bounds[k]) / this.ce);
  }
  range(k: number, c: number): [number, number] {
    const a = this.bounds[k] + c * this.ce;
    return [a, Math.min(a + this.ce, this.bounds[k + 1])];
  }
}

/**
 * An owned wire copy of `src` (later in-place writes of buf never reach a queued message), in
 * memory the transport may reuse once it is sent.
 */
function encodeCopy(t: Transport, codec: Codec, src: Float32Array): Uint8Array {
  const bytes = src.length * codec.bytesPerElement;
  const out = t.allocate?.(bytes) ?? Buffer.allocUnsafeSlow(bytes);
  codec.encode(src, out);
  return out;
}

/** The bytes of `src` itself, as a send hands them to the transport (no copy). */
function viewOf(src: Float32Array): Uint8Array {
  return Buffer.from(src.buffer, src.byteOffset, src.byteLength);
}

/**
 * Leaves the mean over ranks of segment ownedSegment(rank) in `buf` (the other segments are
 * partial sums). `onOwned(chunk, wire)` gets each finished chunk of the owned segment as its wire
 * bytes, which it may send on (allReduceMean does); without it they are dropped.
 *
 * `ownSegmentUntouched`: the caller promises that buf's segment `rank` is not written until every
 * rank's step-0 message of it has been received, so with float32 it is sent as it is, without a
 * copy (the transport sends views without copying, zmq-transport.ts). allReduceMean keeps that
 * promise by causality: the only write to segment r is its all-gather, and the all-gather chunk
 * can only come back once the right neighbour has received our step-0 chunk (FIFO pipe, and every
 * later message about segment r depends on it). A lone reduce-scatter cannot promise it: the
 * caller may write buf as soon as it returns, while the step-0 chunks may still be queued.
 */
export async function reduceScatterMean(t: Transport, buf: Float32Array, a: CollectiveArgs, onOwned?: (chunk: number, n: number, wire: Uint8Array) => void, ownSegmentUntouched = false): Promise<void> {
  const N = t.world;
  const r = t.rank;
  if (N === 1) return;
  const { seq, codec } = a;
  const sendInPlace = ownSegmentUntouched && codec.bytesPerElement === 4;
  const p = new Plan(buf.length, N, a);
  const bpe = codec.bytesPerElement;
  // Step 0: send our own segment r, every chunk, right away: a copy, or (sendInPlace) the bytes
  // of buf themselves.
  for (let c = 0, k = r; c < p.chunks(k); c++) {
    const [lo, hi] = p.range(k, c);
    const wire = sendInPlace ? viewOf(buf.subarray(lo, hi)) : encodeCopy(t, codec, buf.subarray(lo, hi));
    t.send({ seq, phase: RS, step: 0, chunk: c, n: hi - lo }, wire);
  }
  // Steps 0…N−2: receive segment r − s − 1, add ours into it, pass it on at once.
  for (let s = 0; s < N - 1; s++) {
    const k = p.seg(r - s - 1);
    const last = s === N - 2;
    for (let c = 0; c < p.chunks(k); c++) {
      const [lo, hi] = p.range(k, c);
      const n = hi - lo;
      const wire = await t.receive({ seq, phase: RS, step: s, chunk: c, n }, n * bpe);
      if (!last) {
        codec.addInto(wire, buf.subarray(lo, hi));
        t.send({ seq, phase: RS, step: s + 1, chunk: c, n }, wire);
      } else {
        // We own segment k = r + 1 now: average it once (float32 division, correctly rounded),
        // rounded through the codec, in the wire bytes and in buf alike.
        codec.addMeanInto(wire, buf.subarray(lo, hi), N);
        if (onOwned) onOwned(c, n, wire);
        else t.release?.(wire);
      }
    }
  }
}

/**
 * Copies each rank's owned segment (ownedSegment) of `buf` to every rank, through the codec (the
 * owner's own copy is rounded alike, so every rank ends bit-identical). `started`: the owned
 * segment's chunks were already sent (allReduceMean sends them as the reduction finishes them).
 * With float32, over a transport whose flush means sent, the owned segment is sent as it is,
 * without a copy: nothing writes it during the all-gather (only the other segments are written),
 * and the collective ends with a flush, after which the caller may write buf again.
 */
export async function allGather(t: Transport, buf: Float32Array, a: CollectiveArgs, started = false): Promise<void> {
  const N = t.world;
  const r = t.rank;
  if (N === 1) return;
  const { seq, codec } = a;
  const p = new Plan(buf.length, N, a);
  if (!started) {
    const k = ownedSegment(r, N);
    for (let c = 0; c < p.chunks(k); c++) {
      const [lo, hi] = p.range(k, c);
      const mine = buf.subarray(lo, hi);
      if (codec.bytesPerElement === 4 && t.flushMeansSent) {
        t.send({ seq, phase: AG, step: 0, chunk: c, n: hi - lo }, viewOf(mine));
        continue;
      }
      const wire = encodeCopy(t, codec, mine);
      codec.decode(wire, mine);
      t.send({ seq, phase: AG, step: 0, chunk: c, n: hi - lo }, wire);
    }
  }
  // Steps 0…N−2: receive segment r − s, copy its bits, forward the very same bytes.
  for (let s = 0; s < N - 1; s++) {
    const k = p.seg(r - s);
    for (let c = 0; c < p.chunks(k); c++) {
      const [lo, hi] = p.range(k, c);
      const n = hi - lo;
      const wire = await t.receive({ seq, phase: AG, step: s, chunk: c, n }, n * codec.bytesPerElement);
      codec.decode(wire, buf.subarray(lo, hi));
      if (s < N - 2) t.send({ seq, phase: AG, step: s + 1, chunk: c, n }, wire);
      else t.release?.(wire);
    }
  }
}

/** Replaces `buf` by the element-wise mean over ranks, bit-identical on every rank. */
export async function allReduceMean(t: Transport, buf: Float32Array, a: CollectiveArgs): Promise<void> {
  if (t.world === 1) return;
  await reduceScatterMean(t, buf, a, (c, n, wire) => t.send({ seq: a.seq, phase: AG, step: 0, chunk: c, n }, wire), true);
  await allGather(t, buf, a, true);
}

/** What the sharded step does with this rank's owned range (replica.ts: the finiteness check and Adam). */
export interface OwnedUpdate {
  /**
   * Whether the averaged piece [lo, hi) may be applied (its gradients finite); called on each
   * piece of the owned range as its reduction finishes, so the check overlaps the wire.
   */
  check(lo: number, hi: number): boolean;
  /** Rewrites piece [lo, hi) (gradients into new parameters), nothing else; only once every rank's checks passed. */
  update(lo: number, hi: number): void;
}

/**
 * The sharded optimizer's step (ZeRO stage 1): reduce-scatter `buf` (codec `rs`), check the owned
 * segment, agree on the verdict, then let `update` rewrite the owned segment piece by piece and
 * all-gather it (codec `ag`: float32 when it carries parameters, so their bits are copied whatever
 * the gradients' codec). Resolves to the same answer on every rank: true when every rank's check
 * passed (every rank then ends with every owner's segment, bit-identical), false otherwise (then
 * nothing was updated and nothing gathered: buf holds partial sums and is to be dropped).
 *
 * The verdict is agreed before anything is updated (one FL message per step around the ring,
 * each carrying the AND of the verdicts its sender has seen: N−1 hops of one byte), as PyTorch's
 * GradScaler all-reduces found_inf before the optimizer step: an owner updates its Adam moments
 * in place and never needs the old ones back, so a rank holds 2/N of the moments, not 4/N.
 * The update still overlaps the wire: each all-gather piece is sent the moment it is updated.
 *
 * Our own segment is sent without a copy at step 0 (reduceScatterMean's promise holds: `update`
 * writes only the owned segment, and segment `rank` is next written by the all-gather, whose chunk
 * of it can only come back after the right neighbour received ours; on a skip the caller may write
 * buf once this resolves, and the verdicts it waited for include the right neighbour's, which that
 * rank sent only after receiving all of our step-0 chunks).
 */
export async function reduceScatterUpdateGather(t: Transport, buf: Float32Array, rs: CollectiveArgs, ag: CollectiveArgs, owned: OwnedUpdate, agreeBeyond?: (ok: boolean) => Promise<boolean>): Promise<boolean> {
  const N = t.world;
  if (N === 1) throw new RangeError('reduceScatterUpdateGather: a ring of one rank has nothing to reduce (the caller runs the update itself)');
  const own = ownedSegment(t.rank, N);
  const rp = new Plan(buf.length, N, rs);
  let verdict = true;
  await reduceScatterMean(t, buf, rs, (c, _n, wire) => {
    t.release?.(wire);
    const [lo, hi] = rp.range(own, c);
    // Every piece is checked (no short cut), so each rank's work does not depend on the data.
    verdict = owned.check(lo, hi) && verdict;
  }, true);
  // agreeBeyond: the ranks outside this ring (hierarchical.ts: the other ranks of this host) have
  // their say too; it runs whatever this ring agreed, so every rank sends its messages.
  const all = await agree(t, verdict, ag.seq);
  if (!(agreeBeyond ? await agreeBeyond(all) : all)) return false;
  const p = new Plan(buf.length, N, ag);
  for (let c = 0; c < p.chunks(own); c++) {
    const [lo, hi] = p.range(own, c);
    owned.update(lo, hi);
    const mine = buf.subarray(lo, hi);
    // The owned piece is not written again in this collective: float32 goes as it is where flush means sent.
    const wire = ag.codec.bytesPerElement === 4 && t.flushMeansSent ? viewOf(mine) : encodeCopy(t, ag.codec, mine);
    if (ag.codec.bytesPerElement !== 4) ag.codec.decode(wire, mine);
    t.send({ seq: ag.seq, phase: AG, step: 0, chunk: c, n: hi - lo }, wire);
  }
  await allGather(t, buf, ag, true);
  return true;
}

/**
 * The AND of every rank's `ok`, on every rank: N−1 steps; at step s each rank sends the AND of its
 * own verdict and those it has received (s + 1 ranks' worth), so the last message it receives
 * covers the N − 1 others. One byte per message (1 = all seen were true).
 */
export async function agree(t: Transport, ok: boolean, seq: number): Promise<boolean> {
  let all = ok;
  for (let s = 0; s < t.world - 1; s++) {
    const out = t.allocate?.(1) ?? Buffer.allocUnsafeSlow(1);
    out[0] = all ? 1 : 0;
    t.send({ seq, phase: FL, step: s, chunk: 0, n: 1 }, out);
    const got = await t.receive({ seq, phase: FL, step: s, chunk: 0, n: 1 }, 1);
    all = got[0] === 1 && all;
    t.release?.(got);
  }
  return all;
}

/** Copies root's bytes into every rank's `bytes` along the chain root → root + 1 → …, in chunks. */
export async function broadcast(t: Transport, bytes: Uint8Array, root: number, seq: number, chunkBytes: number): Promise<void> {
  const N = t.world;
  if (N === 1) return;
  const d = (t.rank - root + N) % N; // distance from the root along the ring
  const chunks = Math.ceil(bytes.length / chunkBytes);
  for (let c = 0; c < chunks; c++) {
    const a = c * chunkBytes;
    const b = Math.min(a + chunkBytes, bytes.length);
    if (d === 0) {
      const out = Buffer.allocUnsafeSlow(b - a);
      out.set(bytes.subarray(a, b));
      t.send({ seq, phase: BC, step: 0, chunk: c, n: b - a }, out);
      continue;
    }
    const payload = await t.receive({ seq, phase: BC, step: d - 1, chunk: c, n: b - a }, b - a);
    bytes.set(payload, a);
    if (d < N - 1) t.send({ seq, phase: BC, step: d, chunk: c, n: b - a }, payload);
    else t.release?.(payload);
  }
}
