import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import seedrandom from 'seedrandom';
import { aleaUniform, dropout } from '../src/shared/models/dropout.js';
import { DROPOUT_MASK } from '../src/shared/backend/kernels/elementwise.js';
import { selectBackend } from '../src/shared/backend/select.js';
import { buildGan, paramCounts, summarize } from '../src/shared/models/index.js';
import { ganParamCount, maxControlFrameBytes } from '../src/shared/models/sizes.js';
import { joinLatent, oneHotLabels } from '../src/shared/models/labels.js';

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

test('cmlp parameter counts: the MLP with a one-hot digit joined to G\'s input (+10 × 256) and 10 digit logits out of D (+10 × 257)', (t) => {
  const gan = buildGan('cmlp', { latent: 100, seed: 1 });
  t.is(gan.classes, 10);
  t.deepEqual(paramCounts(gan.generator), { total: 1_496_080, trainable: 1_492_496, nonTrainable: 3_584 });
  t.deepEqual(paramCounts(gan.discriminator), { total: 1_462_795, trainable: 1_462_795, nonTrainable: 0 });
  t.regex(summarize(gan), /Generator \(cmlp, conditioned on 10 digit classes\): 1,496,080 parameters/);
});

test('cdcgan parameter counts: the DCGAN with the digit joined to G\'s input (+10 × 12,544) and 10 digit logits out of D (+10 × 6,273)', (t) => {
  const gan = buildGan('cdcgan', { latent: 100, seed: 1 });
  t.deepEqual(paramCounts(gan.generator), { total: 2_456_384, trainable: 2_430_912, nonTrainable: 25_472 });
  t.deepEqual(paramCounts(gan.discriminator), { total: 275_595, trainable: 275_595, nonTrainable: 0 });
});

test('the unconditional models take no digit (classes 0, inputs as before)', (t) => {
  for (const name of ['mlp', 'dcgan'] as const) {
    const gan = buildGan(name, { latent: 100, seed: 1 });
    t.is(gan.classes, 0);
    t.is(gan.generator.inputs[0].shape[1], 100);
  }
});

for (const name of ['cmlp', 'cdcgan'] as const) {
  test(`${name}: G maps [z | one-hot digit] to images in [-1, 1], D maps an image to one real-vs-fake logit and 10 digit logits`, (t) => {
    const gan = buildGan(name, { latent: 100, seed: 1 });
    const onehot = oneHotLabels(Uint8Array.of(0, 7, 9), 3);
    const [img, logit] = tf.tidy(() => {
      const x = gan.generator.predict(joinLatent(tf.randomNormal([3, 100]), onehot)) as tf.Tensor;
      const y = gan.discriminator.predict(x) as tf.Tensor;
      return [x, y];
    });
    t.deepEqual(img.shape, [3, ...gan.imageShape]);
    t.deepEqual(logit.shape, [3, 11]);
    t.true(img.dataSync().every((p) => p >= -1 && p <= 1));
    tf.dispose([img, logit, onehot]);
  });
}

test('the digit changes what G draws: the same z with another digit gives another image', (t) => {
  const gan = buildGan('cmlp', { latent: 100, seed: 1 });
  const z = tf.randomNormal([1, 100]);
  const draw = (d: number) => tf.tidy(() => (gan.generator.predict(joinLatent(z, oneHotLabels(Uint8Array.of(d), 1))) as tf.Tensor).dataSync());
  t.notDeepEqual(draw(3), draw(4));
  t.deepEqual(draw(3), draw(3));
  z.dispose();
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

test("--init torch: every kernel and bias within PyTorch's U(±1/√fan-in) and spread like it; glorot (the default): zero biases", (t) => {
  for (const name of ['mlp', 'dcgan'] as const) {
    const gan = buildGan(name, { latent: 100, seed: 5, init: 'torch' });
    for (const model of [gan.generator, gan.discriminator]) {
      for (const layer of model.layers) {
        const [kernel, bias] = layer.getWeights();
        if (!kernel || kernel.shape.length < 2) continue; // BatchNorm's gamma/beta/statistics
        // PyTorch's fan-in: inputs per output unit; tfjs' conv kernels are [k, k, in, out] and its
        // transposed conv kernels [k, k, out, in], whose fan-in PyTorch also takes from dimension "out".
        const fanIn = kernel.shape.slice(0, -1).reduce((a, b) => a * b, 1);
        const bound = 1 / Math.sqrt(fanIn);
        const k = kernel.dataSync();
        let sq = 0;
        for (const v of k) sq += v * v;
        t.true(k.every((v) => Math.abs(v) <= bound), `${name} ${layer.name}: a kernel value outside ±${bound}`);
        if (k.length >= 1000) t.true(Math.abs(Math.sqrt(sq / k.length) / (bound / Math.sqrt(3)) - 1) < 0.05, `${name} ${layer.name}: rms ${Math.sqrt(sq / k.length)}, uniform's ${bound / Math.sqrt(3)}`);
        if (bias) {
          const b = bias.dataSync();
          t.true(b.every((v) => Math.abs(v) <= bound) && b.some((v) => v !== 0), `${name} ${layer.name}: biases not in U(±${bound})`);
        }
      }
    }
  }
  const glorot = buildGan('mlp', { latent: 100, seed: 5 });
  t.true(glorot.discriminator.layers[0]!.getWeights()[1]!.dataSync().every((v) => v === 0), 'glorot biases are zero');
  const explicit = buildGan('mlp', { latent: 100, seed: 5, init: 'glorot' });
  t.deepEqual(glorot.generator.weights[0]!.read().dataSync(), explicit.generator.weights[0]!.read().dataSync());
});

test('--batchnorm sets every BatchNorm layer of G: keras momentum 0.99 ε 1e-3, torch 0.9 ε 1e-5', (t) => {
  for (const name of ['mlp', 'dcgan'] as const) {
    for (const [scheme, momentum, epsilon] of [[undefined, 0.99, 1e-3], ['keras', 0.99, 1e-3], ['torch', 0.9, 1e-5]] as const) {
      const layers = buildGan(name, { latent: 100, seed: 1, batchNorm: scheme }).generator.layers.filter((l) => l.getClassName() === 'BatchNormalization');
      t.true(layers.length >= 3);
      for (const l of layers) t.like(l.getConfig(), { momentum, epsilon }, `${name} ${scheme}`);
    }
  }
});

test('the summary names both networks with their counts', (t) => {
  const s = summarize(buildGan('dcgan', { latent: 100, seed: 1 }));
  t.regex(s, /Generator \(dcgan\): 2,330,944 parameters \(2,305,472 trainable/);
  t.regex(s, /Discriminator \(dcgan\): 212,865 parameters/);
});

test('the tf-free parameter counts (control-socket frame limit) equal the built models, and the limit covers their largest checkpoint file', (t) => {
  for (const name of ['mlp', 'mlp-plain', 'dcgan', 'cmlp', 'cmlp-plain', 'cdcgan'] as const) {
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

test('aleaUniform draws exactly the numbers of tfjs\' randomUniform for the same seed', (t) => {
  for (const seed of [0, 7, 123456789, 4294967295]) {
    const ours = aleaUniform(seed, 10_000);
    const theirs = tf.randomUniform([10_000], 0, 1, 'float32', seed);
    t.true(Buffer.from(ours.buffer).equals(Buffer.from((theirs.dataSync() as Float32Array).slice().buffer)), `seed ${seed}`);
    theirs.dispose();
  }
});

test('on wasm, the one-kernel Dropout mask is the mask the layer builds elsewhere (alea numbers, then tfjs\' Add, Floor, RealDiv), bit for bit', (t) => {
  for (const [seed, size, rate] of [[42, 1001, 0.3], [4294967295, 64 * 300, 0.5]] as const) {
    const keep = 1 - rate;
    const state = (seedrandom.alea(String(seed), { state: true }) as unknown as { state(): Record<string, number> }).state();
    const ours = tf.engine().runKernel(DROPOUT_MASK, {}, { shape: [size], ...state, keep }) as tf.Tensor;
    const reference = tf.div(tf.floor(tf.add(tf.tensor(aleaUniform(seed, size)), keep)), keep);
    const bits = (v: tf.Tensor) => Buffer.from((v.dataSync() as Float32Array).slice().buffer);
    t.true(bits(ours).equals(bits(reference)), `seed ${seed}`);
    tf.dispose([ours, reference]);
  }
});

test('the seeded Dropout layer gives tfjs\' Dropout output and gradient bit for bit, serialises as Dropout, and passes inputs through in inference', (t) => {
  const x = tf.randomNormal([64, 300], 0, 1, 'float32', 5);
  const ours = dropout({ rate: 0.3 });
  const theirs = tfl.layers.dropout({ rate: 0.3 });
  for (const layer of [ours, theirs]) (layer as unknown as { seed: number }).seed = 42;
  const bits = (v: tf.Tensor) => Buffer.from((v.dataSync() as Float32Array).slice().buffer);
  const run = (layer: tfl.layers.Layer) => tf.grad((v: tf.Tensor) => tf.sum(tf.square(layer.apply(v, { training: true }) as tf.Tensor)))(x);
  const [yo, yt] = [ours.apply(x, { training: true }) as tf.Tensor, theirs.apply(x, { training: true }) as tf.Tensor];
  t.true(bits(yo).equals(bits(yt)));
  t.true(bits(run(ours)).equals(bits(run(theirs))));
  // About 30% of the values dropped, the rest scaled by 1/0.7.
  const dropped = (yo.dataSync() as Float32Array).filter((v) => v === 0).length / x.size;
  t.true(dropped > 0.27 && dropped < 0.33, `dropped ${dropped}`);
  t.is(ours.getClassName(), 'Dropout');
  const unnamed = (l: tfl.layers.Layer) => ({ ...l.getConfig(), name: undefined });
  t.deepEqual(unnamed(ours), unnamed(theirs));
  t.true(bits(ours.apply(x, { training: false }) as tf.Tensor).equals(bits(x)));
});
