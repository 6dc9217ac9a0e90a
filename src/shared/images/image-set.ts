/**
 * Images from files, for `npm run eval --images PATH` (as pytorch-fid scores folders): another
 * implementation's samples, or our own grids, scored with the same pinned network.
 * - a `.npy` array (npyjs) of shape [N, 784], [N, 28, 28], [N, 1, 28, 28] or [N, 28, 28, 1]: uint8
 *   0..255, or float in [0, 1] (when no value is negative) or [-1, 1] (a tanh generator's output);
 * - a directory of PNGs, one digit each, 28×28 or an integer multiple of it (block-averaged down);
 * - one PNG grid as `npm run sample` and the per-epoch grids draw it: square tiles of 28·s pixels
 *   with `padding` pixels between and around them (2, torchvision's make_grid default); cells
 *   left blank at the end of the last row are not images.
 * Everything else is a one-line ImageSetError. Output: Float32 in [-1, 1], 784 per image.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { parse as parseNpy } from 'npyjs';
import { decodePng } from './png.js';

/** A file or directory that can't be read as digit images; one line. */
export class ImageSetError extends Error {}

export interface ImageSet {
  images: Float32Array;
  count: number;
  /** What was read, for the log line ("64 images from a 8×8 PNG grid, tiles 56 px"). */
  description: string;
}

const SIDE = 28;
const PIXELS = SIDE * SIDE;

export async function loadImageSet(path: string, gridPadding = 2): Promise<ImageSet> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new ImageSetError(`${path}: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`);
  });
  if (info.isDirectory()) return pngDirectory(path);
  const ext = extname(path).toLowerCase();
  if (ext === '.npy') return npyImages(path, await readFile(path));
  if (ext === '.png') return pngGrid(path, await readFile(path), gridPadding);
  throw new ImageSetError(`${path}: expected a .npy file, a .png grid or a directory of PNGs`);
}

function npyImages(path: string, bytes: Buffer): ImageSet {
  let arr;
  try {
    arr = parseNpy(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  } catch (err) {
    throw new ImageSetError(`${path}: not a readable .npy file (${(err as Error).message.split('\n')[0]})`);
  }
  const { shape, dtype } = arr;
  const per = shape.slice(1).reduce((a, b) => a * b, 1);
  const okShape = shape.length >= 2 && per === PIXELS && [[784], [28, 28], [1, 28, 28], [28, 28, 1]].some((s) => s.join() === shape.slice(1).join());
  if (!okShape) throw new ImageSetError(`${path}: shape (${shape.join(', ')}), expected (N, 784), (N, 28, 28), (N, 1, 28, 28) or (N, 28, 28, 1)`);
  if (arr.fortranOrder && shape.length > 2) throw new ImageSetError(`${path}: Fortran-ordered arrays are not supported; save with np.ascontiguousarray`);
  const count = shape[0];
  if (count < 2) throw new ImageSetError(`${path}: ${count} image(s); FID needs at least 2`);
  const data = arr.data as unknown as ArrayLike<number>;
  const images = new Float32Array(count * PIXELS);
  let scale: string;
  if (dtype === 'u1') {
    for (let i = 0; i < images.length; i++) images[i] = data[i] / 127.5 - 1;
    scale = 'uint8 0..255';
  } else if (dtype === 'f4' || dtype === 'f8' || dtype === 'f2') {
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < images.length; i++) {
      const v = data[i];
      if (!Number.isFinite(v)) throw new ImageSetError(`${path}: value ${v} at index ${i}; images must be finite`);
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const unit = min >= 0;
    if (unit ? max > 1 : min < -1 - 1e-6 || max > 1 + 1e-6) throw new ImageSetError(`${path}: values span [${min}, ${max}], expected [0, 1] or [-1, 1]`);
    for (let i = 0; i < images.length; i++) images[i] = unit ? 2 * data[i] - 1 : Math.max(-1, Math.min(1, data[i]));
    scale = unit ? 'float in [0, 1]' : 'float in [-1, 1]';
  } else {
    throw new ImageSetError(`${path}: dtype ${dtype}, expected uint8 or float`);
  }
  return { images, count, description: `${count} images from ${path} (${scale})` };
}

/** Gray levels of `png` → [-1, 1], block-averaging `s`×`s` blocks of the region at (x0, y0). */
function readTile(gray: Uint8Array, width: number, x0: number, y0: number, s: number, out: Float32Array, at: number): void {
  for (let r = 0; r < SIDE; r++) {
    for (let c = 0; c < SIDE; c++) {
      let sum = 0;
      for (let dy = 0; dy < s; dy++) for (let dx = 0; dx < s; dx++) sum += gray[(y0 + r * s + dy) * width + x0 + c * s + dx];
      out[at + r * SIDE + c] = sum / (s * s) / 127.5 - 1;
    }
  }
}

function decode(path: string, bytes: Uint8Array) {
  try {
    return decodePng(bytes);
  } catch (err) {
    throw new ImageSetError(`${path}: not a readable PNG (${(err as Error).message.split('\n')[0]})`);
  }
}

async function pngDirectory(dir: string): Promise<ImageSet> {
  const names = (await readdir(dir)).filter((n) => extname(n).toLowerCase() === '.png').sort();
  if (names.length < 2) throw new ImageSetError(`${dir}: ${names.length} PNG file(s); FID needs at least 2`);
  const images = new Float32Array(names.length * PIXELS);
  let scale = 0;
  for (const [i, name] of names.entries()) {
    const path = join(dir, name);
    const png = decode(path, await readFile(path));
    const s = png.width / SIDE;
    if (png.width !== png.height || !Number.isInteger(s) || s < 1) throw new ImageSetError(`${path}: ${png.width}×${png.height} pixels, expected a square of 28 or a multiple of it`);
    scale = s;
    readTile(png.gray, png.width, 0, 0, s, images, i * PIXELS);
  }
  return { images, count: names.length, description: `${names.length} PNGs from ${dir}${scale > 1 ? ` (last at ${scale}× scale)` : ''}` };
}

function pngGrid(path: string, bytes: Buffer, padding: number): ImageSet {
  const png = decode(path, bytes);
  // The tile scale is the smallest that fits the grid's geometry exactly in both directions.
  let fit: { s: number; cols: number; rows: number } | undefined;
  for (let s = 1; s <= 16 && !fit; s++) {
    const step = SIDE * s + padding;
    const cols = (png.width - padding) / step;
    const rows = (png.height - padding) / step;
    if (Number.isInteger(cols) && Number.isInteger(rows) && cols >= 1 && rows >= 1) fit = { s, cols, rows };
  }
  if (!fit) throw new ImageSetError(`${path}: ${png.width}×${png.height} is not a grid of 28·s-pixel tiles with ${padding}-pixel padding (see --grid-padding)`);
  const { s, cols, rows } = fit;
  const step = SIDE * s + padding;
  const all = new Float32Array(cols * rows * PIXELS);
  let count = 0;
  for (let k = 0; k < cols * rows; k++) {
    const x0 = padding + (k % cols) * step;
    const y0 = padding + Math.floor(k / cols) * step;
    readTile(png.gray, png.width, x0, y0, s, all, count * PIXELS);
    const tile = all.subarray(count * PIXELS, (count + 1) * PIXELS);
    // A blank (all-black) cell in the last row is grid padding, not a generated image.
    if (Math.floor(k / cols) === rows - 1 && tile.every((v) => v === -1)) continue;
    count++;
  }
  if (count < 2) throw new ImageSetError(`${path}: ${count} image(s) in the grid; FID needs at least 2`);
  return { images: all.slice(0, count * PIXELS), count, description: `${count} images from a ${cols}×${rows} PNG grid ${path} (tiles ${SIDE * s} px)` };
}
