/**
 * The eta section's replay (src/bench/eta.ts): the dashboard's ETA formula computed from a run's
 * metrics.jsonl at fractions of each segment, against the time that really remained. Made-up
 * lines with known timings, so every figure is known exactly.
 */
import test from 'ava';
import { replayEta } from '../src/bench/eta.js';

const T0 = Date.parse('2026-12-04T10:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();
/** Step lines g = from…to, one every `secs` seconds from `start`. */
const steps = (from: number, to: number, start: number, secs: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ type: 'step', globalStep: from + i, time: at(start + i * secs) }));

test('a steady run: the ETA equals the time that remained, at every reading', (t) => {
  const segs = replayEta('r', [{ type: 'config' }, ...steps(1, 101, 0, 2)], [0.1, 0.5]);
  t.is(segs.length, 1);
  t.like(segs[0], { kind: 'start', originStep: 1, plannedStep: 101, spanS: 200 });
  t.deepEqual(segs[0].readings.map((r) => [r.globalStep, r.etaS, r.realS, r.error]), [[11, 180, 180, 0], [51, 100, 100, 0]]);
});

test('the pace halving after the start makes the early ETA short by the time the slow part adds', (t) => {
  // Steps 1..51 every second, 52..101 every 2 s: at 50 s (step 51) 50 steps at 1/s remain by the
  // mean rate, 100 s really.
  const lines = [...steps(1, 51, 0, 1), ...steps(52, 101, 52, 2)];
  const [seg] = replayEta('r', lines, [50 / 150]);
  t.is(seg.spanS, 150);
  t.like(seg.readings[0], { globalStep: 51, etaS: 50, realS: 100, error: -0.5 });
});

test('a rollback starts a segment whose origin is its first step; a cut-short segment is read only while it lasts', (t) => {
  // Steps 1..40, a rollback to 30 at 45 s, then 31..100 every second from 50 s.
  const lines = [...steps(1, 40, 0, 1), { type: 'rollback', globalStep: 30, time: at(45) }, ...steps(31, 100, 50, 1)];
  const [before, after] = replayEta('r', lines, [0.1, 0.5]);
  t.like(before, { kind: 'start', originStep: 1, plannedStep: 100, spanS: 119 });
  // 0.5 × 119 s lies after the rollback: not read.
  t.deepEqual(before.readings.map((r) => r.fraction), [0.1]);
  t.like(after, { kind: 'rollback', originStep: 31, plannedStep: 100, spanS: 69 });
  // Half-way: 34.5 s after the origin the last logged step is 65 (34 steps in 34.5 s), 35 left; 34.5 s really.
  const r = after.readings[1];
  t.is(r.globalStep, 65);
  t.true(Math.abs(r.etaS - (35 * 34.5) / 34) < 1e-6 && Math.abs(r.realS - 34.5) < 1e-6, `${r.etaS} ${r.realS}`);
});

test('a --resume is its own invocation, planning to its own last step; the earlier one ends at its own', (t) => {
  const lines = [...steps(1, 50, 0, 1), { type: 'resume', globalStep: 50, time: at(300) }, ...steps(51, 100, 310, 4)];
  const [first, resumed] = replayEta('r', lines, [96 / 196]);
  t.like(first, { kind: 'start', plannedStep: 50, spanS: 49 });
  t.like(resumed, { kind: 'resume', originStep: 51, plannedStep: 100, spanS: 196 });
  t.like(resumed.readings[0], { globalStep: 75, etaS: 100, realS: 100, error: 0 });
});
