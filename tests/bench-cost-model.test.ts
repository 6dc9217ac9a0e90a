/** The bench's cost model (src/bench/cost-model.ts): the fit recovers known parameters; projections behave. */
import test from 'ava';
import { allReduceSeconds, fitAllReduce, hierarchicalAllReduceSeconds, layoutAllReduceSeconds, parseLayouts, project, projectLayouts } from '../src/bench/cost-model.js';

const truth = { alphaSec: 40e-6, bandwidthBytesPerSec: 1.5e9 };
const grid = [2, 3, 4].flatMap((world) => [0.2e6, 2.5e6, 6e6, 9.4e6].map((bytes) => ({ world, bytes })));

test('the fit recovers α and B from exact measurements', (t) => {
  const fit = fitAllReduce(grid.map((p) => ({ ...p, seconds: allReduceSeconds(truth, p.world, p.bytes) })));
  t.true(Math.abs(fit.alphaSec - truth.alphaSec) / truth.alphaSec < 1e-6);
  t.true(Math.abs(fit.bandwidthBytesPerSec - truth.bandwidthBytesPerSec) / truth.bandwidthBytesPerSec < 1e-6);
});

test('with ±5% noise the fit stays within 10% on the bandwidth', (t) => {
  let s = 12345;
  const noise = () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return 1 + 0.1 * (s / 2 ** 32 - 0.5);
  };
  const fit = fitAllReduce(grid.map((p) => ({ ...p, seconds: allReduceSeconds(truth, p.world, p.bytes) * noise() })));
  t.true(Math.abs(fit.bandwidthBytesPerSec - truth.bandwidthBytesPerSec) / truth.bandwidthBytesPerSec < 0.1, String(fit.bandwidthBytesPerSec));
  t.true(fit.alphaSec >= 0);
});

test('the fit recovers α and B from whole steps of two all-reduces each (the machinery section’s points)', (t) => {
  // D and G buffers of two models, the step's time = the sum of both all-reduces.
  const steps = [2, 3, 4].flatMap((world) => [[0.6e6, 0.8e6], [4.3e6, 5.1e6]].map(([d, g]) => ({ world, bytes: d + g, collectives: 2, seconds: allReduceSeconds(truth, world, d) + allReduceSeconds(truth, world, g) })));
  const fit = fitAllReduce(steps);
  t.true(Math.abs(fit.alphaSec - truth.alphaSec) / truth.alphaSec < 1e-6, String(fit.alphaSec));
  t.true(Math.abs(fit.bandwidthBytesPerSec - truth.bandwidthBytesPerSec) / truth.bandwidthBytesPerSec < 1e-6);
});

test('times that do not grow with the bytes are refused with a message', (t) => {
  const err = t.throws(() => fitAllReduce(grid.map((p) => ({ ...p, seconds: 0.01 / p.bytes }))));
  t.regex(err!.message, /no positive bandwidth/);
});

test('projected efficiency falls with more GPUs and rises with a faster link', (t) => {
  const m = { ...truth, fixedSec: 1e-3 };
  const args = { gpuStepSec: 3e-3, payloadBytes: [0.85e6, 9.3e6], gpus: [1, 4, 8, 16, 64] };
  const slow = project(m, { ...args, linkBitsPerSec: 25e9 });
  const fast = project(m, { ...args, linkBitsPerSec: 100e9 });
  t.is(slow[0].efficiency, 1);
  for (let i = 1; i < slow.length; i++) {
    t.true(slow[i].efficiency < slow[i - 1].efficiency);
    t.true(fast[i].efficiency > slow[i].efficiency);
  }
  // 4 GPUs at 25 Gbit/s: 3 ms / (3 ms + 1 ms + 2 collectives · 2·3·40 µs + 1.5·10.15 MB / 3.125 GB/s)
  const expected = 3 / (3 + 1 + 2 * 0.24 + ((1.5 * 10.15e6) / 3.125e9) * 1000);
  t.true(Math.abs(slow[1].efficiency - expected) < 1e-9);
});

test('layouts: one host is priced on shared memory alone, several hosts by their slower link per ring step', (t) => {
  const m = { intra: { alphaSec: 20e-6, bandwidthBytesPerSec: 4e9 }, interAlphaSec: 60e-6, fixedSec: 0 };
  const L = 10e6;
  // 1 × 8: 14 steps of α_shm + (L/8)/B_shm.
  t.true(Math.abs(layoutAllReduceSeconds(m, { hosts: 1, gpusPerHost: 8 }, 1e9, L) - 14 * (20e-6 + L / 8 / 4e9)) < 1e-12);
  // 2 × 8 on a 25 Gbit/s link (3.125 GB/s, slower than shared memory): 30 steps of the network's.
  t.true(Math.abs(layoutAllReduceSeconds(m, { hosts: 2, gpusPerHost: 8 }, 3.125e9, L) - 30 * (60e-6 + L / 16 / 3.125e9)) < 1e-12);
  // A network faster than memory leaves the shared-memory links the bottleneck.
  t.true(Math.abs(layoutAllReduceSeconds(m, { hosts: 2, gpusPerHost: 8 }, 100e9, L) - 30 * Math.max(20e-6 + L / 16 / 4e9, 60e-6 + L / 16 / 100e9)) < 1e-12);
  t.is(layoutAllReduceSeconds(m, { hosts: 1, gpusPerHost: 1 }, 1e9, L), 0);
  const eff = projectLayouts({ ...m, fixedSec: 1e-3 }, { gpuStepSec: 3e-3, payloadBytes: [1e6, 9e6], linkBitsPerSec: 25e9, layouts: parseLayouts('1x1,1x4,1x8,2x8,8x8') }).map((p) => p.efficiency);
  t.is(eff[0], 1);
  for (let i = 1; i < eff.length; i++) t.true(eff[i] < eff[i - 1], `efficiency falls with size: ${eff.join(', ')}`);
  t.throws(() => parseLayouts('2x'), { message: /not HOSTSxGPUS/ });
});

test('hierarchical (for comparison): one host costs what the ring costs; across hosts the network carries 2(H−1)/H·L', (t) => {
  const m = { intra: { alphaSec: 0, bandwidthBytesPerSec: 1e12 }, interAlphaSec: 0, fixedSec: 0 };
  const L = 16e6;
  const link = 1e9;
  // 2 hosts × 8: each host's link carries L (2(H−1)/H·L), the single ring 2(N−1)/N·L = 1.875 L.
  const h = hierarchicalAllReduceSeconds(m, { hosts: 2, gpusPerHost: 8 }, link, L);
  const ring = layoutAllReduceSeconds(m, { hosts: 2, gpusPerHost: 8 }, link, L);
  t.true(Math.abs(h - (L / link + 14 * (L / 8 / 1e12))) < 1e-9, String(h));
  t.true(Math.abs(ring - (1.875 * L) / link) < 1e-9, String(ring));
  t.true(Math.abs(hierarchicalAllReduceSeconds(m, { hosts: 1, gpusPerHost: 8 }, link, L) - layoutAllReduceSeconds(m, { hosts: 1, gpusPerHost: 8 }, link, L)) < 1e-12);
});
