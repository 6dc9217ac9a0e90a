/**
 * `npm run eval --images`: the same 400 real digits as a uint8 .npy, a float .npy in [-1, 1], a
 * directory of PNGs at 2× scale and one PNG grid all score the same numbers, as real digits do
 * (near the floor and ceiling); files that are not digit images get one line.
 */
import test from 'ava';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dump } from 'npyjs';
import { loadMnist } from '../src/shared/data/mnist.js';
import { tileGrid, toByte } from '../src/shared/images/grid.js';
import { encodeGrayPng, encodePng } from '../src/shared/images/png.js';
import { pinnedClassifier } from './helpers/classifier.js';
import { runCli, tempDir } from './helpers/cli.js';

const N = 400;

test.before(async () => {
  await pinnedClassifier();
});

/** `img` (784 floats) drawn at `s`× scale as gray bytes. */
function scaled(img: Float32Array, s: number): Uint8Array {
  const side = 28 * s;
  const out = new Uint8Array(side * side);
  for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) out[y * side + x] = toByte(img[Math.floor(y / s) * 28 + Math.floor(x / s)]);
  return out;
}

test('a uint8 .npy, a float .npy, a PNG directory at 2× and a PNG grid of the same digits score the same', async (t) => {
  const dir = await tempDir(t);
  const test = await loadMnist({ split: 'test' });
  const images = test.images.subarray(0, N * 784);
  await writeFile(join(dir, 'u8.npy'), new Uint8Array(dump(Uint8Array.from(images, toByte), [N, 28, 28])));
  await writeFile(join(dir, 'f32.npy'), new Uint8Array(dump(Float32Array.from(images), [N, 1, 28, 28])));
  await mkdir(join(dir, 'pngs'));
  for (let i = 0; i < N; i++) await writeFile(join(dir, 'pngs', `${String(i).padStart(4, '0')}.png`), encodePng(56, 56, scaled(images.subarray(i * 784, (i + 1) * 784), 2)));
  // 21 columns: the last row has blank cells, which are not images.
  await writeFile(join(dir, 'grid.png'), encodeGrayPng(tileGrid(images, N, 28, 28, { gridCols: 21 })));

  const fids: number[] = [];
  for (const source of ['u8.npy', 'f32.npy', 'pngs', 'grid.png']) {
    const json = join(dir, `${source}.json`);
    const r = await runCli('eval', ['--images', join(dir, source), '--backend', 'wasm', '--json', json]);
    t.is(r.code, 0, r.stderr.slice(-1500));
    const out = JSON.parse(await readFile(json, 'utf8'));
    t.is(out.images, N, source);
    t.log(`${source}: FID ${out.fid.toFixed(3)}, score ${out.score.toFixed(3)}`);
    fids.push(out.fid);
    t.true(out.score > 9, `${source}: real digits score ${out.score}`);
    t.false(out.coverage.collapsed);
  }
  for (const f of fids) t.true(Math.abs(f - fids[0]) <= 1e-9 * fids[0], `FIDs differ: ${fids.join(', ')}`);
});

test('files that are not digit images, and --images with checkpoint flags, get one line', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'wide.npy'), new Uint8Array(dump(new Float32Array(50), [5, 10])));
  await writeFile(join(dir, 'big.npy'), new Uint8Array(dump(new Float32Array(2 * 784).fill(3), [2, 784])));
  await writeFile(join(dir, 'odd.png'), encodePng(45, 45, new Uint8Array(45 * 45)));
  await writeFile(join(dir, 'x.txt'), 'hello');
  const cases: [string[], RegExp, number][] = [
    [['--images', join(dir, 'wide.npy')], /wide\.npy: shape \(5, 10\), expected \(N, 784\)/, 1],
    [['--images', join(dir, 'big.npy')], /big\.npy: values span \[3, 3\], expected \[0, 1\] or \[-1, 1\]/, 1],
    [['--images', join(dir, 'odd.png')], /odd\.png: 45×45 is not a grid of 28·s-pixel tiles with 2-pixel padding/, 1],
    [['--images', join(dir, 'x.txt')], /x\.txt: expected a \.npy file, a \.png grid or a directory of PNGs/, 1],
    [['--images', join(dir, 'none')], /none: no such file or directory/, 1],
    [['--images', join(dir, 'wide.npy'), '--ckpt', 'latest'], /--images scores the files as they are; --ckpt/, 2],
  ];
  for (const [args, re, code] of cases) {
    const r = await runCli('eval', [...args, '--backend', 'wasm']);
    t.is(r.code, code, r.stderr);
    t.regex(r.stderr, re);
    t.is(r.stderr.trim().split('\n').filter((l) => l.includes('error')).length, 1, r.stderr);
  }
});
