/**
 * The evaluation tells good from bad: real images score near the real-data floor and ceiling;
 * noise, a constant image and a one-digit "generator" score clearly worse, and the one-digit set is
 * flagged as collapsed. Real classifier, real MNIST, in this process.
 */
import test from 'ava';
import { selectBackend } from '../src/shared/backend/select.js';
import { loadMnist, type MnistSplit } from '../src/shared/data/mnist.js';
import { loadClassifier, type Classifier } from '../src/shared/eval/classifier-store.js';
import { evaluateImages, type EvalResult } from '../src/shared/eval/evaluate.js';
import { accuracy, classify, FEATURE_SIZE } from '../src/shared/eval/classifier.js';
import { gaussianOf } from '../src/shared/eval/frechet.js';
import { Rng } from '../src/shared/rng.js';
import { pinnedClassifier } from './helpers/classifier.js';

let classifier: Classifier;
let train: MnistSplit;
const N = 2000;

test.before(async () => {
  const dir = await pinnedClassifier();
  await selectBackend('wasm');
  classifier = await loadClassifier(dir);
  train = await loadMnist({ split: 'train' });
});

const show = (name: string, r: EvalResult) =>
  `${name}: FID ${r.fid.toFixed(3)} (floor ${r.fidFloor.toFixed(3)}), score ${r.score.toFixed(3)} (ceiling ${r.scoreCeiling.toFixed(3)}), KL ${r.coverage.kl.toFixed(3)}, under ¼: [${r.coverage.underQuarter}], confidence ${r.confidence.generated.toFixed(3)}`;

let realFid = NaN;

test.serial('the pinned network measures on the MNIST test set what its stored reference says, and is accurate', async (t) => {
  const m = classifier.meta;
  const ref = classifier.reference;
  const testSet = await loadMnist({ split: 'test' });
  const out = await classify(classifier.model, testSet.images, testSet.count);
  const acc = accuracy(out.probs, testSet.labels, testSet.count);
  t.log(`test accuracy ${(100 * acc).toFixed(2)}% measured now, ${(100 * m.testAccuracy).toFixed(2)}% stored (${m.epochs} epochs, ${m.trainSeconds.toFixed(0)} s on ${m.backend}); floor ${ref.fidFloor.toFixed(4)}, ceiling ${ref.test.score.toFixed(3)}`);
  t.true(acc >= 0.99, `test accuracy ${acc}`);
  t.true(Math.abs(acc - ref.test.accuracy) <= 5 / testSet.count, `measured ${acc}, stored ${ref.test.accuracy}`);
  const mean = gaussianOf(out.features, out.count, FEATURE_SIZE).mean;
  const rel = Math.hypot(...mean.map((x, i) => x - ref.test.gaussian.mean[i])) / Math.hypot(...ref.test.gaussian.mean);
  t.true(rel < 1e-4, `test features' mean differs from the stored one by ${rel} (relative)`);
  t.true(ref.fidFloor > 0 && ref.fidFloor < 5, `floor ${ref.fidFloor}`);
  t.true(ref.test.score > 9 && ref.test.score <= 10, `ceiling ${ref.test.score}`);
  t.true(Math.abs(ref.test.shares.reduce((s, x) => s + x, 0) - 1) < 1e-9);
});

test.serial('10,000 real train images score near the floor and the ceiling, with every digit covered', async (t) => {
  const r = await evaluateImages(classifier, train.images.subarray(0, 10000 * 784), 10000);
  t.log(show('real (10k train)', r));
  realFid = r.fid;
  t.true(r.fid < 2 * r.fidFloor + 0.5, `FID ${r.fid} vs floor ${r.fidFloor}`);
  t.true(r.score > 0.95 * r.scoreCeiling, `score ${r.score} vs ceiling ${r.scoreCeiling}`);
  t.false(r.coverage.collapsed);
  t.true(r.coverage.kl < 0.01);
  t.true(Math.abs(r.confidence.generated - r.confidence.real) < 0.02);
});

test.serial('uniform noise, a constant image and one digit only score clearly worse; one digit is flagged collapsed', async (t) => {
  t.true(Number.isFinite(realFid), 'the real-image test ran first');
  const rng = Rng.stream(3, 'test');
  const noise = Float32Array.from({ length: N * 784 }, () => 2 * rng.uniform() - 1);
  const constant = new Float32Array(N * 784).fill(0);
  const ones: number[] = [];
  for (let i = 0; i < train.count && ones.length < N; i++) if (train.labels[i] === 1) ones.push(i);
  const single = new Float32Array(N * 784);
  ones.forEach((idx, k) => single.set(train.images.subarray(idx * 784, (idx + 1) * 784), k * 784));
  const realSmall = await evaluateImages(classifier, train.images.subarray(0, N * 784), N);
  t.log(show(`real (${N} train)`, realSmall));
  for (const [name, images] of [['noise', noise], ['constant', constant], ['single digit (1s)', single]] as const) {
    const r = await evaluateImages(classifier, images, N);
    t.log(show(name, r));
    t.true(r.fid > 10 * realSmall.fid, `${name}: FID ${r.fid} not clearly above real ${realSmall.fid}`);
    t.true(r.score < 0.5 * realSmall.score, `${name}: score ${r.score} not clearly below real ${realSmall.score}`);
    t.true(r.coverage.kl > 1, `${name}: coverage KL ${r.coverage.kl}`);
    if (name.startsWith('single')) {
      t.true(r.coverage.collapsed);
      t.deepEqual(r.coverage.underQuarter, [0, 2, 3, 4, 5, 6, 7, 8, 9]);
    }
  }
  t.false(realSmall.coverage.collapsed);
});
