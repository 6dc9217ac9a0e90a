/**
 * One D step and one G step of each GAN on webgpu (Dawn on Mesa's lavapipe) against the cpu
 * backend, from the same weights, inputs, noise and dropout seeds: gradients and updated weights.
 *
 * Tolerance: 1e-4 relative (||a - b|| / ||b|| over all values). The two backends add in different
 * orders (GPU shaders tile and reduce in parallel, cpu loops sequentially), so float32 rounding
 * differs by ~eps * sqrt(terms) per reduction, compounded over a few layers: measured here 7e-7 to
 * 4e-6. 1e-4 leaves 25x headroom on that yet is far below what a wrong kernel gives (a misplaced
 * bias or a transposed operand moves whole layers: errors of 1e-1 and more).
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { selectBackend } from '../src/shared/backend/select.js';
import { Replica } from '../src/shared/replica.js';
import { Rng } from '../src/shared/rng.js';
import { relativeError } from './helpers/tf.js';
import { requireLavapipe } from './helpers/webgpu.js';

const TOL = 1e-4;
const adam = { lr: 2e-4, beta1: 0.5, beta2: 0.999 };
// DCGAN at batch 4: the cpu backend's conv gradients are slow (about a minute per step here).
const BATCH = { mlp: 8, dcgan: 4 } as const;

test.before(async (t) => {
  requireLavapipe();
  const choice = await selectBackend('webgpu', { allowSoftwareAdapter: true });
  t.context = choice;
});

test.serial('the adapter really is Mesa lavapipe, reported as software', (t) => {
  const choice = t.context as Awaited<ReturnType<typeof selectBackend>>;
  t.is(choice.name, 'webgpu');
  t.is(tf.getBackend(), 'webgpu');
  t.is(choice.adapter?.type, 'software');
  t.is(choice.adapter?.vendor, 'mesa');
  t.regex(choice.adapter?.name ?? '', /llvmpipe/);
  t.regex(choice.reason, /llvmpipe.*vendor mesa, software/);
});

for (const model of ['mlp', 'dcgan'] as const) {
  test.serial(`${model}: one D step and one G step on webgpu match cpu (gradients, updated weights, losses)`, async (t) => {
    const batch = BATCH[model];
    const rng = Rng.stream(7, 'test');
    const real = Float32Array.from({ length: batch * 784 }, () => rng.uniform() * 2 - 1);
    const pos = { epoch: 0, step: 3, rank: 0, world: 1 };
    const run = async (backend: string, state?: Float32Array) => {
      await tf.setBackend(backend);
      const r = await Replica.create({ model, latent: 100, seed: 11, adam });
      if (state) r.importState(state);
      const start = r.exportState();
      const t0 = performance.now();
      const d = await r.discriminatorStep(real, batch, pos);
      const g = await r.generatorStep(batch, pos);
      const ms = performance.now() - t0;
      const out = { start, d: d.grads.slice(), g: g.grads.slice(), after: r.exportState(), lossD: d.lossD, lossG: g.lossG, ms };
      return out;
    };
    const cpu = await run('cpu');
    const gpu = await run('webgpu', cpu.start);
    t.deepEqual(gpu.start, cpu.start);
    const errs = {
      dGrads: relativeError(gpu.d, cpu.d),
      gGrads: relativeError(gpu.g, cpu.g),
      weights: relativeError(gpu.after, cpu.after),
      lossD: Math.abs(gpu.lossD - cpu.lossD) / Math.abs(cpu.lossD),
      lossG: Math.abs(gpu.lossG - cpu.lossG) / Math.abs(cpu.lossG),
    };
    t.log(`${model} batch ${batch}: relative errors ${JSON.stringify(errs)}; D+G step cpu ${cpu.ms.toFixed(0)} ms, webgpu ${gpu.ms.toFixed(0)} ms`);
    for (const [k, e] of Object.entries(errs)) t.true(e < TOL, `${k}: ${e}`);
    // The step did something: the weights moved, on both backends alike.
    t.true(relativeError(cpu.after, cpu.start) > 100 * errs.weights);
    await tf.setBackend('webgpu');
  });
}
