/**
 * Tiling generator samples into one grayscale image (the "sample grid" written during training).
 * Pure and dependency-free so it runs in the side pool's worker threads (no TensorFlow there).
 */

/** Options for {@link tileGrid}. */
export interface TileGridArgs {
  /** Pixels between tiles and around the border (default 2). */
  padding?: number;
  /** Tiles per grid row (default `ceil(sqrt(count))`, i.e. a near-square grid). */
  gridCols?: number;
  /** Gray level (0..255) of the padding (default 0, black, like torchvision's make_grid). */
  background?: number;
  /** Each image pixel drawn as `scale`×`scale` pixels (default 1; 28 px digits are hard to judge on a screen). */
  scale?: number;
}

/** An 8-bit grayscale image, row-major, `gray.length === width * height`. */
export interface GrayImage {
  width: number;
  height: number;
  gray: Uint8Array;
}

/**
 * Map a tanh output in [-1, 1] to a byte: -1 → 0, +1 → 255, rounded; clamped outside that range.
 * NaN maps to 0 so a diverged generator still yields a (black) image instead of garbage.
 */
export function toByte(v: number): number {
  if (!(v > -1)) return 0; // also catches NaN
  if (v >= 1) return 255;
  return Math.round((v + 1) * 127.5);
}

/**
 * Lay `count` images (each `rows * cols` floats, row-major, in [-1, 1]) out in a grid of
 * `gridCols` columns and `ceil(count / gridCols)` rows, left to right then top to bottom.
 *
 * Geometry (as torchvision's make_grid): `padding` pixels separate neighbouring tiles and surround
 * the grid; a tile is `rows·scale` × `cols·scale` pixels (nearest-neighbour), so
 * `width = gridCols * (cols·scale + padding) + padding` and likewise the height; tile `i` has its
 * top-left pixel at `x = padding + (i % gridCols) * (cols·scale + padding)`, and likewise y.
 * Unused cells of the last row keep the background. Deterministic; never mutates `images`.
 *
 * @throws RangeError on non-positive sizes/count or when `images` holds fewer than `count` images.
 */
export function tileGrid(
  images: Float32Array,
  count: number,
  rows: number,
  cols: number,
  args: TileGridArgs = {},
): GrayImage {
  const padding = args.padding ?? 2;
  const gridCols = args.gridCols ?? Math.ceil(Math.sqrt(count));
  const background = args.background ?? 0;
  const scale = args.scale ?? 1;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`tileGrid: count must be a positive integer, got ${count}`);
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(cols) || cols < 1) {
    throw new RangeError(`tileGrid: rows/cols must be positive integers, got ${rows}x${cols}`);
  }
  if (!Number.isInteger(padding) || padding < 0) throw new RangeError(`tileGrid: padding must be a non-negative integer, got ${padding}`);
  if (!Number.isInteger(gridCols) || gridCols < 1) throw new RangeError(`tileGrid: gridCols must be a positive integer, got ${gridCols}`);
  if (!Number.isInteger(scale) || scale < 1 || scale > 16) throw new RangeError(`tileGrid: scale must be an integer in 1..16, got ${scale}`);
  if (!Number.isInteger(background) || background < 0 || background > 255) {
    throw new RangeError(`tileGrid: background must be an integer in 0..255, got ${background}`);
  }
  const pix = rows * cols;
  if (images.length < count * pix) {
    throw new RangeError(`tileGrid: need ${count} images of ${rows}x${cols} (${count * pix} floats), got ${images.length}`);
  }

  const gridRows = Math.ceil(count / gridCols);
  const [th, tw] = [rows * scale, cols * scale];
  const width = gridCols * (tw + padding) + padding;
  const height = gridRows * (th + padding) + padding;
  const gray = new Uint8Array(width * height);
  if (background !== 0) gray.fill(background);

  for (let i = 0; i < count; i++) {
    const x0 = padding + (i % gridCols) * (tw + padding);
    const y0 = padding + Math.floor(i / gridCols) * (th + padding);
    const src = i * pix;
    for (let r = 0; r < th; r++) {
      let o = (y0 + r) * width + x0;
      const s = src + Math.floor(r / scale) * cols;
      for (let c = 0; c < tw; c++) gray[o++] = toByte(images[s + Math.floor(c / scale)]!);
    }
  }
  return { width, height, gray };
}
