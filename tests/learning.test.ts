/**
 * A short real run learns. After 300 MLP steps on wasm the generator's pixel distribution has moved
 * toward MNIST's: MNIST is mostly background near -1 (85% of pixels below -0.6) with a few strokes
 * near +1, while an untrained generator's tanh outputs sit around 0 (<1% below -0.6). Two checks,
 * both of which the untrained generator (same seed, step 0) must fail:
 *  - at least 40% of generated pixels are background-dark (< -0.6);
 *  - the 1-D Wasserstein distance of the pixel values to MNIST's is under 60% of the untrained one.
 * Seen here (seed 1): 51% dark and a W1 ratio of 0.42 after these 300 steps (61% dark after one
 * full-MNIST epoch of 468 steps at batch 128).
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import { join } from 'node:path';
import { selectBackend } from '../src/shared/backend/select.js';
import { readCheckpoint } from '../src/shared/checkpoint/load.js';
import { resolveCheckpoint } from '../src/shared/checkpoint/store.js';
import { loadMnist } from '../src/shared/data/mnist.js';
import { buildGan } from '../src/shared/models/index.js';
import { Rng } from '../src/shared/rng.js';
import type * as tfl from '@tensorflow/tfjs-layers';
import { runCli, tempDir } from './helpers/cli.js';

const N = 256;
const DARK = -0.6;

/** Sorted pixel values of N generated images (fixed noise). */
function generatedPixels(g: tfl.LayersModel): Float32Array {
  const z = Rng.stream(0, 'sample').fillNormal(new Float32Array(N * 100));
  return tf.tidy(() => (g.predict(tf.tensor(z, [N, 100])) as tf.Tensor).dataSync() as Float32Array).slice().sort();
}

/** 1-D Wasserstein-1 distance between two sorted samples, by quantiles. */
function wasserstein(a: Float32Array, b: Float32Array): number {
  const q = 2000;
  let sum = 0;
  for (let i = 0; i < q; i++) {
    const p = (i + 0.5) / q;
    sum += Math.abs(a[Math.floor(p * a.length)] - b[Math.floor(p * b.length)]);
  }
  return sum / q;
}

const darkShare = (x: Float32Array) => x.filter((v) => v < DARK).length / x.length;

test('300 MLP steps on wasm move the generated pixel distribution toward MNIST', async (t) => {
  const dir = await tempDir(t);
  const run = join(dir, 'run');
  const r = await runCli('train', ['--model', 'mlp', '--backend', 'wasm', '--epochs', '3', '--limit', '6400', '--batch-size', '64', '--seed', '1', '--run-dir', run, '--checkpoint-every', '3'], { timeoutMs: 900_000 });
  t.is(r.code, 0, r.stderr);

  await selectBackend('wasm');
  const real = (await loadMnist({ split: 'test', limit: 1000 })).images.slice().sort();
  const trained = generatedPixels((await readCheckpoint(await resolveCheckpoint('latest', run))).generator);
  const untrained = generatedPixels(buildGan('mlp', { latent: 100, seed: 1 }).generator);

  const [wTrained, wUntrained] = [wasserstein(trained, real), wasserstein(untrained, real)];
  t.log(`dark share: real ${darkShare(real).toFixed(3)}, trained ${darkShare(trained).toFixed(3)}, untrained ${darkShare(untrained).toFixed(3)}`);
  t.log(`W1 to MNIST: trained ${wTrained.toFixed(3)}, untrained ${wUntrained.toFixed(3)}`);

  // The check fails for the generator that did not learn...
  t.true(darkShare(untrained) < 0.4);
  // ...and holds for the trained one.
  t.true(darkShare(trained) >= 0.4, `dark share ${darkShare(trained)}`);
  t.true(wTrained < 0.6 * wUntrained, `W1 ratio ${wTrained / wUntrained}`);
});
