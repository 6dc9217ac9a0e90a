/**
 * IEEE 754 binary16 ("half") ⇄ binary32 conversion, bit-exact, for gradient compression on the wire.
 *
 * - f32 → f16 rounds to nearest, ties to even; magnitudes that round above 65504 become ±Infinity;
 *   values below the half range become half subnormals (smallest 2^-24 ≈ 5.96e-8) or ±0; NaN stays
 *   NaN (top 10 payload bits kept, never turned into Infinity), ±Infinity and ±0 keep their sign.
 * - f16 → f32 is exact (every half is a float); it is a 65536-entry table of float bits, so a decode
 *   is an integer copy and NaN payloads survive a round trip.
 *
 * Both directions work on bits (Uint32/Uint16), never through JavaScript numbers, so results do not
 * depend on how the engine canonicalises NaN.
 */

/** Converts the bits of one float32 (as an unsigned 32-bit integer) to the bits of the nearest half. */
export function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) {
    if (mant === 0) return sign | 0x7c00; // ±Infinity
    // NaN: keep the top 10 payload bits (so every half NaN round-trips); never let it become Infinity.
    const m = mant >>> 13;
    return sign | 0x7c00 | (m === 0 ? 0x200 : m);
  }
  const e = exp - 127 + 15; // the half's biased exponent if the value is a normal half
  if (e >= 0x1f) return sign | 0x7c00; // ≥ 2^16: overflow
  if (e >= 1) {
    // Normal half: keep 10 of the 23 mantissa bits, round on the 13 dropped ones. A carry out of the
    // mantissa bumps the exponent (and 65520 and above reach 0x7c00, Infinity), which is correct.
    const h = sign | (e << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    return rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1) ? h + 1 : h;
  }
  // Half subnormal: value = M · 2^-24 with M = full · 2^(E+1), E = exp - 127, i.e. full >> (14 - e).
  const shift = 14 - e; // ≥ 14
  if (shift > 24) return sign; // below 2^-25: rounds to zero (float32 subnormals land here too)
  const full = mant | 0x800000;
  const m = full >>> shift;
  const rest = full & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  // M may round up to 0x400, the smallest normal half, which is the right encoding.
  return sign | (rest > half || (rest === half && (m & 1) === 1) ? m + 1 : m);
}

/** Bits of the float32 equal to each half, indexed by the half's bits. */
const F16_TO_F32_BITS: Uint32Array = (() => {
  const t = new Uint32Array(65536);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0x1f) t[h] = sign | 0x7f800000 | (mant << 13); // Inf / NaN with the payload kept
    else if (exp !== 0) t[h] = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    else {
      f[0] = mant * 2 ** -24; // zero or subnormal half: exact as a float32 (a normal one)
      t[h] = sign | u[0];
    }
  }
  return t;
})();

/** The same table read as floats (for accumulation, where NaN payloads do not matter). */
export const F16_TO_F32: Float32Array = new Float32Array(F16_TO_F32_BITS.buffer);

/** One float (a JavaScript number, first rounded to float32) to half bits. */
export function f32ToF16(x: number): number {
  SCRATCH_F[0] = x;
  return f32BitsToF16Bits(SCRATCH_U[0]);
}

/** Half bits to the float32 value, as a number. */
export function f16ToF32(h: number): number {
  return F16_TO_F32[h & 0xffff];
}

const SCRATCH_F = new Float32Array(1);
const SCRATCH_U = new Uint32Array(SCRATCH_F.buffer);

/** Encodes `src` into `dst` (same length) as half bits. */
export function encodeF16(src: Float32Array, dst: Uint16Array): void {
  if (dst.length !== src.length) throw new RangeError(`encodeF16: length ${src.length} into ${dst.length}`);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) dst[i] = f32BitsToF16Bits(bits[i]);
}

/** Decodes half bits `src` into `dst` (same length), bit-exactly. */
export function decodeF16(src: Uint16Array, dst: Float32Array): void {
  if (dst.length !== src.length) throw new RangeError(`decodeF16: length ${src.length} into ${dst.length}`);
  const bits = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < src.length; i++) bits[i] = F16_TO_F32_BITS[src[i]];
}
