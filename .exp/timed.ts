import { selectBackend } from '../src/shared/backend/select.js';
import { Replica } from '../src/shared/replica.js';
import { Rng } from '../src/shared/rng.js';
const model = (process.argv[2] ?? 'mlp') as 'mlp';
const n = Number(process.argv[3] ?? 10);
await selectBackend('wasm', { blas: 'auto' });
const r = new Replica({ model, latent: 100, seed: 1, adam: { lr: 2e-4, beta1: 0.5, beta2: 0.999 } });
const rng = Rng.stream(1, 'test');
const real = new Float32Array(128 * 784).map(() => 2 * rng.uniform() - 1);
const t: number[] = [];
for (let i = 0; i < n + 2; i++) { const t0 = performance.now(); await r.trainStep(real, 128, { epoch: 0, step: i, rank: 0, world: 1 }); if (i >= 2) t.push(performance.now() - t0); }
t.sort((a, b) => a - b);
console.log(`${process.cwd().includes('old') ? 'old' : 'new'} ${model} median ${t[t.length >> 1]!.toFixed(1)} min ${t[0]!.toFixed(1)}`);
