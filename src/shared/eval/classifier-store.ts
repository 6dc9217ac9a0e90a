/**
 * Where the evaluation classifier lives and how it gets there: the pinned network in
 * `<repo>/assets/classifier/` by default (its sha256 is checked at every load and it is never
 * retrained in place), or `--classifier DIR`. A directory holds model.json + weights.bin (TF.js
 * layers format), reference.json (real-data statistics) and meta.json (version, accuracy, weights'
 * sha256). A missing or outdated classifier in another directory is trained and written atomically
 * (temp dir, rename) under a lock directory, so concurrent evaluations train it once.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { deserializeModel, serializeModel } from '../checkpoint/serialize.js';
import { loadMnist } from '../data/mnist.js';
import { fsyncDir, makeDirs } from '../fsutil.js';
import { trainClassifier } from './classifier.js';
import { CLASSIFIER_VERSION, classifierReady, ClassifierError, isPinnedClassifierDir, PINNED_CLASSIFIER_SHA256, type ClassifierMeta } from './classifier-files.js';

export { CLASSIFIER_DEFAULTS, classifierReady, ClassifierError, DEFAULT_CLASSIFIER_DIR, PINNED_CLASSIFIER_DIR, RETRAINED_CLASSIFIER_DIR, type ClassifierMeta } from './classifier-files.js';
import { computeReference, referenceFromJson, referenceToJson, type ReferenceStats } from './reference.js';
import { processAlive } from '../proc.js';

/** A loaded classifier with its real-data statistics. */
export interface Classifier {
  dir: string;
  model: tfl.LayersModel;
  meta: ClassifierMeta;
  reference: ReferenceStats;
}

/** Training settings of `npm run train-classifier` (and of the automatic rebuild). */
export interface BuildClassifierArgs {
  dir: string;
  epochs: number;
  batchSize: number;
  seed: number;
  /** `--data`: directory of the MNIST IDX files. */
  data?: string;
  backend: string;
  log: (line: string) => void;
}

/**
 * Loads the classifier in `dir`; throws a ClassifierError naming the problem. `expectedSha256`
 * (default: the pinned value for the pinned directory) names the exact weights required.
 */
export async function loadClassifier(dir: string, expectedSha256 = isPinnedClassifierDir(dir) ? PINNED_CLASSIFIER_SHA256 : undefined): Promise<Classifier> {
  const pinned = isPinnedClassifierDir(dir);
  const fix = pinned ? `restore the pinned network: git checkout -- ${relative(process.cwd(), dir) || '.'}` : `rebuild it: npm run train-classifier -- --out ${dir}`;
  const read = async (f: string) => {
    try {
      return await readFile(join(dir, f));
    } catch {
      throw new ClassifierError(`classifier ${dir}: ${f} is missing (${fix})`);
    }
  };
  let meta: ClassifierMeta;
  try {
    meta = JSON.parse((await read('meta.json')).toString('utf8')) as ClassifierMeta;
  } catch (err) {
    if (err instanceof ClassifierError) throw err;
    throw new ClassifierError(`classifier ${dir}: meta.json is not valid JSON`);
  }
  if (meta.version !== CLASSIFIER_VERSION) throw new ClassifierError(`classifier ${dir}: version ${meta.version}, this code needs ${CLASSIFIER_VERSION} (${fix})`);
  const weights = await read('weights.bin');
  const sha = createHash('sha256').update(weights).digest('hex');
  if (sha !== meta.sha256) throw new ClassifierError(`classifier ${dir}: weights.bin does not match the sha256 in meta.json (corrupt; ${fix})`);
  if (expectedSha256 !== undefined && sha !== expectedSha256) throw new ClassifierError(`classifier ${dir}: weights.bin has sha256 ${sha.slice(0, 12)}…, expected ${expectedSha256.slice(0, 12)}…${pinned ? ", the pinned network's" : ''} (${fix})`);
  let model: tfl.LayersModel;
  let reference: ReferenceStats;
  try {
    model = await deserializeModel((await read('model.json')).toString('utf8'), new Uint8Array(weights), `classifier ${dir}`);
    reference = referenceFromJson((await read('reference.json')).toString('utf8'));
  } catch (err) {
    if (err instanceof ClassifierError) throw err;
    throw new ClassifierError(`classifier ${dir}: ${(err as Error).message.split('\n')[0]}`);
  }
  return { dir, model, meta, reference };
}

/** Trains a classifier on the MNIST train images, measures it on the test images and writes it to `args.dir` atomically. */
export async function buildClassifier(args: BuildClassifierArgs): Promise<ClassifierMeta> {
  if (isPinnedClassifierDir(args.dir)) throw new ClassifierError(`${args.dir} holds the pinned network, which is never retrained in place; write to another directory (--out)`);
  const [train, test] = [await loadMnist({ dir: args.data, split: 'train' }), await loadMnist({ dir: args.data, split: 'test' })];
  args.log(`classifier: training on ${train.count} images, ${args.epochs} epoch(s) of batch ${args.batchSize} (backend ${args.backend})`);
  const t0 = performance.now();
  let last = 0;
  const model = await trainClassifier({
    images: train.images, labels: train.labels, count: train.count, epochs: args.epochs, batchSize: args.batchSize, seed: args.seed,
    onProgress: (e, frac, loss, acc) => {
      const now = performance.now();
      if (now - last < 10_000 && frac < 1) return;
      last = now;
      args.log(`classifier: epoch ${e + 1}/${args.epochs} ${(100 * frac).toFixed(0)}% | loss ${loss.toFixed(3)} acc ${acc.toFixed(3)} | ${((now - t0) / 1000).toFixed(0)} s`);
    },
  });
  const trainSeconds = (performance.now() - t0) / 1000;
  args.log(`classifier: trained in ${trainSeconds.toFixed(0)} s; computing the real-data reference (test features, train-vs-test FID floor)`);
  const reference = await computeReference({ classifier: model, test, train });
  const testAccuracy = reference.test.accuracy;
  const { modelJson, weights } = await serializeModel(model);
  const meta: ClassifierMeta = {
    version: CLASSIFIER_VERSION, sha256: createHash('sha256').update(weights).digest('hex'), testAccuracy, epochs: args.epochs, trainSeconds, backend: args.backend, createdAt: new Date().toISOString(),
  };
  model.dispose();
  const tmp = `${args.dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await makeDirs(tmp);
  await writeFile(join(tmp, 'model.json'), modelJson);
  await writeFile(join(tmp, 'weights.bin'), weights);
  await writeFile(join(tmp, 'reference.json'), referenceToJson(reference));
  await writeFile(join(tmp, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
  await fsyncDir(tmp);
  // Replace an outdated classifier only now that the new one is complete.
  await rm(args.dir, { recursive: true, force: true });
  await rename(tmp, args.dir);
  await fsyncDir(dirname(args.dir));
  args.log(`classifier: test accuracy ${(100 * testAccuracy).toFixed(2)}%, FID floor (train vs test) ${reference.fidFloor.toFixed(3)}, MNIST score ceiling (test) ${reference.test.score.toFixed(3)}; saved to ${args.dir}`);
  return meta;
}

/** Runs `fn` holding `<dir>.lock` (a directory with the holder's pid); waits for a live holder, clears a dead one's. */
async function withLock<T>(dir: string, log: (l: string) => void, fn: () => Promise<T>): Promise<T> {
  const lock = `${dir}.lock`;
  await makeDirs(dirname(dir));
  let told = false;
  for (;;) {
    try {
      await mkdir(lock);
      await writeFile(join(lock, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(await readFile(join(lock, 'pid'), 'utf8').catch(() => ''));
      if (pid > 0 && !processAlive(pid)) {
        await rm(lock, { recursive: true, force: true });
        continue;
      }
      if (!told) log(`classifier: another process (pid ${pid || '?'}) is building it; waiting`);
      told = true;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/** `buildClassifier` under the directory's lock (what `npm run train-classifier` runs). */
export function buildClassifierLocked(args: BuildClassifierArgs): Promise<ClassifierMeta> {
  return withLock(args.dir, args.log, () => buildClassifier(args));
}

/** The classifier in `args.dir`, trained first when missing or outdated (never the pinned one). Needs a TensorFlow backend. */
export async function ensureClassifier(args: BuildClassifierArgs): Promise<Classifier> {
  if (!isPinnedClassifierDir(args.dir) && !(await classifierReady(args.dir))) {
    await withLock(args.dir, args.log, async () => {
      if (!(await classifierReady(args.dir))) {
        args.log(`classifier: none usable in ${args.dir}; training one (npm run train-classifier does this explicitly)`);
        await buildClassifier(args);
      }
    });
  }
  return loadClassifier(args.dir);
}
