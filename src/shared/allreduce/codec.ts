/**
 * How all-reduce chunks travel on the wire: float32 as is, or IEEE half (fp16.ts). The schedule
 * (schedule.ts) works through this interface only, so a codec decides both the bytes on the wire
 * and where a partial sum is rounded.
 *
 * The partial-sum operations work *in place on the received wire bytes* and leave there the bytes
 * to pass on: a chunk is received, added into and forwarded without another buffer or copy (the
 * transport hands each received payload over for good, 4-byte aligned).
 *
 * Every operation is a plain loop over typed arrays: one correctly rounded float32 addition (and,
 * for the mean, one division) per element, so results are bit-exact and equal on every host.
 */
import { F16_TO_F32, decodeF16, encodeF16, f32BitsToF16Bits } from './fp16.js';
import { SIMD_MIN_FLOATS, sumSimd } from './sum-simd.js';

export type Compression = 'none' | 'fp16';

export interface Codec {
  readonly name: Compression;
  /** Bytes per element on the wire. */
  readonly bytesPerElement: number;
  /** wire ← encode(src); wire.byteLength = src.length · bytesPerElement. */
  encode(src: Float32Array, wire: Uint8Array): void;
  /** dst ← decode(wire), bit-exact. */
  decode(wire: Uint8Array, dst: Float32Array): void;
  /** wire ← encode(decode(wire) + mine): the partial sum to pass on, computed in place. */
  addInto(wire: Uint8Array, mine: Float32Array): void;
  /**
   * wire ← encode((decode(wire) + mine) / n) and mine ← decode(wire): the finished mean, in place,
   * as every rank will hold it (so with fp16 the owner keeps the half-rounded mean too).
   */
  addMeanInto(wire: Uint8Array, mine: Float32Array, n: number): void;
}

const f32 = (wire: Uint8Array, n: number) => new Float32Array(wire.buffer, wire.byteOffset, n);
const u16 = (wire: Uint8Array, n: number) => new Uint16Array(wire.buffer, wire.byteOffset, n);

/** float32 as is: the wire bytes are the floats' own (little-endian) bytes. */
export const FLOAT32: Codec = {
  name: 'none',
  bytesPerElement: 4,
  encode(src, wire) {
    f32(wire, src.length).set(src);
  },
  decode(wire, dst) {
    dst.set(f32(wire, dst.length));
  },
  addInto(wire, mine) {
    const x = f32(wire, mine.length);
    const simd = x.length >= SIMD_MIN_FLOATS ? sumSimd() : null;
    if (simd) return simd.addInto(x, mine);
    for (let i = 0; i < x.length; i++) x[i] += mine[i];
  },
  addMeanInto(wire, mine, n) {
    const x = f32(wire, mine.length);
    const simd = x.length >= SIMD_MIN_FLOATS ? sumSimd() : null;
    if (simd) {
      // sum-simd.wat: the same correctly rounded float32 sum, then division (or exact 1/n product).
      simd.meanInto(x, mine, n);
      mine.set(x);
      return;
    }
    // Math.fround makes the sum a float32 before the division, as a separate store would; the
    // quotient is computed in double and rounded once by the outer fround, which equals the correctly
    // rounded float32 division (double has more than 2·24 + 2 bits).
    if ((n & (n - 1)) === 0) {
      // n a power of two: multiplying by 1/n (exact) is the same correctly rounded result as
      // dividing by n, and cheaper.
      const inv = 1 / n;
      for (let i = 0; i < x.length; i++) {
        const m = Math.fround(Math.fround(x[i] + mine[i]) * inv);
        x[i] = m;
        mine[i] = m;
      }
      return;
    }
    for (let i = 0; i < x.length; i++) {
      const m = Math.fround(Math.fround(x[i] + mine[i]) / n);
      x[i] = m;
      mine[i] = m;
    }
  },
};

const SCRATCH = new Float32Array(1);
const SCRATCH_BITS = new Uint32Array(SCRATCH.buffer);

/** IEEE half on the wire: every partial sum and the final mean are rounded to half as they go. */
export const FP16: Codec = {
  name: 'fp16',
  bytesPerElement: 2,
  encode(src, wire) {
    encodeF16(src, u16(wire, src.length));
  },
  decode(wire, dst) {
    decodeF16(u16(wire, dst.length), dst);
  },
  addInto(wire, mine) {
    const h = u16(wire, mine.length);
    for (let i = 0; i < h.length; i++) {
      SCRATCH[0] = mine[i] + F16_TO_F32[h[i]];
      h[i] = f32BitsToF16Bits(SCRATCH_BITS[0]);
    }
  },
  addMeanInto(wire, mine, n) {
    const h = u16(wire, mine.length);
    for (let i = 0; i < h.length; i++) {
      SCRATCH[0] = mine[i] + F16_TO_F32[h[i]];
      SCRATCH[0] = SCRATCH[0] / n;
      h[i] = f32BitsToF16Bits(SCRATCH_BITS[0]);
    }
    decodeF16(h, mine);
  },
};

export function codecFor(c: Compression): Codec {
  if (c === 'none') return FLOAT32;
  if (c === 'fp16') return FP16;
  throw new RangeError(`unknown compression ${String(c)}`);
}
