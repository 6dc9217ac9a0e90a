import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/shared/backend/select.js';
import { buildGan, paramCounts, summarize } from '../src/shared/models/index.js';
import { ganParamCount, maxControlFrameBytes } from '../src/shared/models/sizes.js';

test.before(async () => {
  await selectBackend('wasm');
});

test('mlp parameter counts match the reference report', (t) => {
  const gan = buildGan('mlp', { latent: 100, seed: 1 });
  t.deepEqual(paramCounts(gan.generator), { total: 1_493_520, trainable: 1_489_936, nonTrainable: 3_584 });
  t.deepEqual(paramCounts(gan.discriminator), { total: 1_460_225, trainable: 1_460_225, nonTrainable: 0 });
});

test('dcgan parameter counts match the reference report', (t) => {
  const gan = buildGan('dcgan', { latent: 100, seed: 1 });
  t.deepEqual(paramCounts(gan.generator), { total: 2_330_944, trainable: 2_305_472, nonTrainable: 25_472 });
  t.deepEqual(paramCounts(gan.discriminator), { total: 212_865, trainable: 212_865, nonTrainable: 0 });
});

for (const name of ['mlp', 'dcgan'] as const) {
  test(`${name}: G maps z to images in [-1, 1] of the image shape, D maps images to one logit`, (t) => {
    const gan = buildGan(name, { latent: 100, seed: 1 });
    const [img, logit] = tf.tidy(() => {
      const x = gan.generator.predict(tf.randomNormal([3, 100])) as tf.Tensor;
      const y = gan.discriminator.predict(x) as tf.Tensor;
      return [x, y];
    });
    t.deepEqual(img.shape, [3, ...gan.imageShape]);
    t.deepEqual(logit.shape, [3, 1]);
    const v = img.dataSync();
    t.true(v.every((p) => p >= -1 && p <= 1));
    tf.dispose([img, logit]);
  });
}

test('the same seed gives the same initial weights, another seed different ones', (t) => {
  const w = (seed: number) => buildGan('mlp', { latent: 100, seed }).generator.weights[0].read().dataSync().slice(0, 64);
  t.deepEqual(w(7), w(7));
  t.notDeepEqual(w(7), w(8));
});

test('the summary names both networks with their counts', (t) => {
  const s = summarize(buildGan('dcgan', { latent: 100, seed: 1 }));
  t.regex(s, /Generator \(dcgan\): 2,330,944 parameters \(2,305,472 trainable/);
  t.regex(s, /Discriminator \(dcgan\): 212,865 parameters/);
});

test('the tf-free parameter counts (control-socket frame limit) equal the built models, and the limit covers their largest checkpoint file', (t) => {
  for (const name of ['mlp', 'mlp-plain', 'dcgan'] as const) {
    for (const latent of [1, 100, 257]) {
      const gan = buildGan(name, { latent, seed: 1 });
      const g = paramCounts(gan.generator);
      const d = paramCounts(gan.discriminator);
      t.is(ganParamCount(name, latent), g.total + d.total, `${name} latent ${latent}`);
      // optimizer.bin: Adam m and v of every trainable weight; weights.bin: every weight of one network.
      const largestFile = Math.max(8 * (g.trainable + d.trainable), 4 * g.total, 4 * d.total);
      t.true(maxControlFrameBytes(name, latent) > largestFile, `${name} latent ${latent}`);
      gan.generator.dispose();
      gan.discriminator.dispose();
    }
  }
});
