import { selectBackend } from '../src/shared/backend/select.js';
import { Replica } from '../src/shared/replica.js';
import { Rng } from '../src/shared/rng.js';
const model = (process.argv[2] ?? 'mlp') as 'mlp';
const n = Number(process.argv[3] ?? 10);
await selectBackend('wasm', { blas: 'auto' });
const mk = () => new Replica({ model, latent: 100, seed: 1, adam: { lr: 2e-4, beta1: 0.5, beta2: 0.999 } });
const [a, b] = [mk(), mk()];
const rng = Rng.stream(1, 'test');
const real = new Float32Array(128 * 784).map(() => 2 * rng.uniform() - 1);
const once: number[] = [], twice: number[] = [];
for (let i = 0; i < n + 2; i++) {
  const pos = { epoch: 0, step: i, rank: 0, world: 1 };
  let t0 = performance.now(); await a.trainStep(real, 128, pos); const ta = performance.now() - t0;
  t0 = performance.now(); await b.discriminatorStep(real, 128, pos); await b.generatorStep(128, pos); const tb = performance.now() - t0;
  if (i >= 2) { once.push(ta); twice.push(tb); }
}
const med = (x: number[]) => [...x].sort((p, q) => p - q)[x.length >> 1]!;
const ratios = once.map((x, i) => x / twice[i]!);
console.log(`${model}: once median ${med(once).toFixed(1)} ms, twice ${med(twice).toFixed(1)} ms, paired ratio median ${med(ratios).toFixed(3)} (min ${Math.min(...ratios).toFixed(3)} max ${Math.max(...ratios).toFixed(3)})`);
