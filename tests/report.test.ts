/**
 * `npm run report` makes one self-contained page that renders in headless Chromium (Debian's
 * `chromium`, installed by .ci/run): the charts are there with marks, every image loads, and the
 * page asks the network for nothing.
 */
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { launchChromium } from './helpers/chromium.js';
import { pinnedClassifier } from './helpers/classifier.js';
import { runCli, tempDir } from './helpers/cli.js';

test.before(async (t) => {
  t.timeout(20 * 60_000);
  await pinnedClassifier();
});

test.serial('the report of a run renders in headless Chromium with its charts, sample grids and final grid', async (t) => {
  const dir = await tempDir(t);
  const run = join(dir, 'run');
  const tr = await runCli('train', ['--model', 'mlp', '--backend', 'wasm', '--limit', '256', '--batch-size', '64', '--epochs', '6', '--eval-every', '2', '--eval-n', '200', '--run-dir', run, '--progress', 'off', '--log-every', '1']);
  t.is(tr.code, 0, tr.stderr.slice(-2000));
  const r = await runCli('report', ['--run', run, '--backend', 'wasm']);
  t.is(r.code, 0, r.stderr.slice(-2000));
  t.regex(r.stderr, /wrote .*report\.html: 24 step lines, 3 evaluations, 6 sample grids, final 5×5 grid/);
  const html = await readFile(join(run, 'report.html'), 'utf8');
  t.notRegex(html, /<script|\bsrc="(?!data:)|href="http/, 'self-contained: no scripts, no external sources');

  const browser = await launchChromium(t);
  const page = await browser.newPage();
  const requests: string[] = [];
  page.on('request', (req) => {
    if (!req.url().startsWith('file:') && !req.url().startsWith('data:')) requests.push(req.url());
  });
  await page.goto(pathToFileURL(join(run, 'report.html')).href, { waitUntil: 'load' });
  // A string, not a function: tsx would wrap a function's inner helpers in its __name(), which the page lacks.
  const facts = (await page.evaluate(`(() => {
    const marks = (sel) => Array.from(document.querySelectorAll(sel + ' svg')).map((s) => s.querySelectorAll('path, line, rect, symbol').length);
    const imgs = Array.from(document.images).map((i) => ({ alt: i.alt, w: i.naturalWidth, h: i.naturalHeight, done: i.complete }));
    const box = document.querySelector('#eval-charts svg')?.getBoundingClientRect();
    return { training: marks('#training-charts'), evaluation: marks('#eval-charts'), imgs, evalWidth: box ? box.width : 0, text: document.body.innerText };
  })()`)) as { training: number[]; evaluation: number[]; imgs: { alt: string; w: number; h: number; done: boolean }[]; evalWidth: number; text: string };
  t.log(`training chart marks ${facts.training}, evaluation chart marks ${facts.evaluation}, images ${facts.imgs.map((i) => `${i.alt} ${i.w}×${i.h}`).join('; ')}`);
  t.is(facts.training.length, 1);
  t.true(facts.training[0] > 10, 'the training charts have marks');
  t.is(facts.evaluation.length, 1);
  t.true(facts.evaluation[0] > 10, 'the FID/score charts have marks');
  t.true(facts.evalWidth > 200, 'the charts are laid out');
  // Progression: first, quarters and last of 6 grids → 5 grids, plus the final 5×5 grid.
  t.deepEqual(facts.imgs.filter((i) => i.alt.startsWith('samples')).map((i) => i.alt), ['samples after epoch 1', 'samples after epoch 2', 'samples after epoch 3', 'samples after epoch 5', 'samples after epoch 6']);
  for (const img of facts.imgs) t.true(img.done && img.w > 0 && img.h > 0, `${img.alt} did not load`);
  const final = facts.imgs.find((i) => i.alt === 'final 5×5 grid');
  t.truthy(final);
  t.is(final!.w, final!.h, 'the final grid is square');
  t.regex(facts.text, /MNIST score/);
  t.regex(facts.text, /"model"|model/);
  t.deepEqual(requests, []);
});

test.serial('report: a missing --run or a directory that is not a run gets one line', async (t) => {
  const none = await runCli('report', []);
  t.is(none.code, 2);
  t.regex(none.stderr, /--run DIR is required/);
  const dir = await tempDir(t);
  const bad = await runCli('report', ['--run', dir]);
  t.is(bad.code, 1);
  t.regex(bad.stderr.trim(), /^npm run report --: error: --run .*: no config\.json \(not a run directory\)$/);
});
