/**
 * The wasm backend's kernels on OpenBLAS (src/shared/backend/blas.ts, blas-kernels.ts): every
 * routed kernel against the cpu backend on fresh random shapes, the zero-copy hand-over of wasm
 * heap views, determinism per thread count, the thread rule, leaks, and the fallback when the
 * library is missing. Needs the system's OpenBLAS (`.ci/run` installs libopenblas0-openmp).
 *
 * Serial: the tests switch the global tfjs backend between wasm and cpu around awaits.
 *
 * Accuracy bound: as in tests/wasm-kernels.test.ts, float32 sums in another order differ by
 * rounding only, norm-wise about sqrt(K)·eps (K ≤ 25·64 here: ≲ 3e-6); 1e-5 leaves a margin while an
 * indexing, padding, transpose or epilogue mistake gives an error of order 1.
 */
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import koffi from 'koffi';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { blasThreads, loadBlas, type Blas } from '../src/shared/backend/blas.js';
import { COL_CHUNK_FLOATS } from '../src/shared/backend/blas-kernels.js';
import { selectBackend } from '../src/shared/backend/select.js';
import { setWasmBlas, wasmBlas } from '../src/shared/backend/wasm-kernels.js';
import { runCli, tempDir } from './helpers/cli.js';
import { agree, rand, rng, SEED, type Input } from './helpers/kernels.js';

const TOL = 1e-5;
/** Debian's pthreads build of OpenBLAS (installed beside the OpenMP one by .ci/run). */
const PTHREADS_BUILD = '/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0';
const pick = rng(SEED ^ 0x5bd1e995);
const int = (lo: number, hi: number) => lo + Math.floor(pick() * (hi - lo + 1));
const choose = <T>(xs: readonly T[]): T => xs[Math.floor(pick() * xs.length)];

/** sgemm calls since the start, counted by a wrapper around the loaded library. */
let calls = 0;

test.before(async () => {
  const choice = await selectBackend('wasm', { blas: 'auto' });
  if (!choice.blas?.active) throw new Error(`OpenBLAS did not load (${choice.blas?.reason}); these tests need it`);
  const real = wasmBlas()!;
  const counting: Blas = { ...real, sgemm: (...args) => { calls++; real.sgemm(...args); } };
  setWasmBlas(counting);
});

/**
 * wasm (on OpenBLAS) and cpu agree on `f(inputs)`, and OpenBLAS ran it. Before the inputs, a
 * tensor of random size is allocated, so that they start at a different heap offset each time.
 */
async function viaBlas(t: import('ava').ExecutionContext, label: string, inputs: Input[], f: (...ts: tf.Tensor[]) => tf.Tensor) {
  const before = calls;
  await agree(t, label, inputs, f, TOL, () => void tf.zeros([int(1, 4099)]));
  t.true(calls > before, `${label}: not run on OpenBLAS`);
}

// ---------------------------------------------------------------------------------------- matmul

/** Stored shapes of a x b with a given as stored for transposeA (a^T stored) and likewise b. */
function stored(outerA: number[], outerB: number[], M: number, K: number, N: number, tA: boolean, tB: boolean): [number[], number[]] {
  return [[...outerA, ...(tA ? [K, M] : [M, K])], [...outerB, ...(tB ? [N, K] : [K, N])]];
}

const LAYOUTS: Array<[string, () => [number[], number[]]]> = [
  ['unbatched', () => [[], []]],
  ['a batched, b shared', () => [[int(2, 4)], []]],
  ['a shared, b batched', () => [[], [int(2, 4)]]],
  ['same batch', () => { const b = int(2, 4); return [[b], [b]]; }],
  ['rank 4 same batch', () => { const b = [int(1, 3), int(2, 3)]; return [b, b]; }],
  ['a batched, b batch 1', () => [[int(2, 4)], [1]]],
];

test.serial('BatchMatMul on OpenBLAS matches cpu on random shapes, transposes and batch layouts', async (t) => {
  for (const [layout, outer] of LAYOUTS) {
    for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const [M, K, N] = [int(1, 160), int(1, 300), int(1, 160)];
      const [oA, oB] = outer();
      const [as, bs] = stored(oA, oB, M, K, N, tA, tB);
      await viaBlas(t, `${layout} [${as}] x [${bs}] tA=${tA} tB=${tB}`, [rand(as), rand(bs)], (a, b) => tf.matMul(a, b, tA, tB));
    }
  }
});

test.serial('BatchMatMul on OpenBLAS matches cpu at the MLP shapes', async (t) => {
  // The products of a training step at batch 8: forward, dW (a^T dy) and dx (dy W^T).
  for (const [M, K, N] of [[8, 784, 1024], [8, 1024, 784], [8, 256, 1], [8, 100, 256]]) {
    await viaBlas(t, `fwd ${M}x${K}x${N}`, [rand([M, K]), rand([K, N])], (a, b) => tf.matMul(a, b));
    await viaBlas(t, `dW ${K}x${M}x${N}`, [rand([M, K]), rand([M, N])], (a, b) => tf.matMul(a, b, true, false));
    await viaBlas(t, `dx ${M}x${N}x${K}`, [rand([M, N]), rand([K, N])], (a, b) => tf.matMul(a, b, false, true));
  }
});

const ACTIVATIONS = ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu', 'prelu'] as const;

test.serial('_FusedMatMul on OpenBLAS matches cpu with bias, activations, transposes and batches', async (t) => {
  for (const activation of ACTIVATIONS) {
    for (const [layout, outer] of LAYOUTS.slice(0, 4)) {
      const [tA, tB] = [pick() < 0.5, pick() < 0.5];
      const [M, K, N] = [int(1, 100), int(1, 200), int(1, 100)];
      const [oA, oB] = outer();
      const [as, bs] = stored(oA, oB, M, K, N, tA, tB);
      const bias = choose(['none', 'per column', 'scalar'] as const);
      const alphaSize = choose([N, 1]);
      const label = `${activation} ${layout} [${as}] x [${bs}] tA=${tA} tB=${tB} bias ${bias}${activation === 'prelu' ? ` alpha [${alphaSize}]` : ''}`;
      await viaBlas(t, label, [rand(as), rand(bs), rand([bias === 'scalar' ? 1 : N]), rand([alphaSize])], (a, b, bi, al) =>
        tf.fused.matMul({
          a, b, transposeA: tA, transposeB: tB, activation, leakyreluAlpha: 0.13,
          bias: bias === 'none' ? undefined : bi,
          preluActivationWeights: activation === 'prelu' ? al : undefined,
        }));
    }
  }
});

// ------------------------------------------------------------------------------------------ conv

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
interface ConvCase { label: string; x: number[]; f: number[]; s: [number, number]; pad: Pad; d?: [number, number] }

/** A random NHWC convolution; dilated only when asked (tfjs has no gradients of dilated convolutions). */
function randomConv(i: number, dilate: boolean): ConvCase {
  const [KH, KW] = [int(1, 5), int(1, 5)];
  const d: [number, number] = dilate && pick() < 0.5 ? [int(1, 2), int(1, 2)] : [1, 1];
  const s: [number, number] = d[0] * d[1] > 1 ? [1, 1] : [int(1, 3), int(1, 3)];
  const pad: Pad = choose(['same', 'valid', 'explicit'] as const) === 'explicit'
    ? [[0, 0], [int(0, 2), int(0, 2)], [int(0, 2), int(0, 2)], [0, 0]]
    : choose(['same', 'valid'] as const);
  const H = int((KH - 1) * d[0] + 1, 16);
  const W = int((KW - 1) * d[1] + 1, 16);
  const x = [int(1, 3), H, W, int(1, 9)];
  return { label: `random ${i}`, x, f: [KH, KW, x[3], int(1, 9)], s, pad, d };
}

/**
 * The DCGAN's layer geometries with a quarter of the channels (the cpu backend's filter gradient
 * takes 14 s for G convT1's full 128 × 256 at one image), a pointwise conv, and one large enough to
 * split the column buffer.
 */
const FIXED: ConvCase[] = [
  { label: 'D conv1 / G convT3', x: [2, 28, 28, 1], f: [5, 5, 1, 16], s: [2, 2], pad: 'same' },
  { label: 'D conv2 / G convT2', x: [2, 14, 14, 16], f: [5, 5, 16, 32], s: [2, 2], pad: 'same' },
  { label: 'G convT1', x: [2, 7, 7, 32], f: [5, 5, 32, 64], s: [1, 1], pad: 'same' },
  { label: 'pointwise', x: [3, 5, 6, 7], f: [1, 1, 7, 4], s: [1, 1], pad: 'valid' },
  // 64·64 positions × 5·5·32 taps = 3.3M floats per image: chunks of 2 and 1 images.
  { label: 'chunked', x: [3, 64, 64, 32], f: [5, 5, 32, 1], s: [1, 1], pad: 'same' },
];

test('the chunked case splits the column buffer', (t) => {
  const perImage = 64 * 64 * 5 * 5 * 32;
  t.true(perImage < COL_CHUNK_FLOATS && 3 * perImage > COL_CHUNK_FLOATS);
});

function outShape(c: ConvCase): number[] {
  return tf.backend_util.computeConv2DInfo(c.x as [number, number, number, number], c.f as [number, number, number, number],
    c.s, c.d ?? 1, c.pad as 'same', undefined, false, 'channelsLast').outShape;
}

function describe(c: ConvCase): string {
  return `${c.label}: x [${c.x}] f [${c.f}] s [${c.s}] pad ${JSON.stringify(c.pad)} d [${c.d ?? [1, 1]}]`;
}

test.serial('Conv2D on OpenBLAS matches cpu on random geometries (strides, pads, dilations)', async (t) => {
  for (const c of [...FIXED, ...Array.from({ length: 12 }, (_, i) => randomConv(i, true))]) {
    await viaBlas(t, describe(c), [rand(c.x), rand(c.f)], (x, f) =>
      tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, c.s, c.pad as 'same', 'NHWC', c.d ?? 1));
  }
});

test.serial('FusedConv2D on OpenBLAS matches cpu with bias and activations', async (t) => {
  for (const activation of ACTIVATIONS) {
    const c = randomConv(0, true);
    const CO = c.f[3];
    const alpha = choose([CO, 1]);
    await viaBlas(t, `${activation} ${describe(c)} alpha [${alpha}]`, [rand(c.x), rand(c.f), rand([CO]), rand([alpha])], (x, f, bias, al) =>
      tf.fused.conv2d({
        x: x as tf.Tensor4D, filter: f as tf.Tensor4D, strides: c.s, pad: c.pad as 'same', dilations: c.d ?? 1, bias, activation,
        leakyreluAlpha: 0.13, preluActivationWeights: activation === 'prelu' ? al : undefined,
      }));
  }
});

test.serial('Conv2DBackpropInput on OpenBLAS matches cpu', async (t) => {
  for (const c of [...FIXED, ...Array.from({ length: 12 }, (_, i) => randomConv(i, false))]) {
    await viaBlas(t, describe(c), [rand(outShape(c)), rand(c.f)], (dy, filter) =>
      tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, { strides: c.s, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x }) as tf.Tensor);
  }
});

test.serial('Conv2DBackpropFilter on OpenBLAS matches cpu', async (t) => {
  for (const c of [...FIXED, ...Array.from({ length: 12 }, (_, i) => randomConv(i, false))]) {
    await viaBlas(t, describe(c), [rand(c.x), rand(outShape(c))], (x, dy) =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: c.s, pad: c.pad, dataFormat: 'NHWC', filterShape: c.f }) as tf.Tensor);
  }
});

test.serial('conv2d and conv2dTranspose gradients on OpenBLAS match cpu', async (t) => {
  // End to end through tfjs-core's gradient functions, as a DCGAN step uses them.
  const x = rand([2, 14, 14, 8]);
  const f = rand([5, 5, 8, 6]);
  const dy = rand([2, 7, 7, 6]);
  const loss = (xx: tf.Tensor, ff: tf.Tensor, w: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xx as tf.Tensor4D, ff as tf.Tensor4D, 2, 'same'), w));
  const lossT = (yy: tf.Tensor, ff: tf.Tensor, w: tf.Tensor) => tf.sum(tf.mul(tf.conv2dTranspose(w as tf.Tensor4D, ff as tf.Tensor4D, [2, 14, 14, 8], 2, 'same'), yy));
  for (const i of [0, 1]) {
    await viaBlas(t, `conv2d grad ${i ? 'filter' : 'x'}`, [x, f, dy], (xx, ff, w) => tf.grads(loss)([xx, ff, w])[i]);
    await viaBlas(t, `conv2dTranspose grad ${i ? 'filter' : 'input'}`, [x, f, dy], (yy, ff, w) => tf.grads(lossT)([yy, ff, w])[2 - i]);
  }
});

test.serial('cases OpenBLAS does not handle go to the wasm kernels: NCHW still fails clearly', (t) => {
  tf.tidy(() => {
    const dy = tf.zeros([1, 3, 5, 5]);
    t.throws(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: tf.zeros([3, 3, 2, 3]) }, { strides: 1, pad: 'same', dataFormat: 'NCHW', inputShape: [1, 2, 5, 5] }),
      { message: /only dataFormat 'NHWC'/ });
  });
});

test.serial('the OpenBLAS kernels leak no tensors and no wasm memory', (t) => {
  t.is(tf.getBackend(), 'wasm');
  const conv = { strides: 2, pad: 'same', dataFormat: 'NHWC' } as const;
  const ops: Array<[string, () => tf.Tensor]> = [
    ['BatchMatMul', () => tf.matMul(tf.ones([3, 5, 6]), tf.ones([3, 4, 5]), true, true)],
    ['_FusedMatMul', () => tf.fused.matMul({ a: tf.ones([6, 5]), b: tf.ones([4, 5]), transposeB: true, bias: tf.ones([4]), activation: 'relu' })],
    ['Conv2D', () => tf.conv2d(tf.ones([2, 9, 9, 3]) as tf.Tensor4D, tf.ones([3, 3, 3, 4]) as tf.Tensor4D, 2, 'same')],
    ['FusedConv2D', () => tf.fused.conv2d({ x: tf.ones([2, 9, 9, 3]) as tf.Tensor4D, filter: tf.ones([3, 3, 3, 4]) as tf.Tensor4D, strides: 2, pad: 'same', bias: tf.ones([4]), activation: 'elu' })],
    ['Conv2DBackpropFilter', () => tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.ones([2, 9, 9, 3]), dy: tf.ones([2, 5, 5, 4]) }, { ...conv, filterShape: [3, 3, 3, 4] }) as tf.Tensor],
    ['Conv2DBackpropInput', () => tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.ones([2, 5, 5, 4]), filter: tf.ones([3, 3, 3, 4]) }, { ...conv, inputShape: [2, 10, 10, 3] }) as tf.Tensor],
  ];
  const be = tf.findBackend('wasm') as BackendWasm;
  for (const [label, op] of ops) {
    tf.tidy(() => op().dataSync());
    const mem = tf.memory();
    const ids = be.numDataIds();
    const before = calls;
    tf.tidy(() => op().dataSync());
    t.true(calls > before, `${label}: not run on OpenBLAS`);
    t.is(tf.memory().numTensors, mem.numTensors, `${label}: numTensors`);
    t.is(tf.memory().numBytes, mem.numBytes, `${label}: numBytes`);
    t.is(be.numDataIds(), ids, `${label}: wasm backend data ids`);
  }
});

// ------------------------------------------------------------------------- the library itself

test.serial('koffi hands C a pointer into the wasm heap, not a copy', (t) => {
  // memchr returns a pointer into the buffer it searched: if koffi passed a copy, writing through
  // that pointer after the call would not reach the tensor.
  const memchr = koffi.load('libc.so.6').func('void *memchr(const void *s, int c, size_t n)');
  const be = tf.findBackend('wasm') as BackendWasm;
  const x = tf.zeros([64]);
  try {
    const view = be.typedArrayFromHeap(x) as Float32Array;
    new Uint8Array(view.buffer, view.byteOffset, view.byteLength)[4 * 37] = 0x5a;
    const p = memchr(view.subarray(5), 0x5a, 4 * 59);
    t.truthy(p, 'memchr found the marker');
    new Float32Array(koffi.view(p, 4))[0] = 12.5;
    t.is(x.dataSync()[37], 12.5);
  } finally {
    x.dispose();
  }
});

test.serial('OpenBLAS products repeat bitwise at a given thread count', async (t) => {
  const { blas } = await loadBlas('auto');
  const [M, K, N] = [200, 300, 150];
  const a = rand([M, K]).data;
  const b = rand([K, N]).data;
  const product = () => {
    const c = new Float32Array(M * N).fill(Number.NaN); // beta = 0 must ignore what is there
    blas!.sgemm(false, false, M, N, K, 1, a, K, b, N, 0, c, N);
    return c;
  };
  const byThreads: Float32Array[] = [];
  try {
    for (const threads of [1, 2]) {
      blas!.setThreads(threads);
      const first = product();
      t.false(first.some(Number.isNaN), `${threads} thread(s): NaN from the output's old contents`);
      t.deepEqual(product(), first, `${threads} thread(s): a second run differs`);
      byThreads.push(first);
    }
  } finally {
    blas!.setThreads(blasThreads().threads);
  }
  // Not asserted: OpenBLAS may split sums differently with more threads (seen here: ~10% of the
  // values differ in the last bit between 1 and 2 threads), which is why the thread count is fixed
  // per kind of process.
  const differ = byThreads[0].filter((v, i) => v !== byThreads[1][i]).length;
  t.log(`1 vs 2 threads: ${differ} of ${M * N} values differ`);
});

// A fork shuts the pthreads build's thread server down in the parent (its pthread_atfork handler);
// forked from another thread during a product, that hangs the product forever. The library the
// loader picks must keep its threads across a fork.
test.serial('the chosen OpenBLAS keeps its threads across a fork (the pthreads build does not)', async (t) => {
  const blas = wasmBlas();
  const threads = () => readdirSync('/proc/self/task').length;
  const product = () => blas!.sgemm(false, false, 64, 64, 64, 1, new Float32Array(4096).fill(1), 64, new Float32Array(4096).fill(1), 64, 0, new Float32Array(4096), 64);
  blas!.setThreads(2);
  product();
  const before = threads();
  spawnSync('true');
  t.is(threads(), before, `${blas!.info.reason}: a fork changed the process's thread count`);
  const pthreads = (await loadBlas('auto', { GAN_BLAS_LIBRARY: PTHREADS_BUILD })).blas;
  if (pthreads) {
    // The hazard itself, on the build that has it (same process: both libraries are loaded now).
    pthreads.setThreads(2);
    pthreads.sgemm(false, false, 64, 64, 64, 1, new Float32Array(4096).fill(1), 64, new Float32Array(4096).fill(1), 64, 0, new Float32Array(4096), 64);
    const withServer = threads();
    spawnSync('true');
    t.true(threads() < withServer, 'the pthreads build kept its server across a fork: the reason for preferring OpenMP is gone');
    pthreads.setThreads(1);
  }
  blas!.setThreads(blasThreads().threads);
});

test('the thread rule: OPENBLAS_NUM_THREADS wins, else cores shared among the launched workers, else all cores', (t) => {
  t.deepEqual(blasThreads({ OPENBLAS_NUM_THREADS: '3', GAN_WORKERS_ON_HOST: '2' }, 8), { threads: 3, why: 'OPENBLAS_NUM_THREADS=3' });
  t.deepEqual(blasThreads({ OPENBLAS_NUM_THREADS: 'many' }, 4), { threads: 4, why: "OPENBLAS_NUM_THREADS='many' is not a thread count, ignored; all 4 cores of this process" });
  t.deepEqual(blasThreads({ GAN_WORKERS_ON_HOST: '2' }, 2), { threads: 1, why: '2 workers share 2 cores' });
  t.deepEqual(blasThreads({ GAN_WORKERS_ON_HOST: '3' }, 8), { threads: 2, why: '3 workers share 8 cores' });
  t.deepEqual(blasThreads({ GAN_WORKERS_ON_HOST: '5' }, 2), { threads: 1, why: '5 workers share 2 cores' });
  t.deepEqual(blasThreads({ GAN_WORKERS_ON_HOST: '1' }, 4), { threads: 4, why: 'all 4 cores of this process' });
  t.deepEqual(blasThreads({}, 4), { threads: 4, why: 'all 4 cores of this process' });
  // The pthreads build: one thread unless asked for more (its thread server is not fork-safe).
  t.is(blasThreads({ GAN_WORKERS_ON_HOST: '1' }, 4, 'pthreads').threads, 1);
  t.regex(blasThreads({ OPENBLAS_NUM_THREADS: '4' }, 4, 'pthreads').why, /^OPENBLAS_NUM_THREADS=4 \(the pthreads build's threads can hang on a fork/);
});

// ------------------------------------------------------------------------------- choice, fallback

test('a missing library falls back with one line saying how to get it; --blas off says so', async (t) => {
  const missing = await loadBlas('auto', { GAN_BLAS_LIBRARY: '/nonexistent/libopenblas.so.0' });
  t.is(missing.blas, undefined);
  t.false(missing.info.active);
  t.regex(missing.info.reason, /^GAN_BLAS_LIBRARY=\/nonexistent\/libopenblas\.so\.0 does not load .*: plain wasm kernels; .*apt-get install libopenblas0/);
  t.notRegex(missing.info.reason, /\n/);
  const off = await loadBlas('off');
  t.is(off.blas, undefined);
  t.regex(off.info.reason, /--blas off/);
});

test('training without the library prints the fallback line, trains, and records plain wasm', async (t) => {
  const dir = await tempDir(t);
  const run = join(dir, 'run');
  const r = await runCli('train', ['--model', 'mlp', '--backend', 'wasm', '--epochs', '1', '--limit', '128', '--batch-size', '64', '--run-dir', run],
    { env: { GAN_BLAS_LIBRARY: join(dir, 'libopenblas.so.0') } });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /^backend: wasm \(requested with --backend wasm\)$/m);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('blas: '));
  t.is(lines.length, 1);
  t.regex(lines[0], /does not load .*apt-get install libopenblas0/);
  const config = JSON.parse(await readFile(join(run, 'config.json'), 'utf8'));
  t.is(config.backend.name, 'wasm');
  t.false(config.backend.blas.active);
  const latest = (await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim();
  t.is(JSON.parse(await readFile(join(run, 'checkpoints', latest, 'state.json'), 'utf8')).backend, 'wasm');
});

test('training with the library records wasm+blas; --blas off records wasm', async (t) => {
  const dir = await tempDir(t);
  for (const [flag, label] of [['auto', 'wasm+blas'], ['off', 'wasm']] as const) {
    const run = join(dir, flag);
    const r = await runCli('train', ['--model', 'mlp', '--backend', 'wasm', '--blas', flag, '--epochs', '1', '--limit', '128', '--batch-size', '64', '--run-dir', run],
      { env: { OPENBLAS_NUM_THREADS: undefined } });
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, new RegExp(`^backend: ${label.replace('+', '\\+')} \\(`, 'm'));
    t.regex(r.stderr, flag === 'auto' ? /^blas: OpenBLAS \S+ \(OpenMP\) from \/\S+ .*, \d+ thread\(s\): all \d+ cores of this process$/m : /^blas: off \(--blas off\)/m);
    const config = JSON.parse(await readFile(join(run, 'config.json'), 'utf8'));
    t.is(config.backend.name, label);
    t.is(config.backend.blas.active, flag === 'auto');
    const latest = (await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim();
    t.is(JSON.parse(await readFile(join(run, 'checkpoints', latest, 'state.json'), 'utf8')).backend, label);
  }
});

test('OPENBLAS_NUM_THREADS=1 gives one thread (the OpenMP build alone would take every core)', async (t) => {
  const dir = await tempDir(t);
  const r = await runCli('train', ['--model', 'mlp', '--backend', 'wasm', '--epochs', '1', '--limit', '64', '--batch-size', '64', '--run-dir', join(dir, 'run')], { env: { OPENBLAS_NUM_THREADS: '1' } });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /^blas: OpenBLAS \S+ \(OpenMP\) from \/\S+ .*, 1 thread\(s\): OPENBLAS_NUM_THREADS=1$/m);
});

test('launched workers share the cores: one BLAS thread each when two share two, recorded per worker', async (t) => {
  const dir = await tempDir(t);
  const run = join(dir, 'run');
  const r = await runCli('cluster', ['--workers', '2', '--model', 'mlp', '--backend', 'wasm', '--epochs', '1', '--limit', '128', '--batch-size', '64', '--run-dir', run],
    { env: { OPENBLAS_NUM_THREADS: undefined } });
  t.is(r.code, 0, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => / blas: /.test(l));
  t.is(lines.length, 2, r.stderr);
  for (const l of lines) t.regex(l, /^\[w[01]\] blas: OpenBLAS \S+ \(OpenMP\) .*, \d+ thread\(s\): 2 workers share \d+ cores$/);
  const config = JSON.parse(await readFile(join(run, 'config.json'), 'utf8'));
  t.is(config.backend.name, 'wasm+blas');
  t.is(config.workers.length, 2);
  for (const w of config.workers) {
    t.is(w.backend, 'wasm+blas');
    t.regex(w.blas, /2 workers share/);
  }
});
