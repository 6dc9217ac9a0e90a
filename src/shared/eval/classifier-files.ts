/**
 * The evaluation classifier's place on disk and the checks that need no TensorFlow (the cluster
 * launcher runs them before starting workers).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/** Bumped whenever the architecture or training recipe changes: a cached classifier with another version is rebuilt. */
export const CLASSIFIER_VERSION = 2;

/**
 * Adam's learning rate for each epoch; later epochs keep the last entry. Measured here (wasm, batch
 * 64): 98.76% after two epochs at 1e-3, 99.06% after a third at 3e-4, 99.13% after a fourth at 1e-4.
 */
export const LEARNING_RATES: readonly number[] = [1e-3, 1e-3, 3e-4, 1e-4];

/** Training settings of the recipe: one epoch per learning rate. The train-classifier flags default to these. */
export const CLASSIFIER_DEFAULTS = { epochs: LEARNING_RATES.length, batchSize: 64, seed: 1 };

/** Thrown for a classifier directory that can't be used; one line. */
export class ClassifierError extends Error {}

const REPO = resolve(import.meta.dirname, '..', '..', '..');

/**
 * The pinned evaluation network, shipped in the repository (as pytorch-fid pins its Inception
 * weights): every FID and score means the same on every machine. Used unless `--classifier DIR`.
 */
export const PINNED_CLASSIFIER_DIR = join(REPO, 'assets', 'classifier');

/** sha256 of the pinned network's weights.bin; checked whenever it is loaded. */
export const PINNED_CLASSIFIER_SHA256 = 'c012a6108302708249ea5e4a8f82e74995577882e4904d7cca6fb4db281c7e14';

/** Where `npm run train-classifier` writes by default: a retrained network never replaces the pinned one. */
export const RETRAINED_CLASSIFIER_DIR = join(REPO, '.cache', 'classifier');

/** The classifier evaluations use when no `--classifier` is given. */
export const DEFAULT_CLASSIFIER_DIR = PINNED_CLASSIFIER_DIR;

/** Whether `dir` is the pinned network's directory. */
export function isPinnedClassifierDir(dir: string): boolean {
  return resolve(dir) === PINNED_CLASSIFIER_DIR;
}

/** meta.json of a saved classifier. */
export interface ClassifierMeta {
  version: number;
  /** sha256 of weights.bin: names the exact classifier numbers were measured with. */
  sha256: string;
  testAccuracy: number;
  epochs: number;
  trainSeconds: number;
  backend: string;
  createdAt: string;
}

/** Whether `dir` holds a complete classifier of the current version (no TensorFlow needed). */
export async function classifierReady(dir: string): Promise<boolean> {
  try {
    const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as ClassifierMeta;
    return meta.version === CLASSIFIER_VERSION && ['model.json', 'weights.bin', 'reference.json'].every((f) => existsSync(join(dir, f)));
  } catch {
    return false;
  }
}

