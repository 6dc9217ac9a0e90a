/**
 * PNG encoding/decoding via pngjs (pure JS, so it works in the side pool's worker threads).
 */
import pngjs from 'pngjs';

const { PNG } = pngjs;

/** PNG colour types we write: 0 = 8-bit grayscale, 6 = 8-bit RGBA. */
export type PngColor = 'gray' | 'rgba';

/** A decoded PNG; `rgba` always has 4 bytes per pixel (pngjs expands gray to RGBA). */
export interface DecodedPng {
  width: number;
  height: number;
  rgba: Uint8Array;
  /** The red channel, i.e. the gray level for grayscale images. */
  gray: Uint8Array;
}

/**
 * Encode an 8-bit buffer as PNG. `color: 'gray'` (default) expects `width * height` bytes and writes
 * colour type 0; `'rgba'` expects `4 * width * height` bytes and writes colour type 6.
 *
 * Deterministic (fixed zlib level/strategy, no timestamps or text chunks): the same pixels always give
 * the same bytes, so sample PNGs can be compared or content-hashed across runs. Returns a Uint8Array
 * that exactly owns its ArrayBuffer (cheap to transfer between threads).
 */
export function encodePng(width: number, height: number, data: Uint8Array, color: PngColor = 'gray'): Uint8Array {
  if (!Number.isInteger(width) || width < 1 || !Number.isInteger(height) || height < 1) {
    throw new RangeError(`encodePng: bad size ${width}x${height}`);
  }
  const bpp = color === 'gray' ? 1 : 4;
  if (data.length !== width * height * bpp) {
    throw new RangeError(`encodePng: expected ${width * height * bpp} bytes for ${width}x${height} ${color}, got ${data.length}`);
  }
  const colorType = color === 'gray' ? 0 : 6;
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const out = PNG.sync.write({ width, height, data: buf } as unknown as InstanceType<typeof PNG>, {
    colorType,
    inputColorType: colorType,
    inputHasAlpha: color === 'rgba',
    bitDepth: 8,
    deflateLevel: 9,
    deflateStrategy: 3,
  });
  // Copy out of Node's Buffer (which may be a view into a larger/pooled allocation).
  return new Uint8Array(out);
}

/** Encode a grayscale image as produced by `tileGrid`. */
export function encodeGrayPng(img: { width: number; height: number; gray: Uint8Array }): Uint8Array {
  return encodePng(img.width, img.height, img.gray, 'gray');
}

/** Decode PNG bytes (mainly for tests and tools). */
export function decodePng(bytes: Uint8Array): DecodedPng {
  const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const rgba = new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength);
  const gray = new Uint8Array(png.width * png.height);
  for (let i = 0; i < gray.length; i++) gray[i] = rgba[i * 4]!;
  return { width: png.width, height: png.height, rgba, gray };
}
