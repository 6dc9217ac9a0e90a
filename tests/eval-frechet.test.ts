/**
 * The evaluation's arithmetic against simple references on random inputs: covariance, the trace of
 * the matrix square root (Denman–Beavers iteration on the non-symmetric product), the Fréchet
 * distance in closed form, and the MNIST score / coverage on distributions with known answers.
 */
import test from 'ava';
import { frechetDistance, gaussianOf, traceSqrtProduct } from '../src/shared/eval/frechet.js';
import { coverage, digitShares, meanConfidence, mnistScore } from '../src/shared/eval/scores.js';
import { Rng } from '../src/shared/rng.js';

type M = number[][];
const matmul = (a: M, b: M): M => a.map((r) => b[0].map((_, j) => r.reduce((s, x, k) => s + x * b[k][j], 0)));
const eye = (n: number): M => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));

/** Gauss–Jordan inverse with partial pivoting (reference only). */
function inverse(a: M): M {
  const n = a.length;
  const m = a.map((r, i) => [...r, ...eye(n)[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    [m[c], m[p]] = [m[p], m[c]];
    const d = m[c][c];
    for (let j = 0; j < 2 * n; j++) m[c][j] /= d;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r][c];
      for (let j = 0; j < 2 * n; j++) m[r][j] -= f * m[c][j];
    }
  }
  return m.map((r) => r.slice(n));
}

/** tr sqrtm(A) by the Denman–Beavers iteration (A with positive real eigenvalues). */
function traceSqrtReference(a: M): number {
  let y = a;
  let z = eye(a.length);
  for (let i = 0; i < 60; i++) {
    const yi = inverse(y);
    const zi = inverse(z);
    [y, z] = [y.map((r, p) => r.map((x, q) => (x + zi[p][q]) / 2)), z.map((r, p) => r.map((x, q) => (x + yi[p][q]) / 2))];
  }
  return y.reduce((s, r, i) => s + r[i], 0);
}

/** A random SPD matrix XᵀX/n + εI of size d, and its flat form. */
function randomSpd(rng: Rng, d: number): { m: M; flat: Float64Array } {
  const n = d + 5;
  const x = Array.from({ length: n }, () => Array.from({ length: d }, () => rng.normal()));
  const m = Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => x.reduce((s, r) => s + r[i] * r[j], 0) / n + (i === j ? 0.01 : 0)));
  return { m, flat: Float64Array.from(m.flat()) };
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);

test('tr (Σ1 Σ2)^½ matches the Denman–Beavers reference on random SPD matrices', (t) => {
  const rng = Rng.stream(7, 'test');
  for (const d of [2, 5, 12, 24]) {
    const a = randomSpd(rng, d);
    const b = randomSpd(rng, d);
    const fast = traceSqrtProduct(a.flat, b.flat, d);
    const ref = traceSqrtReference(matmul(a.m, b.m));
    t.true(rel(fast, ref) < 1e-9, `d=${d}: ${fast} vs ${ref}`);
  }
});

test('gaussianOf matches a two-pass float64 mean and covariance', (t) => {
  const rng = Rng.stream(8, 'test');
  const n = 300;
  const d = 6;
  const x = Float32Array.from({ length: n * d }, () => 3 + 2 * rng.normal());
  const g = gaussianOf(x, n, d);
  for (let a = 0; a < d; a++) {
    const mean = Array.from({ length: n }, (_, i) => x[i * d + a]).reduce((s, v) => s + v, 0) / n;
    t.true(rel(g.mean[a], mean) < 1e-12);
    for (let b = 0; b < d; b++) {
      const mb = Array.from({ length: n }, (_, i) => x[i * d + b]).reduce((s, v) => s + v, 0) / n;
      let c = 0;
      for (let i = 0; i < n; i++) c += (x[i * d + a] - mean) * (x[i * d + b] - mb);
      t.true(rel(g.cov[a * d + b], c / (n - 1)) < 1e-9, `cov[${a},${b}]`);
    }
  }
});

test('Fréchet distance: 0 for identical Gaussians, the closed form for diagonal ones, finite for singular ones', (t) => {
  const rng = Rng.stream(9, 'test');
  const d = 10;
  const a = randomSpd(rng, d);
  const mean = Float64Array.from({ length: d }, () => rng.normal());
  t.true(frechetDistance({ dim: d, count: 2, mean, cov: a.flat }, { dim: d, count: 2, mean, cov: a.flat }) < 1e-9);

  const v1 = Array.from({ length: d }, () => 0.1 + rng.uniform());
  const v2 = Array.from({ length: d }, () => 0.1 + rng.uniform());
  const diag = (v: number[]) => Float64Array.from({ length: d * d }, (_, k) => (k % (d + 1) === 0 ? v[k / (d + 1)] : 0));
  const m1 = Float64Array.from({ length: d }, () => rng.normal());
  const m2 = Float64Array.from({ length: d }, () => rng.normal());
  const closed = m1.reduce((s, x, i) => s + (x - m2[i]) ** 2, 0) + v1.reduce((s, x, i) => s + (Math.sqrt(x) - Math.sqrt(v2[i])) ** 2, 0);
  const got = frechetDistance({ dim: d, count: 2, mean: m1, cov: diag(v1) }, { dim: d, count: 2, mean: m2, cov: diag(v2) });
  t.true(rel(got, closed) < 1e-10, `${got} vs ${closed}`);

  // A constant feature set has a zero covariance: the distance must still be finite and ≥ the mean term.
  const zero = new Float64Array(d * d);
  const sing = frechetDistance({ dim: d, count: 2, mean: m1, cov: zero }, { dim: d, count: 2, mean: m2, cov: a.flat });
  const traceA = Array.from({ length: d }, (_, i) => a.flat[i * (d + 1)]).reduce((s, x) => s + x, 0);
  t.true(rel(sing, m1.reduce((s, x, i) => s + (x - m2[i]) ** 2, 0) + traceA) < 1e-10);
});

test('MNIST score, shares, coverage and confidence on distributions with known answers', (t) => {
  const n = 1000;
  const oneHot = (label: (i: number) => number) => {
    const p = new Float32Array(n * 10);
    for (let i = 0; i < n; i++) p[i * 10 + label(i)] = 1;
    return p;
  };
  const balanced = oneHot((i) => i % 10);
  t.true(rel(mnistScore(balanced, n), 10) < 1e-9, 'confident and balanced: 10');
  const single = oneHot(() => 3);
  t.true(rel(mnistScore(single, n), 1) < 1e-9, 'one digit: 1');
  const flat = new Float32Array(n * 10).fill(0.1);
  t.true(rel(mnistScore(flat, n), 1) < 1e-6, 'no clear digit: 1');
  const real = new Array(10).fill(0.1);
  const c1 = coverage(digitShares(balanced, n), real);
  t.false(c1.collapsed);
  t.true(c1.kl < 1e-12);
  const c2 = coverage(digitShares(single, n), real);
  t.true(c2.collapsed);
  t.deepEqual(c2.underQuarter, [0, 1, 2, 4, 5, 6, 7, 8, 9]);
  t.true(rel(c2.kl, Math.log(10)) < 1e-12);
  t.is(meanConfidence(balanced, n), 1);
  t.true(rel(meanConfidence(flat, n), 0.1) < 1e-6);
});
