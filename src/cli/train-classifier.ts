/**
 * `npm run train-classifier`: retrain the evaluation's MNIST classifier with the pinned network's
 * recipe (into .cache/classifier by default; the pinned one is never replaced) and report how close
 * it came to the pinned network: accuracy, floor, ceiling, and how often the two agree on a test image.
 */
import { resolve } from 'node:path';
import { selectBackend, type BackendName } from '../shared/backend/select.js';
import { CLASSIFIER_FLAGS } from '../shared/config.js';
import { loadMnist } from '../shared/data/mnist.js';
import { argmax, classify, NUM_CLASSES } from '../shared/eval/classifier.js';
import { buildClassifierLocked, loadClassifier, PINNED_CLASSIFIER_DIR, RETRAINED_CLASSIFIER_DIR, type Classifier } from '../shared/eval/classifier-store.js';
import { checkPathFlags } from '../shared/path-flags.js';
import { runCli } from './main.js';

/** Share of test images both classifiers put in the same class. */
async function agreement(a: Classifier, b: Classifier, data?: string): Promise<number> {
  const test = await loadMnist({ dir: data, split: 'test' });
  const [pa, pb] = [(await classify(a.model, test.images, test.count)).probs, (await classify(b.model, test.images, test.count)).probs];
  let same = 0;
  for (let i = 0; i < test.count; i++) if (argmax(pa, i * NUM_CLASSES, NUM_CLASSES) === argmax(pb, i * NUM_CLASSES, NUM_CLASSES)) same++;
  return same / test.count;
}

await runCli('npm run train-classifier --', CLASSIFIER_FLAGS, async (flags) => {
  checkPathFlags(flags, { out: 'dir' });
  const backend = await selectBackend(flags.backend as BackendName);
  const dir = resolve((flags.out as string | undefined) ?? RETRAINED_CLASSIFIER_DIR);
  const log = (l: string) => process.stderr.write(l + '\n');
  const data = flags.data as string | undefined;
  await buildClassifierLocked({
    dir, epochs: flags.epochs as number, batchSize: flags['batch-size'] as number, seed: flags.seed as number, data, backend: backend.name, log,
  });
  const [fresh, pinned] = [await loadClassifier(dir), await loadClassifier(PINNED_CLASSIFIER_DIR)];
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  log(`against the pinned network: test accuracy ${pct(fresh.meta.testAccuracy)} vs ${pct(pinned.meta.testAccuracy)}, FID floor ${fresh.reference.fidFloor.toFixed(3)} vs ${pinned.reference.fidFloor.toFixed(3)}, score ceiling ${fresh.reference.test.score.toFixed(3)} vs ${pinned.reference.test.score.toFixed(3)}, same class on ${pct(await agreement(fresh, pinned, data))} of the test images`);
  log(`evaluate with it: --classifier ${dir} (FIDs from different networks do not compare; docs/evaluation.md says which network each of its figures used)`);
});
