import { createHash } from 'node:crypto';
import { selectBackend } from '../src/shared/backend/select.js';
import { Replica } from '../src/shared/replica.js';
import { Rng } from '../src/shared/rng.js';
const model = (process.argv[2] ?? 'mlp') as 'mlp';
await selectBackend('wasm', { blas: (process.env.BLAS ?? 'auto') as 'auto' });
const r = new Replica({ model, latent: 100, seed: 1, adam: { lr: 2e-4, beta1: 0.5, beta2: 0.999 } });
const rng = Rng.stream(1, 'test');
const real = new Float32Array(32 * 784).map(() => 2 * rng.uniform() - 1);
const losses: number[] = [];
for (let i = 0; i < 3; i++) { const s = await r.trainStep(real, 32, { epoch: 0, step: i, rank: 0, world: 1 }); losses.push(s.lossD, s.lossG); }
const st = r.exportState();
console.log(model, losses.join(','), createHash('sha256').update(new Uint8Array(st.buffer)).digest('hex').slice(0, 16));
