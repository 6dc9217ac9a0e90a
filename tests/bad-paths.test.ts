/**
 * Path and data input checked before anything is written or inflated: a --classifier that is a
 * file is refused in one line with nothing made beside it (it used to make <file>.lock/ and train
 * for minutes), output paths in missing or read-only places are refused naming the user's path in
 * plain words (not a temporary file's errno text), and a gzip bomb in --data is refused after at
 * most the size its IDX header declares, with the process's peak memory measured.
 */
import test from 'ava';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { defaultMnistDir } from '../src/shared/data/mnist.js';
import { ROOT, runCli, tempDir } from './helpers/cli.js';
import { readOnlyDir } from './helpers/readonly.js';

const oneLine = (s: string) => s.trim().split('\n').length === 1;

test('eval --classifier <a regular file>: one line, exit 2, nothing created beside the file', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'not-a-classifier.txt');
  await writeFile(file, 'hello\n');
  const r = await runCli('eval', ['--classifier', file, '--backend', 'wasm'], { timeoutMs: 120_000 });
  t.is(r.code, 2, r.stderr);
  t.is(r.stderr.trim(), `npm run eval --: error: --classifier ${file}: is a file, not a directory`);
  t.deepEqual(await readdir(dir), ['not-a-classifier.txt']);
  t.is(await readFile(file, 'utf8'), 'hello\n');
});

test('a path under /proc, an output in a missing directory, a --curve-keys in a read-only one: one line each naming the path, no temporary file', async (t) => {
  const proc = await runCli('train', ['--classifier', '/proc/gan-classifier', '--backend', 'wasm']);
  t.is(proc.code, 2, proc.stderr);
  t.regex(proc.stderr, /--classifier \/proc\/gan-classifier: is under \/proc, a kernel file system/);
  t.true(oneLine(proc.stderr), proc.stderr);

  const dir = await tempDir(t);
  const out = join(dir, 'no', 'such', 'grid.png');
  const sample = await runCli('sample', ['--out', out, '--run-dir', dir, '--backend', 'wasm']);
  t.is(sample.code, 2, sample.stderr);
  t.is(sample.stderr.trim(), `npm run sample --: error: --out ${out}: no such directory: ${join(dir, 'no', 'such')}`);

  const { dir: ro } = await readOnlyDir(t);
  const keys = join(ro, 'cluster.keys');
  const cluster = await runCli('cluster', ['--workers', '1', '--curve-keys', keys, '--run-dir', join(dir, 'run'), '--backend', 'wasm']);
  t.is(cluster.code, 2, cluster.stderr);
  t.regex(cluster.stderr.trim(), new RegExp(`--curve-keys ${keys}: cannot be created: cannot create anything in ${ro} \\((read-only file system|permission denied)\\)$`));
  t.true(oneLine(cluster.stderr), cluster.stderr);
  t.notRegex(sample.stderr + cluster.stderr, /tmp-\d+|EROFS|ENOENT/);
  t.deepEqual(await readdir(dir), []);
});

test('a gzip bomb as --data: refused in one line once past the size its header declares; the peak memory stays far under the inflated size', async (t) => {
  const dir = await tempDir(t);
  const data = join(dir, 'data');
  await mkdir(data);
  for (const f of ['train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) await copyFile(join(defaultMnistDir(), f), join(data, f));
  // A valid header for 60,000 28×28 images, then 1 GiB of zeros: 1,024 gzip members of 1 MiB each
  // (gunzip reads concatenated members as one stream), about 1 MB on disk.
  const header = Buffer.alloc(16);
  header.writeUInt32BE(0x00000803, 0);
  header.writeUInt32BE(60000, 4);
  header.writeUInt32BE(28, 8);
  header.writeUInt32BE(28, 12);
  const mib = gzipSync(Buffer.alloc(2 ** 20), { level: 9 });
  const bomb = Buffer.concat([gzipSync(header), ...Array.from({ length: 1024 }, () => mib)]);
  await writeFile(join(data, 'train-images-idx3-ubyte.gz'), bomb);
  const rssFile = join(dir, 'max-rss');
  const r = await runCli('train', ['--backend', 'wasm', '--data', data, '--run-dir', join(dir, 'run')], {
    env: { NODE_OPTIONS: `--import=${join(ROOT, 'tests/helpers/max-rss.mjs')}`, GAN_MAX_RSS_FILE: rssFile },
  });
  const peakMiB = Number(await readFile(rssFile, 'utf8')) / 1024;
  t.log(`${(bomb.length / 2 ** 20).toFixed(1)} MiB of gzip inflating to 1 GiB: peak RSS ${peakMiB.toFixed(0)} MiB`);
  t.is(r.code, 1, r.stderr);
  t.is(r.stderr.trim(), `npm run train --: error: ${join(data, 'train-images-idx3-ubyte.gz')}: inflates past the 47040016 bytes its IDX header declares (dims 60000x28x28); stopped there (a gzip bomb, or junk after the data)`);
  t.true(peakMiB < 500, `peak RSS ${peakMiB.toFixed(0)} MiB`);
  t.deepEqual((await readdir(dir)).sort(), ['data', 'max-rss']);
});
