/**
 * The benchmark's FLOP count (src/bench/flops.ts) against the architecture written out by hand,
 * and against the kernels a real step runs (tf.profile on the cpu backend): the count is a lower
 * bound of what runs, and the difference is only the gradients tfjs computes without need.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import { stepFlops } from '../src/bench/flops.js';
import { selectBackend } from '../src/shared/backend/select.js';
import { Replica } from '../src/shared/replica.js';

const adam = { lr: 2e-4, beta1: 0.5, beta2: 0.999 };

test.before(async () => {
  await selectBackend('cpu');
});

test.serial('the MLP step count equals the hand count from the layer sizes', (t) => {
  const r = new Replica({ model: 'mlp', latent: 100, seed: 1, adam });
  const g = 100 * 256 + 256 * 512 + 512 * 1024 + 1024 * 784;
  const d = 784 * 1024 + 1024 * 512 + 512 * 256 + 256 * 1;
  const B = 128;
  // D half: G fwd (B), D fwd + dW + dx-without-first-layer (2B); G half (G fwd reused): D fwd, D dx, G dW, G dx-without-first.
  const macs = B * g + 2 * B * (d + d + (d - 784 * 1024)) + B * (d + d + g + (g - 100 * 256));
  const f = stepFlops(r.gan, B);
  t.is(f.total, 2 * macs);
  t.is(f.forwardPerImage.G, 2 * g);
  t.is(f.forwardPerImage.D, 2 * d);
});

test.serial('DCGAN layers: transposed convolutions count by their input, convolutions by their output', (t) => {
  const r = new Replica({ model: 'dcgan', latent: 100, seed: 1, adam });
  const f = stepFlops(r.gan, 1);
  t.deepEqual(
    f.layers.G.map((l) => l.macs),
    [100 * 7 * 7 * 256, 7 * 7 * 256 * 25 * 128, 7 * 7 * 128 * 25 * 64, 14 * 14 * 64 * 25 * 1],
  );
  t.deepEqual(f.layers.D.map((l) => l.macs), [14 * 14 * 64 * 25 * 1, 7 * 7 * 128 * 25 * 64, 7 * 7 * 128]);
});

const size = (s: number[]) => s.reduce((p, x) => p * x, 1);

/** FLOPs of the matmul and convolution kernels a profiled run executed, from their shapes. */
function profiledFlops(kernels: { name: string; inputShapes: number[][]; outputShapes: number[][] }[]): number {
  let total = 0;
  for (const k of kernels) {
    const [ins, out] = [k.inputShapes, k.outputShapes[0]];
    if (k.name === 'BatchMatMul' || k.name === '_FusedMatMul') {
      const a = ins[0];
      total += 2 * size(out) * ((a[a.length - 1] * a[a.length - 2]) / out[out.length - 2]);
    } else if (k.name === 'Conv2D' || k.name === 'FusedConv2D') total += 2 * size(out) * ins[1][0] * ins[1][1] * ins[1][2];
    else if (k.name === 'Conv2DBackpropInput') total += 2 * size(ins[0]) * ins[1][0] * ins[1][1] * ins[1][2];
    else if (k.name === 'Conv2DBackpropFilter') total += (2 * size(ins[1]) * size(out)) / out[3];
  }
  return total;
}

for (const model of ['mlp', 'dcgan'] as const) {
  test.serial(`${model}: a profiled step runs at least the counted FLOPs, and not much more`, async (t) => {
    const r = new Replica({ model, latent: 100, seed: 1, adam });
    const B = model === 'mlp' ? 4 : 1; // the cpu backend's convolutions are slow
    const real = new Float32Array(B * 784).fill(0.25);
    const info = await tf.profile(async () => {
      await r.trainStep(real, B, { epoch: 0, step: 0, rank: 0, world: 1 });
    });
    const ran = profiledFlops(info.kernels as unknown as Parameters<typeof profiledFlops>[0]);
    const counted = stepFlops(r.gan, B).total;
    t.true(ran >= counted, `profiled ${ran} < counted ${counted}`);
    // tfjs-layers' own Dense (a fused matmul whose gradient computes every input's gradient,
    // needed or not) ran 19% over the count for the MLP and 4% for the DCGAN; models/dense.ts
    // prunes that, so more than 5% over means gradients computed that nothing needs.
    t.true(ran <= counted * 1.05, `profiled ${ran} is more than 5% over the count ${counted}: gradients computed that nothing needs`);
  });
}
