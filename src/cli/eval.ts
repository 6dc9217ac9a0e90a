/** `npm run eval`: FID, MNIST score and digit coverage of a checkpoint's generator, or of images from files. */
import { resolve } from 'node:path';
import { selectBackend, type BackendName } from '../shared/backend/select.js';
import { readCheckpoint } from '../shared/checkpoint/load.js';
import { resolveCheckpoint } from '../shared/checkpoint/store.js';
import { EVAL_FLAGS, FlagError, givenFlags } from '../shared/config.js';
import { CLASSIFIER_DEFAULTS, DEFAULT_CLASSIFIER_DIR, ensureClassifier } from '../shared/eval/classifier-store.js';
import { evalLabelsFor, evalNoise, evaluateImages, generateImages, summaryLine } from '../shared/eval/evaluate.js';
import { writeFileAtomic } from '../shared/fsutil.js';
import { loadImageSet } from '../shared/images/image-set.js';
import { checkPathFlags } from '../shared/path-flags.js';
import { runCli } from './main.js';

/** The images to score and what they are, from a checkpoint or from files. */
interface Scored {
  images: Float32Array;
  n: number;
  /** The "images" line of the report. */
  what: string;
  /** Fields of the JSON report naming the source. */
  source: Record<string, unknown>;
  /** The digits a conditional generator was asked for (image i: digit i mod 10). */
  labels?: Uint8Array;
}

await runCli('npm run eval --', EVAL_FLAGS, async (flags) => {
  const log = (l: string) => process.stderr.write(l + '\n');
  // Before anything is written or trained: a --classifier that is a file once made <file>.lock beside it.
  checkPathFlags(flags, { classifier: 'dir', json: 'file' });
  const given = givenFlags(flags);
  const imagesPath = flags.images as string | undefined;
  if (imagesPath !== undefined) {
    const clash = ['ckpt', 'run-dir', 'n', 'seed'].filter((f) => given.has(f));
    if (clash.length) throw new FlagError(`--images scores the files as they are; --${clash.join(', --')} choose(s) a checkpoint's images and can't be combined with it`);
  }
  const backend = await selectBackend(flags.backend as BackendName);
  const t0 = performance.now();
  let scored: Scored;
  if (imagesPath !== undefined) {
    const set = await loadImageSet(imagesPath, flags['grid-padding'] as number);
    log(`eval: ${set.description}`);
    scored = { images: set.images, n: set.count, what: set.description, source: { imagesFrom: resolve(imagesPath) } };
  } else {
    const dir = await resolveCheckpoint(flags.ckpt as string, flags['run-dir'] as string | undefined);
    const ckpt = await readCheckpoint(dir);
    const n = flags.n as number;
    const seed = flags.seed as number;
    const latent = ckpt.state.latent;
    log(`eval: generating ${n} images from ${dir} (epoch ${ckpt.state.epoch}, step ${ckpt.state.globalStep}), seed ${seed}, backend ${backend.name}`);
    const labels = evalLabelsFor(ckpt.generator, n, latent);
    const images = await generateImages(ckpt.generator, evalNoise(seed, n, latent), n, latent, undefined, labels);
    scored = {
      images, n, labels, what: `${n} generated from ${dir} (epoch ${ckpt.state.epoch}, seed ${seed})`,
      source: { checkpoint: dir, epoch: ckpt.state.epoch, globalStep: ckpt.state.globalStep, model: (ckpt.state.config as { model?: string }).model, seed },
    };
  }
  const classifierDir = resolve((flags.classifier as string | undefined) ?? DEFAULT_CLASSIFIER_DIR);
  const classifier = await ensureClassifier({ dir: classifierDir, ...CLASSIFIER_DEFAULTS, data: flags.data as string | undefined, backend: backend.name, log });
  log(`eval: classifying ${scored.n} images against the ${classifier.reference.test.count} test images`);
  const result = await evaluateImages(classifier, scored.images, scored.n, scored.labels);
  const seconds = (performance.now() - t0) / 1000;
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  process.stdout.write(
    [
      `images          ${scored.what} vs ${classifier.reference.test.count} test`,
      `FID             ${result.fid.toFixed(3)}   (real-data floor: train vs test ${result.fidFloor.toFixed(3)})`,
      `MNIST score     ${result.score.toFixed(3)}   (ceiling: test images ${result.scoreCeiling.toFixed(3)})`,
      `digit shares    ${result.coverage.shares.map((s, k) => `${k}:${pct(s)}`).join(' ')}`,
      `coverage        KL to test shares ${result.coverage.kl.toFixed(4)}; digits under a quarter of their share: ${result.coverage.underQuarter.length ? result.coverage.underQuarter.join(', ') + ' (MODE COLLAPSE)' : 'none'}`,
      `confidence      ${result.confidence.generated.toFixed(3)} generated, ${result.confidence.real.toFixed(3)} test`,
      ...(result.conditional
        ? [`conditional     ${pct(result.conditional.accuracy)} classified as the digit asked for; by digit ${result.conditional.perDigit.map((a, k) => `${k}:${pct(a)}`).join(' ')}`]
        : []),
      `classifier      ${classifierDir} (test accuracy ${pct(result.classifier.testAccuracy)}, sha256 ${result.classifier.sha256.slice(0, 12)})`,
      '',
    ].join('\n'),
  );
  if (flags.json) await writeFileAtomic(flags.json as string, JSON.stringify({ ...scored.source, ...result, seconds }, null, 2) + '\n');
  log(`eval: done in ${seconds.toFixed(1)} s: ${summaryLine(result)}`);
});
