import test from 'ava';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tileGrid, toByte } from '../src/shared/images/grid.js';
import { decodePng, encodeGrayPng, encodePng } from '../src/shared/images/png.js';
import { writeFileAtomic } from '../src/shared/fsutil.js';
import { encodeGridPng } from '../src/shared/pool/tasks.js';

/** `count` images of rows x cols, image i filled with `fill(i, r, c)`. */
function images(count: number, rows: number, cols: number, fill: (i: number, r: number, c: number) => number): Float32Array {
  const out = new Float32Array(count * rows * cols);
  for (let i = 0; i < count; i++)
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[(i * rows + r) * cols + c] = fill(i, r, c);
  return out;
}

test('toByte maps tanh range to bytes with clamping and rounding', (t) => {
  t.is(toByte(-1), 0);
  t.is(toByte(1), 255);
  t.is(toByte(0), 128); // 127.5 rounds up
  t.is(toByte(-5), 0);
  t.is(toByte(7), 255);
  t.is(toByte(Number.NaN), 0);
  t.is(toByte(-1 + 2 / 255), 1);
});

test('tileGrid geometry: near-square grid, padding between tiles and around the border', (t) => {
  // 5 images of 2x3 -> gridCols = ceil(sqrt(5)) = 3, 2 grid rows.
  const g = tileGrid(images(5, 2, 3, () => 1), 5, 2, 3);
  t.is(g.width, 3 * (3 + 2) + 2);
  t.is(g.height, 2 * (2 + 2) + 2);
  t.is(g.gray.length, g.width * g.height);

  const sq = tileGrid(images(16, 28, 28, () => 0), 16, 28, 28);
  t.deepEqual([sq.width, sq.height], [4 * 30 + 2, 4 * 30 + 2]);
  const wide = tileGrid(images(16, 28, 28, () => 0), 16, 28, 28, { gridCols: 8, padding: 0 });
  t.deepEqual([wide.width, wide.height], [8 * 28, 2 * 28]);
});

test('tileGrid at scale 2 draws each pixel as a 2×2 block at the scaled position', (t) => {
  // 2 images of 2×3 with distinct values, one row, padding 1.
  const imgs = Float32Array.from({ length: 12 }, (_, i) => -1 + (2 * i) / 11);
  const g = tileGrid(imgs, 2, 2, 3, { gridCols: 2, padding: 1, scale: 2 });
  t.deepEqual([g.width, g.height], [2 * (6 + 1) + 1, 4 + 2]);
  for (let i = 0; i < 2; i++) {
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 6; x++) t.is(g.gray[(1 + y) * g.width + 1 + i * 7 + x], toByte(imgs[i * 6 + Math.floor(y / 2) * 3 + Math.floor(x / 2)]));
    }
  }
  t.throws(() => tileGrid(imgs, 2, 2, 3, { scale: 0 }), { instanceOf: RangeError, message: /scale must be an integer in 1\.\.16/ });
});

test('tileGrid places each pixel at the documented position', (t) => {
  const rows = 2;
  const cols = 3;
  const padding = 2;
  // Distinct value per (image, r, c): maps to distinct bytes.
  const val = (i: number, r: number, c: number) => -1 + (2 * (i * 6 + r * 3 + c + 1)) / 64;
  const src = images(5, rows, cols, val);
  const before = src.slice();
  const g = tileGrid(src, 5, rows, cols, { padding });
  t.deepEqual(src, before, 'input not mutated');
  const at = (x: number, y: number) => g.gray[y * g.width + x];
  for (let i = 0; i < 5; i++) {
    const x0 = padding + (i % 3) * (cols + padding);
    const y0 = padding + Math.floor(i / 3) * (rows + padding);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t.is(at(x0 + c, y0 + r), toByte(val(i, r, c)));
  }
  // Spot checks: image 0's first pixel at (2,2); image 4 (row 1, col 1) at (7,6).
  t.is(at(2, 2), toByte(val(0, 0, 0)));
  t.is(at(7, 6), toByte(val(4, 0, 0)));
  // Padding and the unused 6th cell stay background (0).
  t.is(at(0, 0), 0);
  t.is(at(5, 2), 0); // gap between tile 0 and tile 1
  t.is(at(2, 4), 0); // gap below tile 0
  t.is(at(12, 6), 0); // unused cell
  t.is(at(g.width - 1, g.height - 1), 0);
});

test('tileGrid maps -1 to 0 and +1 to 255, clamps out-of-range, and honours background', (t) => {
  const src = new Float32Array([-1, 1, -3, 3]); // two 1x2 images
  const g = tileGrid(src, 2, 1, 2, { padding: 1, background: 77 });
  // gridCols = 2: width = 2*(2+1)+1 = 7, height = 1*(1+1)+1 = 3
  t.deepEqual([g.width, g.height], [7, 3]);
  t.deepEqual([...g.gray.subarray(7, 14)], [77, 0, 255, 77, 0, 255, 77]);
  t.deepEqual([...g.gray.subarray(0, 7)], Array(7).fill(77));
});

test('tileGrid rejects bad arguments', (t) => {
  t.throws(() => tileGrid(new Float32Array(10), 0, 2, 2), { instanceOf: RangeError });
  t.throws(() => tileGrid(new Float32Array(7), 2, 2, 2), { instanceOf: RangeError });
  t.throws(() => tileGrid(new Float32Array(8), 2, 2, 2, { padding: -1 }), { instanceOf: RangeError });
  t.throws(() => tileGrid(new Float32Array(8), 2, 2, 2, { gridCols: 0 }), { instanceOf: RangeError });
});

test('grayscale PNG decodes back to the same pixels', (t) => {
  const g = tileGrid(images(16, 28, 28, (i, r, c) => Math.sin(i * 1000 + r * 28 + c)), 16, 28, 28);
  const png = encodeGrayPng(g);
  t.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  t.is(png[25], 0, 'IHDR colour type 0 (grayscale)');
  t.is(png[24], 8, 'bit depth 8');
  t.is(png.byteOffset, 0);
  t.is(png.buffer.byteLength, png.byteLength, 'owns its buffer exactly');
  const back = decodePng(png);
  t.is(back.width, g.width);
  t.is(back.height, g.height);
  t.deepEqual(back.gray, g.gray);
});

test('RGBA PNG round-trips', (t) => {
  const rgba = new Uint8Array(3 * 2 * 4).map((_, i) => (i * 37) % 256);
  const png = encodePng(3, 2, rgba, 'rgba');
  t.is(png[25], 6);
  t.deepEqual(decodePng(png).rgba, rgba);
  t.throws(() => encodePng(3, 2, rgba, 'gray'), { instanceOf: RangeError });
});

test('grid PNG bytes are deterministic', (t) => {
  const a = images(64, 28, 28, (i, r, c) => Math.cos(i + r * c));
  const b = a.slice();
  const pa = encodeGridPng({ images: a, count: 64, rows: 28, cols: 28 });
  const pb = encodeGridPng({ images: b, count: 64, rows: 28, cols: 28 });
  t.deepEqual(pa, pb);
  t.deepEqual(encodeGridPng({ images: a, count: 64, rows: 28, cols: 28 }), pa);
});

test('writeFileAtomic writes a PNG that reads back, replaces old content and leaves no temp files', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'grid-png-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'samples.png');
  await writeFile(path, 'old');
  const g = tileGrid(images(4, 28, 28, (i) => i / 2 - 0.75), 4, 28, 28);
  const png = encodeGrayPng(g);
  await writeFileAtomic(path, png);
  const onDisk = await readFile(path);
  t.deepEqual(new Uint8Array(onDisk), png);
  t.deepEqual(decodePng(onDisk).gray, g.gray);
  t.deepEqual(await readdir(dir), ['samples.png']);
  await t.throwsAsync(writeFileAtomic(join(dir, 'missing', 'x.png'), png));
  t.deepEqual(await readdir(dir), ['samples.png']);
});
