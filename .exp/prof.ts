import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/shared/backend/select.js';
import { Replica } from '../src/shared/replica.js';
import { Rng } from '../src/shared/rng.js';
const model = (process.argv[2] ?? 'mlp') as 'mlp';
const steps = Number(process.argv[3] ?? 5);
await selectBackend('wasm', { blas: 'auto' });
const replica = new Replica({ model, latent: 100, seed: 1, adam: { lr: 2e-4, beta1: 0.5, beta2: 0.999 } });
const imageSize = replica.gan.imageShape.reduce((p, x) => p * x, 1);
const rng = Rng.stream(1, 'test');
const real = new Float32Array(128 * imageSize).map(() => 2 * rng.uniform() - 1);
for (let i = 0; i < 2; i++) await replica.trainStep(real, 128, { epoch: 0, step: i, rank: 0, world: 1 });
const times: number[] = [];
for (let i = 0; i < steps; i++) { const t0 = performance.now(); const s = await replica.trainStep(real, 128, { epoch: 0, step: i + 2, rank: 0, world: 1 }); times.push(performance.now() - t0); console.log(Object.entries(s.timings).map(([k,v])=>k+" "+(v as number).toFixed(1)).join(", ")); }
console.log('plain step ms', times.map((t) => t.toFixed(0)).join(' '));
const byKernel = new Map<string, { ms: number; n: number }>();
let wall = 0;
const info = await tf.profile(async () => {
  for (let i = 0; i < steps; i++) { const t0 = performance.now(); await replica.trainStep(real, 128, { epoch: 0, step: 100 + i, rank: 0, world: 1 }); wall += performance.now() - t0; }
});
for (const k of info.kernels) { const e = byKernel.get(k.name) ?? { ms: 0, n: 0 }; e.ms += (await k.kernelTimeMs as number); e.n++; byKernel.set(k.name, e); }
const tot = [...byKernel.values()].reduce((a, b) => a + b.ms, 0);
console.log(`profiled wall per step ${(wall / steps).toFixed(1)} ms, kernels ${(tot / steps).toFixed(1)} ms, kernel calls per step ${info.kernels.length / steps}`);
for (const [name, e] of [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms)) console.log(name.padEnd(28), (e.ms / steps).toFixed(2).padStart(8), 'ms', String(e.n / steps).padStart(5), 'calls');
