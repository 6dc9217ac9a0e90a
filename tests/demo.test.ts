/**
 * `npm run demo`: the checkpoint's generator draws digits in headless Chromium (Debian's, as the
 * report test uses): the model loads, the page asks for nothing beyond its own server, and a seed's
 * digits are `npm run sample --seed`'s within float tolerance (one gray level); for a conditional
 * model the page offers the digit, and a digit's images are `npm run sample --digit`'s.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { launchChromium } from './helpers/chromium.js';
import { tileGrid } from '../src/shared/images/grid.js';
import { decodePng } from '../src/shared/images/png.js';
import { ROOT, runCli, tempDir } from './helpers/cli.js';

for (const [model, digit] of [['mlp', undefined], ['cmlp', 3]] as const) {
test(`${model}: the demo page draws the checkpoint's digits${digit === undefined ? '' : ` (digit ${digit})`}, offline, the same as npm run sample`, async (t) => {
  const dir = await tempDir(t);
  const run = join(dir, 'run');
  const tr = await runCli('train', ['--model', model, '--backend', 'wasm', '--limit', '128', '--batch-size', '64', '--epochs', '1', '--run-dir', run, '--progress', 'off']);
  t.is(tr.code, 0, tr.stderr.slice(-2000));
  const png = join(dir, 's.png');
  const s = await runCli('sample', ['--ckpt', 'latest', '--run-dir', run, '--backend', 'wasm', '--seed', '7', '--n', '16', '--scale', '1', '--out', png, ...(digit === undefined ? [] : ['--digit', String(digit)])]);
  t.is(s.code, 0, s.stderr);

  const server = spawn(process.execPath, ['--import=tsx', join(ROOT, 'src/cli/demo.ts'), '--ckpt', 'latest', '--run-dir', run, '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => server.kill('SIGKILL'));
  const url = await new Promise<string>((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`no URL from npm run demo within 60 s: ${err}`)), 60_000);
    server.stderr!.on('data', (d) => {
      err += d;
      const m = /at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    server.once('exit', (code) => reject(new Error(`npm run demo exited with ${code}: ${err}`)));
  });

  const browser = await launchChromium(t);
  const page = await browser.newPage();
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  const drawn = await page.evaluate(async (d) => {
    const api = await (window as unknown as { ganDemo: Promise<{ conditional: boolean; generate(seed: number, n: number, digit?: number): Promise<number[]> }> }).ganDemo;
    const floats = await api.generate(7, 16, d ?? undefined);
    // Something was drawn on the grid canvas: not all pixels black.
    const c = document.getElementById('grid') as HTMLCanvasElement;
    const px = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let lit = 0;
    for (let i = 0; i < px.length; i += 4) if (px[i] > 0) lit++;
    return { floats, lit, status: document.getElementById('status')!.textContent, conditional: api.conditional, digitShown: !document.getElementById('digit-row')!.hidden };
  }, digit ?? null);
  t.deepEqual(errors, []);
  t.true(drawn.lit > 1000, `grid canvas: ${drawn.lit} lit pixels`);
  t.regex(drawn.status ?? '', /epoch 1, step 2/);
  t.is(drawn.conditional, digit !== undefined);
  t.is(drawn.digitShown, digit !== undefined, 'the digit picker is offered for a conditional model only');
  const foreign = requests.filter((r) => !r.startsWith(url));
  t.deepEqual(foreign, [], 'the page asks only its own server');
  t.true(requests.some((r) => r.endsWith('/model/weights.bin')));

  const expected = decodePng(await readFile(png)).gray;
  const mine = tileGrid(Float32Array.from(drawn.floats), 16, 28, 28).gray;
  t.is(mine.length, expected.length);
  let worst = 0;
  for (let i = 0; i < mine.length; i++) worst = Math.max(worst, Math.abs(mine[i] - expected[i]));
  t.log(`largest gray-level difference from npm run sample: ${worst}`);
  t.true(worst <= 1, `largest gray-level difference from npm run sample: ${worst}`);
});
}
