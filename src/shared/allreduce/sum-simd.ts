/**
 * The float32 codec's partial sums (codec.ts) in WebAssembly SIMD: sum-simd.wat's `add` and `mean`
 * over pieces of PIECE floats copied into the module's own memory. Same bits as the JavaScript
 * loops (see the .wat's header); tests/ring-codec-simd.test.ts compares them on fresh random
 * inputs. Where the runtime lacks WebAssembly SIMD, `sumSimd()` is null and codec.ts keeps its loops.
 */
import { SUM_SIMD_BASE64 } from './sum-simd-binary.js';

/** Floats of each operand per call: 256 KiB, so both operands stay in the L2 cache. */
const PIECE = 64 * 1024;
/** Below this many floats the JavaScript loop is cheaper than two copies in and one out. */
export const SIMD_MIN_FLOATS = 1024;

export interface SumSimd {
  /** x += y (x and y of equal length). */
  addInto(x: Float32Array, y: Float32Array): void;
  /** x = (x + y) / n, rounded once to float32 (y untouched). */
  meanInto(x: Float32Array, y: Float32Array, n: number): void;
}

let instance: SumSimd | null | undefined;

/** The module, instantiated once per thread; null without WebAssembly SIMD. */
export function sumSimd(): SumSimd | null {
  if (instance !== undefined) return instance;
  instance = null;
  const bytes = Buffer.from(SUM_SIMD_BASE64, 'base64');
  if (!WebAssembly.validate(bytes)) return null;
  const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as {
    memory: WebAssembly.Memory;
    add(y: number, n: number): void;
    mean(y: number, n: number, d: number, pow2: number): void;
  };
  exports.memory.grow(Math.ceil((2 * PIECE * 4) / 65536) - 1);
  const mem = new Float32Array(exports.memory.buffer, 0, 2 * PIECE);
  const yAt = PIECE * 4;
  const pieces = (x: Float32Array, y: Float32Array, op: (n: number) => void) => {
    for (let lo = 0; lo < x.length; lo += PIECE) {
      const hi = Math.min(lo + PIECE, x.length);
      mem.set(x.subarray(lo, hi), 0);
      mem.set(y.subarray(lo, hi), PIECE);
      op(hi - lo);
      x.set(mem.subarray(0, hi - lo), lo);
    }
  };
  instance = {
    addInto: (x, y) => pieces(x, y, (n) => exports.add(yAt, n)),
    meanInto: (x, y, n) => {
      const pow2 = (n & (n - 1)) === 0;
      pieces(x, y, (m) => exports.mean(yAt, m, pow2 ? 1 / n : n, pow2 ? 1 : 0));
    },
  };
  return instance;
}
