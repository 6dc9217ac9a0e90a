/** Helpers for the ring all-reduce tests: deterministic inputs, exact references, in-process rings. */
import type { ExecutionContext } from 'ava';
import { f16ToF32, f32ToF16 } from '../../src/shared/allreduce/fp16.js';
import { RingAllReduce, segmentBounds, type RingArgs } from '../../src/shared/allreduce/ring.js';

/** Rank `rank`'s input: `length` floats in about [-4, 4), from a seeded xorshift32 (same in every process). */
export function rankInput(length: number, rank: number, seed = 1): Float32Array {
  const out = new Float32Array(length);
  let s = (0x9e3779b9 ^ Math.imul(seed, 0x85ebca6b) ^ Math.imul(rank + 1, 0xc2b2ae35)) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32 - 0.5) * 8;
  }
  return out;
}

/**
 * The ring's exact float32 result, computed the way the ring orders it: segment k (bounds as in
 * the ring) is summed ((x_k + x_{k+1}) + x_{k+2}) + … over ranks mod N, then divided by N. With
 * fp16 every partial sum is rounded to half as it goes on the wire, and so is the final mean.
 */
export function ringReference(inputs: Float32Array[], fp16 = false): Float32Array {
  const N = inputs.length;
  const length = inputs[0].length;
  const b = segmentBounds(length, N);
  const out = new Float32Array(length);
  const wire = fp16 ? (x: number) => f16ToF32(f32ToF16(x)) : (x: number) => x;
  for (let k = 0; k < N; k++) {
    for (let i = b[k]; i < b[k + 1]; i++) {
      let acc = inputs[k][i];
      for (let j = 1; j < N; j++) acc = Math.fround(inputs[(k + j) % N][i] + wire(acc));
      out[i] = wire(Math.fround(acc / N));
    }
  }
  return out;
}

/** Binds N ranks in this process and connects them in a ring; closes them all at test end. */
export async function inProcessRing(t: ExecutionContext, world: number, args: Partial<RingArgs> = {}, perRank: (rank: number) => Partial<RingArgs> = () => ({})): Promise<RingAllReduce[]> {
  const rings: RingAllReduce[] = [];
  t.teardown(() => rings.forEach((r) => r.close()));
  for (let rank = 0; rank < world; rank++) rings.push(await RingAllReduce.bind({ ...args, ...perRank(rank), rank, world }));
  await Promise.all(rings.map((r) => r.connect(rings.map((x) => x.endpoint))));
  return rings;
}

/** True when every buffer has exactly the bits of the first. */
export function bitIdentical(bufs: Float32Array[]): boolean {
  const a = Buffer.from(bufs[0].buffer, bufs[0].byteOffset, bufs[0].byteLength);
  return bufs.every((x) => a.equals(Buffer.from(x.buffer, x.byteOffset, x.byteLength)));
}
