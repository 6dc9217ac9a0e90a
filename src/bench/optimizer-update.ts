/**
 * The optimizer's share of a step, per rank, unsharded and sharded (ZeRO stage 1, replica.ts), on
 * the real models' parameters and the wasm backend:
 *   unsharded    the non-finite scan of the averaged gradients + Adam over every parameter
 *   sharded N    the non-finite scan + Adam (moments in place) over the 1/N segment this rank owns
 *                (the verdict's exchange is the ring's time)
 *   write-back   writing all parameters into the tfjs variables (every rank does it, sharded or not)
 * Medians of `--reps` repetitions, in ms and in ns per parameter (of the whole model: the figure
 * that adds to a step), as wall time and as this process's CPU time (user + system, which a
 * shared, loaded machine disturbs less). No collectives: the ring's time is the machinery bench's.
 *
 *   node --import tsx src/bench/optimizer-update.ts [--model mlp|dcgan] [--reps 15]
 */
import { parseArgs } from 'node:util';
import { fusionLayout, readVariables, writeVariables } from '../shared/allreduce/fusion.js';
import { segmentBounds } from '../shared/allreduce/schedule.js';
import { selectBackend } from '../shared/backend/select.js';
import { buildGan, type ModelName } from '../shared/models/index.js';
import { Adam, allFinite } from '../shared/optimizer.js';
import { trainableVariables } from '../shared/step.js';

const { values } = parseArgs({ options: { model: { type: 'string', default: 'mlp' }, reps: { type: 'string', default: '15' } } });
const reps = Number(values.reps);
await selectBackend('wasm');
const gan = buildGan(values.model as ModelName, { latent: 100, seed: 1 });
const args = { lr: 2e-4, beta1: 0.5, beta2: 0.999 };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
function time(f: () => void): [number, number] {
  f(); // warm-up
  const [wall, cpu]: number[][] = [[], []];
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    f();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return [median(wall), median(cpu)];
}
const gradients = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 1e-3);

const rows: string[][] = [];
const row = (name: string, net: string, params: number, [wall, cpu]: [number, number]) =>
  rows.push([name, net, String(params), wall.toFixed(2), ((wall * 1e6) / params).toFixed(2), cpu.toFixed(2), ((cpu * 1e6) / params).toFixed(2)]);
for (const [net, model] of [['D', gan.discriminator], ['G', gan.generator]] as const) {
  const vars = trainableVariables(model);
  const layout = fusionLayout(vars);
  const P = layout.length;
  const params = readVariables(vars, layout);
  const grads = gradients(P);
  const whole = new Adam(P, args);
  row('unsharded: scan + Adam', net, P, time(() => {
    if (allFinite(grads)) whole.step(params, grads);
  }));
  for (const N of [2, 4]) {
    const b = segmentBounds(P, N);
    const [lo, hi] = [b[1], b[2]];
    const adam = new Adam(hi - lo, args);
    const buf = new Float32Array(P);
    row(`sharded N=${N}: scan + Adam on 1/${N}`, net, P, time(() => {
      buf.set(grads.subarray(lo, hi), lo); // the reduce-scatter leaves the averaged segment here
      const seg = buf.subarray(lo, hi);
      if (allFinite(seg)) {
        adam.stepPiece(params.subarray(lo, hi), seg, seg);
        adam.endStep();
      }
    }));
  }
  row('write-back into the variables', net, P, time(() => writeVariables(vars, layout, params)));
}
const head = ['part', 'net', 'params', 'wall ms', 'ns/param', 'cpu ms', 'ns/param'];
const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
for (const r of [head, ...rows]) console.log(r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  '));
