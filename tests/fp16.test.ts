import test from 'ava';
import { decodeF16, encodeF16, f16ToF32, f32ToF16 } from '../src/shared/allreduce/fp16.js';

test('known values encode to their half bits', (t) => {
  t.is(f32ToF16(1), 0x3c00);
  t.is(f32ToF16(-2), 0xc000);
  t.is(f32ToF16(0.5), 0x3800);
  t.is(f32ToF16(65504), 0x7bff); // largest half
  t.is(f32ToF16(2 ** -14), 0x0400); // smallest normal, ≈ 6.1035e-5
  t.is(f32ToF16(2 ** -24), 0x0001); // smallest subnormal, ≈ 5.96e-8
  t.is(f32ToF16(1023 * 2 ** -24), 0x03ff); // largest subnormal
  t.is(f32ToF16(0), 0x0000);
  t.is(f32ToF16(-0), 0x8000);
  t.is(f32ToF16(Infinity), 0x7c00);
  t.is(f32ToF16(-Infinity), 0xfc00);
});

test('known half bits decode to their values', (t) => {
  t.is(f16ToF32(0x3c00), 1);
  t.is(f16ToF32(0xc000), -2);
  t.is(f16ToF32(0x7bff), 65504);
  t.is(f16ToF32(0x0400), 2 ** -14);
  t.is(f16ToF32(0x0001), 2 ** -24);
  t.is(f16ToF32(0x7c00), Infinity);
  t.is(f16ToF32(0xfc00), -Infinity);
  t.true(Object.is(f16ToF32(0x8000), -0));
  t.true(Number.isNaN(f16ToF32(0x7e00)));
});

test('overflow rounds to Infinity, just below it rounds to 65504', (t) => {
  t.is(f32ToF16(65519.99), 0x7bff); // below the midpoint 65520
  t.is(f32ToF16(65520), 0x7c00); // midpoint: ties to even → mantissa carry → Infinity
  t.is(f32ToF16(1e6), 0x7c00);
  t.is(f32ToF16(-1e6), 0xfc00);
  t.is(f32ToF16(3.4e38), 0x7c00);
});

test('NaN stays NaN, sign kept', (t) => {
  const h = f32ToF16(NaN);
  t.is(h & 0x7c00, 0x7c00);
  t.not(h & 0x3ff, 0);
  t.true(Number.isNaN(f16ToF32(h)));
  const bits = new Uint32Array([0xffc00001]); // negative quiet NaN with a payload
  const out = new Uint16Array(1);
  encodeF16(new Float32Array(bits.buffer), out);
  t.is(out[0] & 0xfc00, 0xfc00);
  t.not(out[0] & 0x3ff, 0);
});

test('rounding is to nearest, ties to even', (t) => {
  const ulp1 = 2 ** -10; // spacing of halves in [1, 2)
  t.is(f32ToF16(1 + ulp1 / 2), 0x3c00); // tie, 1.0 is even → down
  t.is(f32ToF16(1 + (3 * ulp1) / 2), 0x3c02); // tie, 1+ulp is odd → up to 1+2ulp
  t.is(f32ToF16(1 + ulp1 / 2 + 2 ** -20), 0x3c01); // above the tie → up
  t.is(f32ToF16(1 + ulp1 / 2 - 2 ** -20), 0x3c00); // below the tie → down
  // Subnormal ties: 0.5 · 2^-24 ties between 0 and 1 (even 0); 1.5 · 2^-24 ties to 2.
  t.is(f32ToF16(2 ** -25), 0x0000);
  t.is(f32ToF16(3 * 2 ** -25), 0x0002);
  t.is(f32ToF16(2 ** -25 + 2 ** -40), 0x0001);
  t.is(f32ToF16(-(2 ** -26)), 0x8000); // underflow keeps the sign
  // Largest subnormal + half a step ties to even: 0x3ff is odd → 0x400, the smallest normal.
  t.is(f32ToF16(1023.5 * 2 ** -24), 0x0400);
  t.is(f32ToF16(1e-45), 0x0000); // float32 subnormal
});

test('all 65536 halves round-trip exactly through float32', (t) => {
  const halves = new Uint16Array(65536);
  for (let i = 0; i < 65536; i++) halves[i] = i;
  const floats = new Float32Array(65536);
  decodeF16(halves, floats);
  const back = new Uint16Array(65536);
  encodeF16(floats, back);
  let bad = 0;
  for (let i = 0; i < 65536; i++) if (back[i] !== i) bad++;
  t.is(bad, 0);
  // Every non-NaN decode also equals the value computed from the definition.
  for (let h = 0; h < 65536; h++) {
    const exp = (h >>> 10) & 0x1f;
    if (exp === 0x1f) continue;
    const mant = h & 0x3ff;
    const mag = exp === 0 ? mant * 2 ** -24 : (1 + mant / 1024) * 2 ** (exp - 15);
    const v = h & 0x8000 ? -mag : mag;
    if (!Object.is(floats[h], v)) bad++;
  }
  t.is(bad, 0);
});

test('encode rounds every float to the nearest half (sampled against a brute-force reference)', (t) => {
  // Reference: the nearest of the two finite neighbours by value; ties to the even bit pattern.
  const finite: number[] = [];
  for (let h = 0; h <= 0x7bff; h++) finite.push(f16ToF32(h));
  let bad = 0;
  const bits = new Uint32Array(1);
  const f = new Float32Array(bits.buffer);
  let state = 0x9e3779b9; // xorshift32: a fixed sample, the same every run
  for (let i = 0; i < 200000; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bits[0] = (state >>> 0) % 0x47800000; // positive floats below 65536
    const x = f[0];
    let lo = 0;
    let hi = finite.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (finite[mid] <= x) lo = mid;
      else hi = mid;
    }
    let want: number;
    if (x >= 65520) want = 0x7c00;
    else if (x >= finite[hi]) want = hi;
    else {
      const dl = x - finite[lo];
      const dh = finite[hi] - x;
      want = dl < dh ? lo : dh < dl ? hi : lo % 2 === 0 ? lo : hi;
    }
    if (f32ToF16(x) !== want) bad++;
  }
  t.is(bad, 0);
});
