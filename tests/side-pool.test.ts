import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { threadId as mainThreadId } from 'node:worker_threads';
import { decodePng } from '../src/shared/images/png.js';
import { renderLossSvg } from '../src/shared/images/plot.js';
import { tileGrid } from '../src/shared/images/grid.js';
import { writeFileAtomic } from '../src/shared/fsutil.js';
import { SidePool } from '../src/shared/pool/side-pool.js';

const pool = new SidePool();
let dir = '';

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'side-pool-'));
});
test.after.always(async () => {
  await pool.close();
  await rm(dir, { recursive: true, force: true });
});

test.serial('tasks run in a worker thread, not on the main thread', async (t) => {
  const t0 = performance.now();
  const info = await pool.threadInfo();
  t.log(`first task (worker start + tsx + module load): ${(performance.now() - t0).toFixed(0)} ms`);
  t.not(info.threadId, mainThreadId);
  t.true(info.threadId > 0);
  t.is(pool.threads, 1, 'documented default: one thread');
  const busy = await pool.busy(5);
  t.is(busy.threadId, info.threadId);
});

test.serial('gridPng: worker-made PNG equals the tiled pixels; caller data stays intact', async (t) => {
  for (const count of [16, 64]) {
    const images = new Float32Array(count * 784 + 10).map((_, i) => Math.sin(i * 0.37));
    const before = images.slice();
    const t0 = performance.now();
    const png = await pool.gridPng(images, count, 28, 28);
    t.log(`grid PNG, ${count} images: ${(performance.now() - t0).toFixed(1)} ms, ${png.length} bytes`);
    t.true(png instanceof Uint8Array);
    t.is(images.length, count * 784 + 10, 'caller buffer not detached by the transfer');
    t.deepEqual(images, before, 'caller data not mutated');
    const decoded = decodePng(png);
    const expected = tileGrid(images, count, 28, 28);
    t.is(decoded.width, expected.width);
    t.deepEqual(decoded.gray, expected.gray);
    const path = join(dir, `grid-${count}.png`);
    await writeFileAtomic(path, png);
    t.deepEqual(new Uint8Array(await readFile(path)), png);
  }
  await t.throwsAsync(pool.gridPng(new Float32Array(10), 1, 28, 28), { instanceOf: RangeError });
});

test.serial('lossSvg: same SVG as rendering in-process; caller arrays untouched', async (t) => {
  const n = 250_000;
  const step = Array.from({ length: n }, (_, i) => i);
  const d = new Float64Array(n).map((_, i) => 0.7 + 0.1 * Math.sin(i / 100));
  const g = step.map((i) => 1.5 + 0.2 * Math.cos(i / 300));
  const charts = { title: 'GAN losses', step, series: [{ name: 'D loss', values: d }, { name: 'G loss', values: g }] };
  const t0 = performance.now();
  const svg = await pool.lossSvg(charts);
  t.log(`loss SVG, 250k steps x 2 series (cold in worker): ${(performance.now() - t0).toFixed(0)} ms`);
  const t1 = performance.now();
  await pool.lossSvg(charts);
  t.log(`loss SVG, 250k steps x 2 series (warm): ${(performance.now() - t1).toFixed(0)} ms, ${svg.length} chars`);
  t.is(d.length, n, 'typed array not detached');
  t.is(step.length, n);
  t.is(svg, await renderLossSvg(charts));
  t.true(svg.includes('>GAN losses<'));
});

test.serial('sha256File matches node:crypto on a real file', async (t) => {
  const path = join(dir, 'blob.bin');
  const data = randomBytes(5 * 1024 * 1024 + 123);
  await writeFile(path, data);
  t.is(await pool.sha256File(path), createHash('sha256').update(data).digest('hex'));
  const empty = join(dir, 'empty.bin');
  await writeFile(empty, '');
  t.is(await pool.sha256File(empty), createHash('sha256').digest('hex'));
  await t.throwsAsync(pool.sha256File(join(dir, 'missing.bin')), { message: /ENOENT/ });
});

test.serial('the main event loop keeps ticking while a long task runs', async (t) => {
  const ms = 600;
  const ticks: number[] = [];
  const timer = setInterval(() => ticks.push(performance.now()), 10);
  const t0 = performance.now();
  const res = await pool.busy(ms);
  clearInterval(timer);
  t.true(performance.now() - t0 >= ms);
  t.true(res.iterations > 0);
  let maxGap = 0;
  for (let i = 1; i < ticks.length; i++) maxGap = Math.max(maxGap, ticks[i]! - ticks[i - 1]!);
  t.log(`${ticks.length} ticks during a ${ms} ms worker task, max gap ${maxGap.toFixed(1)} ms`);
  t.true(ticks.length >= ms / 10 / 3, `only ${ticks.length} ticks`);
  t.true(maxGap < 200, `event loop stalled for ${maxGap} ms`);
});

test.serial('close waits for queued work, then refuses new tasks', async (t) => {
  const p = new SidePool({ threads: 2 });
  t.is(p.threads, 2);
  const pending = p.busy(50);
  await p.close();
  t.true((await pending).iterations > 0);
  await t.throwsAsync(p.threadInfo(), { message: /closed/ });
  await p.close(); // idempotent
});
