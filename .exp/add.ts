import { FLOAT32 } from '../src/shared/allreduce/codec.js';
const n = 1 << 18; // one 1 MiB chunk
const mine = new Float32Array(n * 5).fill(1);
for (const fresh of [false, true]) {
  let wire = Buffer.allocUnsafeSlow(n * 4); wire.fill(0);
  const ts: number[] = [];
  for (let i = 0; i < 200; i++) {
    if (fresh) { wire = Buffer.allocUnsafeSlow(n * 4); wire.fill(1); }
    const t0 = performance.now();
    FLOAT32.addMeanInto(wire, mine.subarray((i % 5) * n, (i % 5 + 1) * n), 2);
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  console.log(fresh ? 'fresh' : 'reused', 'p50 ms', ts[100].toFixed(3), 'ns/elt', (ts[100] * 1e6 / n).toFixed(2));
}
{
  const x = new Float32Array(n).fill(1), y = new Float32Array(n).fill(2);
  const ts: number[] = [];
  for (let i = 0; i < 200; i++) { const t0 = performance.now(); for (let j = 0; j < n; j++) x[j] += y[j]; ts.push(performance.now() - t0); }
  ts.sort((a, b) => a - b); console.log('plain add ns/elt', (ts[100] * 1e6 / n).toFixed(2));
}
