/**
 * Tests are serial: they switch the global tfjs backend between wasm and cpu around awaits.
 *
 * The wasm kernels registered by src/shared/backend/wasm-kernels.ts (with --blas off: the OpenBLAS
 * versions are tests/blas.test.ts's), checked against the cpu backend on random inputs, plus
 * idempotence and leak checks.
 *
 * Accuracy bound: both backends compute in float32 but sum in different orders (XNNPACK's SIMD
 * blocks vs. plain loops), so results differ by rounding only. For a K-term dot product the
 * worst-case relative error is about K*eps (eps = 6e-8), but rounding errors have random signs and
 * the norm-wise error ||wasm - cpu|| / ||cpu|| grows like sqrt(K)*eps: at most ~5e-6 for the largest
 * sums here (K = 25*256 = 6400 taps), and we observe 1e-7..2e-6. 1e-5 keeps a 2x margin over that
 * while any indexing, padding or transpose mistake gives an error of order 1.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-layers registers tfjs-core's gradient functions (needed by tf.grads), as it does in the app.
import '@tensorflow/tfjs-layers';
import { selectBackend } from '../src/shared/backend/select.js';
import { registerWasmKernels, replacedWasmKernel } from '../src/shared/backend/wasm-kernels.js';
import { col2imAdd, geometry, im2col, type ConvAttrs } from '../src/shared/backend/blas-kernels.js';
import { columnKernelsOf } from '../src/shared/backend/kernels/elementwise.js';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { agree as agreeWithin, rand, type Input } from './helpers/kernels.js';

const TOL = 1e-5;

/** Asserts wasm and cpu agree on `f(inputs)` within TOL. */
function agree(t: import('ava').ExecutionContext, label: string, inputs: Input[], f: (...ts: tf.Tensor[]) => tf.Tensor) {
  return agreeWithin(t, label, inputs, f, TOL);
}

/** Backend-level allocations: catches internal temporaries that tf.memory() (engine tensors) cannot see. */
function wasmDataIds(): number {
  return tf.findBackend('wasm')!.numDataIds();
}

test.before(async () => {
  // The plain wasm kernels: OpenBLAS' versions are tests/blas.test.ts's.
  const choice = await selectBackend('wasm', { blas: 'off' });
  if (choice.label !== 'wasm') throw new Error(`expected the plain wasm kernels, got ${choice.label}`);
});

// ---------------------------------------------------------------------------------------- matmul

const matmulCases: Array<[string, number[], number[]]> = [
  // label, a shape (untransposed), b shape (untransposed): product a x b
  ['mlp D 784x1024', [8, 784], [784, 1024]],
  ['mlp G 1024x784', [8, 1024], [1024, 784]],
  ['mlp 256x1', [8, 256], [256, 1]],
  ['odd', [7, 13], [13, 5]],
  ['row', [1, 33], [33, 17]],
];

/** a x b with a given as stored for transposeA (i.e. a^T is stored) and likewise b. */
function storedShapes(a: number[], b: number[], tA: boolean, tB: boolean): [number[], number[]] {
  const sw = (s: number[]) => [...s.slice(0, -2), s[s.length - 1], s[s.length - 2]];
  return [tA ? sw(a) : a, tB ? sw(b) : b];
}

for (const [tA, tB] of [[true, false], [false, true], [true, true], [false, false]] as const) {
  test.serial(`BatchMatMul transposeA=${tA} transposeB=${tB} matches cpu`, async (t) => {
    for (const [label, a, b] of matmulCases) {
      const [as, bs] = storedShapes(a, b, tA, tB);
      await agree(t, label, [rand(as), rand(bs)], (x, y) => tf.matMul(x, y, tA, tB));
    }
  });
}

test.serial('BatchMatMul with batch dimensions matches cpu', async (t) => {
  const cases: Array<[string, number[], number[]]> = [
    ['same batch', [3, 5, 7], [3, 7, 4]],
    ['b unbatched', [2, 3, 5, 7], [7, 4]],
    ['b batch 1', [4, 5, 7], [1, 7, 4]],
    ['a unbatched', [5, 7], [3, 7, 4]],
    ['rank 4 same batch', [2, 2, 6, 3], [2, 2, 3, 9]],
  ];
  for (const [label, a, b] of cases) {
    for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const [as, bs] = storedShapes(a, b, tA, tB);
      await agree(t, `${label} tA=${tA} tB=${tB}`, [rand(as), rand(bs)], (x, y) => tf.matMul(x, y, tA, tB));
    }
  }
});

test.serial('_FusedMatMul with transposes, bias and activations matches cpu', async (t) => {
  const acts: Array<{ activation: 'linear' | 'relu' | 'relu6' | 'elu' | 'sigmoid' | 'leakyrelu' | 'prelu'; leakyreluAlpha?: number }> = [
    { activation: 'linear' },
    { activation: 'relu' },
    { activation: 'relu6' },
    { activation: 'leakyrelu', leakyreluAlpha: 0.2 },
    { activation: 'elu' },
    { activation: 'sigmoid' },
    { activation: 'prelu' },
  ];
  const shapes: Array<[string, number[], number[]]> = [
    ['mlp 784x1024', [4, 784], [784, 1024]],
    ['odd', [7, 13], [13, 5]],
    ['batched, b shared', [2, 7, 13], [13, 5]],
    ['batched, b batched', [3, 4, 6], [3, 6, 5]],
  ];
  for (const [label, a, b] of shapes) {
    const n = b[b.length - 1];
    for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      for (const { activation, leakyreluAlpha } of acts) {
        for (const withBias of [true, false]) {
          const [as, bs] = storedShapes(a, b, tA, tB);
          const ins = [rand(as), rand(bs), rand([n]), rand([n])];
          await agree(t, `${label} tA=${tA} tB=${tB} ${activation} bias=${withBias}`, ins, (x, y, bias, alpha) =>
            tf.fused.matMul({
              a: x, b: y, transposeA: tA, transposeB: tB, activation, leakyreluAlpha,
              bias: withBias ? bias : undefined,
              preluActivationWeights: activation === 'prelu' ? alpha : undefined,
            }));
        }
      }
    }
  }
});

test.serial('_FusedMatMul broadcasts a length-1 bias and prelu weights like cpu', async (t) => {
  for (const [label, a, b] of [['plain', [5, 7], [7, 3]], ['tB', [5, 7], [3, 7]], ['batched', [2, 5, 7], [7, 3]]] as const) {
    const tB = label === 'tB';
    await agree(t, label, [rand([...a]), rand([...b]), rand([1]), rand([1])], (x, y, bias, alpha) =>
      tf.fused.matMul({ a: x, b: y, transposeB: tB, bias, activation: 'prelu', preluActivationWeights: alpha }));
  }
});

// ------------------------------------------------------------------------------------------ conv

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
interface ConvCase { label: string; x: number[]; f: number[]; s: [number, number]; pad: Pad }
const convCases: ConvCase[] = [
  // The DCGAN layers at batch 2 (x = input of the conv; for Conv2DTranspose, its output).
  { label: 'D conv1 / G convT3', x: [2, 28, 28, 1], f: [5, 5, 1, 64], s: [2, 2], pad: 'same' },
  { label: 'D conv2 / G convT2', x: [2, 14, 14, 64], f: [5, 5, 64, 128], s: [2, 2], pad: 'same' },
  { label: 'G convT1', x: [2, 7, 7, 128], f: [5, 5, 128, 256], s: [1, 1], pad: 'same' },
  // Odd sizes, valid/explicit pads, rectangular strides and kernels.
  { label: 'odd valid s2 (last row unused)', x: [3, 10, 9, 3], f: [3, 4, 3, 5], s: [2, 2], pad: 'valid' },
  { label: 'odd same s2', x: [1, 9, 11, 2], f: [5, 3, 2, 3], s: [2, 2], pad: 'same' },
  { label: 'odd valid s1', x: [2, 6, 7, 3], f: [3, 2, 3, 4], s: [1, 1], pad: 'valid' },
  { label: 'strides 2x1 same', x: [2, 8, 7, 3], f: [3, 3, 3, 2], s: [2, 1], pad: 'same' },
  { label: 'explicit pads', x: [2, 7, 6, 2], f: [3, 3, 2, 3], s: [2, 2], pad: [[0, 0], [2, 0], [1, 3], [0, 0]] },
  { label: 'stride > kernel', x: [1, 11, 11, 2], f: [2, 2, 2, 3], s: [3, 3], pad: 'valid' },
  { label: '1x1 kernel', x: [2, 5, 5, 4], f: [1, 1, 4, 3], s: [1, 1], pad: 'same' },
  // Stride 1 with a pad wider than the kernel: Conv2DBackpropInput can't use its conv path.
  { label: 's1 pad > kernel', x: [2, 5, 6, 2], f: [2, 2, 2, 3], s: [1, 1], pad: [[0, 0], [3, 1], [0, 2], [0, 0]] },
];

function convOutShape(c: ConvCase): number[] {
  const info = tf.backend_util.computeConv2DInfo(c.x as [number, number, number, number], c.f as [number, number, number, number],
    c.s, 1, c.pad as 'same', undefined, false, 'channelsLast');
  return info.outShape;
}

test.serial('Conv2DBackpropFilter matches cpu', async (t) => {
  for (const c of convCases) {
    await agree(t, c.label, [rand(c.x), rand(convOutShape(c))], (x, dy) =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: c.s, pad: c.pad, dataFormat: 'NHWC', filterShape: c.f }) as tf.Tensor);
  }
});

test.serial('Conv2DBackpropInput matches cpu', async (t) => {
  for (const c of convCases) {
    await agree(t, c.label, [rand(convOutShape(c)), rand(c.f)], (dy, filter) =>
      tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, { strides: c.s, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x }) as tf.Tensor);
  }
});

test.serial('Conv2DBackpropInput matches cpu when its column buffer is split into chunks', async (t) => {
  // Stride 2 (stride 1 takes the conv path): 64*64 positions x 5*5*32 taps = 3.3M floats per image,
  // two images per 8M-float chunk, so chunks of 2 and 1 images.
  const c: ConvCase = { label: 'chunked', x: [3, 128, 128, 32], f: [5, 5, 32, 2], s: [2, 2], pad: 'same' };
  await agree(t, c.label, [rand(convOutShape(c)), rand(c.f)], (dy, filter) =>
    tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, { strides: c.s, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x }) as tf.Tensor);
});

test.serial('conv2d and conv2dTranspose gradients on wasm match cpu', async (t) => {
  // End to end through tfjs-core's gradient functions, as a DCGAN training step uses them.
  const x = rand([2, 14, 14, 8]);
  const f = rand([5, 5, 8, 6]);
  const dy = rand([2, 7, 7, 6]);
  const loss = (xx: tf.Tensor, ff: tf.Tensor, w: tf.Tensor) =>
    tf.sum(tf.mul(tf.conv2d(xx as tf.Tensor4D, ff as tf.Tensor4D, 2, 'same'), w));
  const lossT = (yy: tf.Tensor, ff: tf.Tensor, w: tf.Tensor) =>
    tf.sum(tf.mul(tf.conv2dTranspose(w as tf.Tensor4D, ff as tf.Tensor4D, [2, 14, 14, 8], 2, 'same'), yy));
  for (const i of [0, 1]) {
    await agree(t, `conv2d grad ${i ? 'filter' : 'x'}`, [x, f, dy], (xx, ff, w) => tf.grads(loss)([xx, ff, w])[i]);
    await agree(t, `conv2dTranspose grad ${i ? 'filter' : 'input'}`, [x, f, dy], (yy, ff, w) => tf.grads(lossT)([yy, ff, w])[2 - i]);
  }
});

test.serial('Conv2DBackpropFilter and Conv2DBackpropInput reject NCHW with a clear error', (t) => {
  tf.tidy(() => {
    const x = tf.zeros([1, 2, 5, 5]);
    const dy = tf.zeros([1, 3, 5, 5]);
    t.throws(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 2, 3] }),
      { message: /only dataFormat 'NHWC'/ });
    t.throws(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: tf.zeros([3, 3, 2, 3]) }, { strides: 1, pad: 'same', dataFormat: 'NCHW', inputShape: [1, 2, 5, 5] }),
      { message: /only dataFormat 'NHWC'/ });
  });
});

// ------------------------------------------------------------------------------------------ tile

test.serial('Tile matches cpu for float32, int32 and bool', async (t) => {
  const cases: Array<[number[], number[]]> = [
    [[1, 1, 1, 64], [3, 4, 5, 1]], // batch-norm gradient shape
    [[1, 1, 1, 7], [2, 1, 3, 1]],
    [[3, 1, 2], [1, 4, 3]],
    [[5], [3]],
    [[2, 3], [1, 1]],
    [[1, 4], [6, 2]],
    [[2, 1, 3, 1, 2], [2, 3, 1, 2, 2]],
  ];
  for (const [shape, reps] of cases) {
    const x = rand(shape);
    await agree(t, `float32 [${shape}] x [${reps}]`, [x], (v) => tf.tile(v, reps));
    const ints = { shape, data: Int32Array.from(x.data, (v) => Math.round(v * 1000)), dtype: 'int32' as const };
    await agree(t, `int32 [${shape}] x [${reps}]`, [ints], (v) => tf.tile(v, reps));
    const bools = { shape, data: Uint8Array.from(x.data, (v) => (v > 0 ? 1 : 0)), dtype: 'bool' as const };
    await agree(t, `bool [${shape}] x [${reps}]`, [bools], (v) => tf.cast(tf.tile(v, reps), 'float32'));
  }
});

// ------------------------------------------------------------------------------- registration

// ------------------------------------------------------- element-wise kernels (elementwise.wat)

/** The tfjs kernel ours replaced, run on `inputs`: the reference these must match bit for bit. */
function runReplaced(name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown>): tf.Tensor {
  const kernel = replacedWasmKernel(name);
  if (!kernel) throw new Error(`no replaced ${name}`);
  const info = kernel({ inputs, backend: tf.backend(), attrs: attrs as tf.NamedAttrMap });
  return tf.engine().makeTensorFromTensorInfo(info);
}

/** Random values with exact zeros and negative zeros sprinkled in (the branches' edges). */
function edgy(shape: number[]): tf.Tensor {
  const { data } = rand(shape);
  for (let i = 0; i < data.length; i += 7) data[i] = i % 2 === 0 ? 0 : -0;
  return tf.tensor(data, shape);
}

const bits = (x: tf.Tensor) => new Uint32Array(x.dataSync().slice().buffer);

for (const shape of [[7], [3, 5, 7], [128, 1024], [256, 513]]) {
  test.serial(`LeakyRelu and its one-kernel gradient give the bits of tfjs' kernels, [${shape}]`, (t) => {
    const alpha = shape.length === 2 ? 0.2 : 0.3;
    tf.tidy(() => {
      const [x, dy] = [edgy(shape), tf.tensor(rand(shape).data, shape)];
      t.deepEqual(bits(tf.leakyRelu(x, alpha)), bits(runReplaced('LeakyRelu', { x }, { alpha })), 'forward');
      const reference = tf.where(tf.greater(x, 0), dy, tf.mul(dy, alpha)); // tfjs' gradient, on tfjs' kernels
      t.deepEqual(bits(tf.engine().runKernel('LeakyReluGrad', { x, dy }, { alpha }) as tf.Tensor), bits(reference), 'gradient kernel');
      // Through autodiff: the registered gradient (gradients.ts) is the one kernel.
      t.deepEqual(bits(tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.leakyRelu(v, alpha), dy)))(x)), bits(reference), 'tf.grad');
    });
  });
}

const reductions: Array<[number[], number[], boolean]> = [
  [[128, 1024], [0], false], // a Dense layer's bias gradient
  [[1, 1, 128, 1024], [0, 1, 2], false], // the same through _FusedMatMul's reshape
  [[256, 7], [0], false], // columns not a multiple of 4
  [[5, 3, 6], [-3, -2], true], // negative axes, keepDims
  [[128, 14, 14, 64], [0, 1, 2], true], // BatchNorm's moments in the DCGAN
  [[4, 6], [1], false], // not leading: the replaced kernel
  [[4, 6], [0, 1], false], // everything: the replaced kernel
];
for (const [shape, axis, keepDims] of reductions) {
  test.serial(`Sum and Mean over [${axis}] of [${shape}]${keepDims ? ' (keepDims)' : ''} give the bits of tfjs' kernels and agree with cpu`, async (t) => {
    for (const [name, op] of [['Sum', tf.sum], ['Mean', tf.mean]] as const) {
      const x = tf.tensor(rand(shape).data, shape);
      const [ours, ref] = [op(x, axis, keepDims), runReplaced(name, { x }, { axis, keepDims })];
      t.deepEqual(ours.shape, ref.shape, `${name} shape`);
      t.deepEqual(bits(ours), bits(ref), `${name} bits`);
      tf.dispose([x, ours, ref]);
      await agree(t, `${name} [${shape}] over [${axis}]`, [rand(shape)], (v) => op(v, axis, keepDims));
    }
  });
}

// -------------------------------------------- column buffers (elementwise.wat's im2col, col2imAdd)

const columnCases: Array<[string, number[], number[], ConvAttrs]> = [
  // label, x shape, filter shape, attributes
  ['DCGAN D conv1 (1 channel)', [3, 28, 28, 1], [5, 5, 1, 64], { strides: 2, pad: 'same' }],
  ['DCGAN D conv2', [2, 14, 14, 64], [5, 5, 64, 128], { strides: 2, pad: 'same' }],
  ['3 channels, stride 1, valid', [2, 9, 7, 3], [3, 3, 3, 4], { strides: 1, pad: 'valid' }],
  ['dilation 2, odd padding', [2, 11, 10, 5], [3, 2, 5, 2], { strides: [2, 1], pad: 'same', dilations: 2 }],
];
for (const [label, xShape, fShape, attrs] of columnCases) {
  test.serial(`im2col and col2imAdd in wasm give the bits of the JavaScript ones: ${label}`, (t) => {
    const g = geometry(xShape, fShape, attrs, attrs.dilations ?? 1)!;
    const be = tf.backend() as unknown as BackendWasm;
    const wasm = columnKernelsOf(be)!;
    const [n0, n1] = [1, g.N]; // from the second image on, as a later chunk does
    const colsLen = (n1 - n0) * g.P * g.R;
    const x = tf.tensor(rand(xShape).data, xShape);
    const [colsJs, colsWasm] = [tf.fill([colsLen], NaN), tf.fill([colsLen], NaN)]; // every value must be written
    const heap = () => new Float32Array(be.typedArrayFromHeap(x).buffer);
    const at = (v: tf.Tensor) => be.typedArrayFromHeap(v as unknown as TensorInfo).byteOffset;
    im2col(heap(), at(x) / 4, at(colsJs) / 4, n0, n1, g);
    wasm.im2col(at(x), at(colsWasm), n0, n1, g.H, g.W, g.CI, g.OH, g.OW, g.KH, g.KW, g.SH, g.SW, g.DH, g.DW, g.top, g.left);
    t.deepEqual(bits(colsWasm), bits(colsJs), 'im2col');
    t.false(colsJs.dataSync().some(Number.isNaN), 'im2col wrote every value');
    if (g.DH === 1 && g.DW === 1) {
      // col2imAdd (no dilation, as Conv2DBackpropInput uses it) into a dx that already holds values.
      const cols = tf.tensor(rand([colsLen]).data);
      const start = rand(xShape).data;
      const [dxJs, dxWasm] = [tf.tensor(start, xShape), tf.tensor(start, xShape)];
      col2imAdd(heap(), at(cols) / 4, at(dxJs) / 4, n0, n1, g.H, g.W, g.CI, g.OH, g.OW, g.KH, g.KW, g.SH, g.SW, g.top, g.left);
      wasm.col2imAdd(at(cols), at(dxWasm), n0, n1, g.H, g.W, g.CI, g.OH, g.OW, g.KH, g.KW, g.SH, g.SW, g.top, g.left);
      t.deepEqual(bits(dxWasm), bits(dxJs), 'col2imAdd');
      t.notDeepEqual(bits(dxJs), bits(tf.tensor(start)), 'col2imAdd added something');
      tf.dispose([cols, dxJs, dxWasm]);
    }
    tf.dispose([x, colsJs, colsWasm]);
  });
}

test.serial('registerWasmKernels is idempotent', (t) => {
  const names = ['BatchMatMul', '_FusedMatMul', 'Conv2D', 'FusedConv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'Tile'];
  const before = names.map((n) => tf.getKernel(n, 'wasm')?.kernelFunc);
  registerWasmKernels();
  registerWasmKernels();
  const after = names.map((n) => tf.getKernel(n, 'wasm')?.kernelFunc);
  t.true(before.every((k) => k !== undefined));
  t.deepEqual(after, before);
});

test.serial('the kernels leak no tensors and no wasm memory', (t) => {
  t.is(tf.getBackend(), 'wasm');
  const ops: Array<[string, () => tf.Tensor]> = [
    ['BatchMatMul tA', () => tf.matMul(tf.ones([6, 5]), tf.ones([6, 4]), true, false)],
    ['BatchMatMul tB', () => tf.matMul(tf.ones([6, 5]), tf.ones([4, 5]), false, true)],
    ['BatchMatMul tB, small M', () => tf.matMul(tf.ones([2, 30]), tf.ones([40, 30]), false, true)],
    ['BatchMatMul batched', () => tf.matMul(tf.ones([3, 6, 5]), tf.ones([3, 4, 5]), false, true)],
    ['BatchMatMul b shared', () => tf.matMul(tf.ones([3, 6, 5]), tf.ones([5, 4]))],
    ['_FusedMatMul', () => tf.fused.matMul({ a: tf.ones([6, 5]), b: tf.ones([4, 5]), transposeB: true, bias: tf.ones([4]), activation: 'relu' })],
    ['Conv2DBackpropFilter', () => tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.ones([2, 9, 9, 3]), dy: tf.ones([2, 4, 4, 4]) },
      { strides: 2, pad: 'valid', dataFormat: 'NHWC', filterShape: [3, 3, 3, 4] }) as tf.Tensor],
    ['Conv2DBackpropInput', () => tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.ones([2, 5, 5, 4]), filter: tf.ones([5, 5, 3, 4]) },
      { strides: 2, pad: 'same', dataFormat: 'NHWC', inputShape: [2, 10, 10, 3] }) as tf.Tensor],
    ['Conv2DBackpropInput stride 1', () => tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.ones([2, 5, 5, 4]), filter: tf.ones([3, 3, 3, 4]) },
      { strides: 1, pad: 'same', dataFormat: 'NHWC', inputShape: [2, 5, 5, 3] }) as tf.Tensor],
    ['Conv2DBackpropInput chunked', () => tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.ones([3, 64, 64, 2]), filter: tf.ones([5, 5, 32, 2]) },
      { strides: 2, pad: 'same', dataFormat: 'NHWC', inputShape: [3, 128, 128, 32] }) as tf.Tensor],
    ['Tile', () => tf.tile(tf.ones([1, 1, 1, 8]), [2, 3, 3, 1])],
  ];
  for (const [label, op] of ops) {
    tf.tidy(() => op().dataSync()); // warm up (first calls may allocate caches)
    const mem = tf.memory();
    const ids = wasmDataIds();
    tf.tidy(() => op().dataSync());
    t.is(tf.memory().numTensors, mem.numTensors, `${label}: numTensors`);
    t.is(tf.memory().numBytes, mem.numBytes, `${label}: numBytes`);
    t.is(wasmDataIds(), ids, `${label}: wasm backend data ids`);
  }
});
