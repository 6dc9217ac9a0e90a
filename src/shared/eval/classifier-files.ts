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

/** The repository's default classifier directory (independent of the working directory). */
export const DEFAULT_CLASSIFIER_DIR = resolve(import.meta.dirname, '..', '..', '..', '.cache', 'classifier');

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

