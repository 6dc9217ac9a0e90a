/**
 * G's forward pass runs once per step (src/shared/step.ts): trainStep's D half records it on a
 * gradient tape and its G half backpropagates through that recording. The reference is the same
 * step with G's forward pass run again in G's half (discriminatorStep then generatorStep, which
 * record nothing for each other): weights, BatchNorm statistics and losses must agree bit for bit.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/shared/backend/select.js';
import { Replica } from '../src/shared/replica.js';
import { recordGeneratorForward, disposeGeneratorForward } from '../src/shared/step.js';
import { Rng } from '../src/shared/rng.js';
import { snapshotWeights } from './helpers/tf.js';

const BATCH = 8;
const adam = { lr: 2e-4, beta1: 0.5, beta2: 0.999 };

test.before(async () => {
  await selectBackend('wasm');
});

function batchOf(seed: number, size: number): Float32Array {
  const rng = Rng.stream(seed, 'test');
  return Float32Array.from({ length: BATCH * size }, () => rng.uniform() * 2 - 1);
}

for (const model of ['mlp', 'dcgan', 'cmlp', 'cdcgan'] as const) {
  test.serial(`${model}: a step with G's forward pass recorded once equals the step that runs it twice, bit for bit`, async (t) => {
    const seed = 7 + model.length;
    const [once, twice] = [new Replica({ model, latent: 100, seed, adam }), new Replica({ model, latent: 100, seed, adam })];
    for (let step = 0; step < 3; step++) {
      const [real, labels] = [batchOf(10 + step, 784), Uint8Array.from({ length: BATCH }, (_, i) => (i + step) % 10)];
      const pos = { epoch: 0, step, rank: 0, world: 1 };
      const a = await once.trainStep(real, BATCH, pos, undefined, labels);
      const d = await twice.discriminatorStep(real, BATCH, pos, undefined, labels);
      const g = await twice.generatorStep(BATCH, pos, undefined, labels);
      t.deepEqual([a.lossD, a.lossG, a.dReal, a.dFake, a.dFakeForG], [d.lossD, g.lossG, d.dReal, d.dFake, g.dFakeForG], `step ${step}: losses`);
    }
    for (const net of ['generator', 'discriminator'] as const) {
      // In order (layer names differ between the two models: tfjs numbers them).
      const [x, y] = [[...snapshotWeights(once.gan[net]).values()], [...snapshotWeights(twice.gan[net]).values()]];
      t.is(x.length, y.length);
      x.forEach((w, i) => t.true(Buffer.from(w.buffer).equals(Buffer.from(y[i]!.buffer)), `${net} weight ${i}`));
    }
  });
}

test.serial('recording G\'s forward pass leaves G\'s BatchNorm statistics as they were, and freeing it leaks nothing', async (t) => {
  const r = new Replica({ model: 'mlp', latent: 100, seed: 3, adam });
  const z = tf.randomNormal([BATCH, 100], 0, 1, 'float32', 1);
  const warm = recordGeneratorForward(r.gan, z); // lazily created kernels and state
  disposeGeneratorForward(warm);
  const stats0 = r.gan.generator.nonTrainableWeights.map((w) => w.read().dataSync().slice());
  const before = tf.memory().numTensors;
  const forward = recordGeneratorForward(r.gan, z);
  t.true(forward.tape.length > 0);
  t.deepEqual(r.gan.generator.nonTrainableWeights.map((w) => w.read().dataSync().slice()), stats0);
  // What the forward pass would have written differs from the current statistics (training mode).
  t.notDeepEqual(forward.statistics.map((s) => s.dataSync().slice()), stats0);
  disposeGeneratorForward(forward);
  disposeGeneratorForward(forward); // twice is harmless
  t.is(tf.memory().numTensors, before);
  z.dispose();
});
