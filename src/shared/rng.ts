/**
 * Seeded, counter-based random streams.
 *
 * Every random draw of a run (data order, latent noise, dropout masks) comes from a stream named by
 * (seed, purpose, counters...), e.g. `streamSeed(seed, 'z', epoch, step, rank)`. A stream's state is
 * therefore fully described by the run's seed and the counters: resuming at (epoch, step) needs no
 * saved generator state, and every replica derives the same numbers independently.
 */

/** Purposes of random streams; each gets its own salt so streams never collide. */
export type StreamPurpose = 'shuffle' | 'z' | 'dropout' | 'init' | 'sample' | 'fixed-noise' | 'test' | 'eval';

const SALT: Record<StreamPurpose, number> = {
  shuffle: 0x9e3779b9,
  z: 0x85ebca6b,
  dropout: 0xc2b2ae35,
  init: 0x27d4eb2f,
  sample: 0x165667b1,
  'fixed-noise': 0xd3a2646c,
  test: 0xfd7046c5,
  eval: 0x7a3c19e5,
};

/** murmur3's 32-bit finaliser: a cheap bijective mixer. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 32-bit seed for the stream (seed, purpose, ...counters). Counters must be non-negative integers. */
export function streamSeed(seed: number, purpose: StreamPurpose, ...counters: number[]): number {
  let h = fmix32((seed >>> 0) ^ SALT[purpose]);
  // Seeds above 2^32 still matter: fold the high part in too.
  h = fmix32(h ^ Math.floor(seed / 0x100000000));
  for (const c of counters) {
    h = fmix32(Math.imul(h ^ (c >>> 0), 0x9e3779b1) ^ Math.floor(c / 0x100000000));
  }
  return h;
}

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator): 128-bit state, passes PractRand,
 * and cheap in JavaScript's 32-bit integer arithmetic.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spareNormal: number | undefined;

  constructor(seed32: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed32 >>> 0;
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** A stream for (seed, purpose, ...counters); see `streamSeed`. */
  static stream(seed: number, purpose: StreamPurpose, ...counters: number[]): Rng {
    return new Rng(streamSeed(seed, purpose, ...counters));
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1) with 32 random bits. */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n), without modulo bias. */
  int(n: number): number {
    if (!(n > 0 && n <= 4294967296)) throw new RangeError(`Rng.int: n must be in (0, 2^32], got ${n}`);
    const limit = 4294967296 - (4294967296 % n);
    let x: number;
    do x = this.nextUint32();
    while (x >= limit);
    return x % n;
  }

  /** Standard normal by the Box–Muller transform (pairs cached). */
  normal(): number {
    if (this.spareNormal !== undefined) {
      const s = this.spareNormal;
      this.spareNormal = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Fills `out` with standard normal samples and returns it. */
  fillNormal(out: Float32Array): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.normal();
    return out;
  }

  /** An in-place Fisher–Yates shuffle of `arr`; returns it. */
  shuffle<T extends { length: number; [i: number]: unknown }>(arr: T): T {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = arr[i];
      arr[i] = arr[j];
      arr[j] = t;
    }
    return arr;
  }
}
