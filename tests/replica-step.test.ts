import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/shared/backend/select.js';
import { Replica } from '../src/shared/replica.js';
import { Rng } from '../src/shared/rng.js';
import { changedWeights, snapshotWeights } from './helpers/tf.js';

const BATCH = 8;
const adam = { lr: 2e-4, beta1: 0.5, beta2: 0.999 };

test.before(async () => {
  await selectBackend('wasm');
});

function realBatch(seed: number, size: number): Float32Array {
  const rng = Rng.stream(seed, 'test');
  return Float32Array.from({ length: BATCH * size }, () => rng.uniform() * 2 - 1);
}

/** The batch's digits: required by the conditional models, ignored by the others. */
const LABELS = Uint8Array.from({ length: BATCH }, (_, i) => (3 * i) % 10);

for (const model of ['mlp', 'dcgan', 'cmlp', 'cdcgan'] as const) {
  test.serial(`${model}: a D step changes every D weight and no G weight (BatchNorm statistics included)`, async (t) => {
    const r = new Replica({ model, latent: 100, seed: 3, adam });
    const [g0, d0] = [snapshotWeights(r.gan.generator), snapshotWeights(r.gan.discriminator)];
    await r.discriminatorStep(realBatch(1, 784), BATCH, { epoch: 0, step: 0, rank: 0, world: 1 }, undefined, LABELS);
    t.deepEqual(changedWeights(g0, snapshotWeights(r.gan.generator)), []);
    t.deepEqual(changedWeights(d0, snapshotWeights(r.gan.discriminator)).sort(), [...d0.keys()].sort());
  });

  test.serial(`${model}: a G step changes G's weights and no D weight`, async (t) => {
    const r = new Replica({ model, latent: 100, seed: 3, adam });
    const [g0, d0] = [snapshotWeights(r.gan.generator), snapshotWeights(r.gan.discriminator)];
    await r.generatorStep(BATCH, { epoch: 0, step: 0, rank: 0, world: 1 }, undefined, LABELS);
    t.deepEqual(changedWeights(d0, snapshotWeights(r.gan.discriminator)), []);
    // Every trainable G weight moves; the BatchNorm moving statistics move too (training mode).
    t.deepEqual(changedWeights(g0, snapshotWeights(r.gan.generator)).sort(), [...g0.keys()].sort());
  });

  test.serial(`${model}: a training step leaks no tensors`, async (t) => {
    const r = new Replica({ model, latent: 100, seed: 3, adam });
    const real = realBatch(2, 784);
    await r.trainStep(real, BATCH, { epoch: 0, step: 0, rank: 0, world: 1 }, undefined, LABELS); // warm-up: lazily created state
    const before = tf.memory().numTensors;
    const bytes = tf.memory().numBytes;
    await r.trainStep(real, BATCH, { epoch: 0, step: 1, rank: 0, world: 1 }, undefined, LABELS);
    await r.trainStep(real, BATCH, { epoch: 0, step: 2, rank: 0, world: 1 }, undefined, LABELS);
    t.is(tf.memory().numTensors, before);
    t.is(tf.memory().numBytes, bytes);
  });
}

test.serial('a conditional model refuses a step without the batch\'s labels', async (t) => {
  const r = new Replica({ model: 'cmlp', latent: 100, seed: 3, adam });
  await t.throwsAsync(r.trainStep(realBatch(1, 784), BATCH, { epoch: 0, step: 0, rank: 0, world: 1 }), { message: /model cmlp is conditional: its step needs the batch's labels/ });
});

test.serial('cmlp: the labels change the step (another digit for the same images and noise gives other losses)', async (t) => {
  const run = async (labels: Uint8Array) => {
    const r = new Replica({ model: 'cmlp', latent: 100, seed: 5, adam });
    const s = await r.trainStep(realBatch(4, 784), BATCH, { epoch: 0, step: 0, rank: 0, world: 1 }, undefined, labels);
    return [s.lossD, s.lossG];
  };
  t.deepEqual(await run(LABELS), await run(LABELS));
  t.notDeepEqual(await run(LABELS), await run(LABELS.map((d) => (d + 1) % 10)));
});

test.serial('the same seed and position give the same losses; another step gives other noise', async (t) => {
  const run = async (step: number) => {
    const r = new Replica({ model: 'mlp', latent: 100, seed: 5, adam });
    const s = await r.trainStep(realBatch(4, 784), BATCH, { epoch: 0, step, rank: 0, world: 1 });
    return [s.lossD, s.lossG, s.dReal, s.dFake];
  };
  t.deepEqual(await run(0), await run(0));
  t.notDeepEqual(await run(0), await run(1));
});

test.serial('a non-finite gradient is skipped, not applied', async (t) => {
  const r = new Replica({ model: 'mlp', latent: 100, seed: 3, adam });
  const d0 = snapshotWeights(r.gan.discriminator);
  const poison = (buf: Float32Array) => {
    buf[0] = Number.NaN;
  };
  const out = await r.discriminatorStep(realBatch(1, 784), BATCH, { epoch: 0, step: 0, rank: 0, world: 1 }, poison);
  t.true(out.skipped);
  t.deepEqual(changedWeights(d0, snapshotWeights(r.gan.discriminator)), []);
});
