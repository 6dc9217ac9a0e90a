/**
 * The bench's CPU breakdown (src/bench/cpu-profile.ts): each function lands in the category the
 * table names, self time is summed per category and divided by the steps, idle time is left out;
 * and a real profile of real training steps puts time in the products and in tfjs.
 */
import test from 'ava';
import { categorize, categoryOf, profileSteps, type CpuProfile } from '../src/bench/cpu-profile.js';
import { selectBackend } from '../src/shared/backend/select.js';
import { Replica } from '../src/shared/replica.js';

const ROOT = 'file:///work/x';

test('functions land in their categories', (t) => {
  t.is(categoryOf('sgemm', `${ROOT}/src/shared/backend/blas.ts`), 'blas');
  t.is(categoryOf('aleaUniform', `${ROOT}/src/shared/models/dropout.ts`), 'jsKernels');
  t.is(categoryOf('wasm-function[280]', 'wasm://wasm/0019ea4a'), 'wasm');
  t.is(categoryOf('col2imAdd', `${ROOT}/src/shared/backend/blas-kernels.ts`), 'jsKernels');
  t.is(categoryOf('adamKernelJs', `${ROOT}/src/shared/optimizer.ts`), 'adam');
  t.is(categoryOf('adamSimd', 'wasm://wasm/ac4ba4e6'), 'adam');
  t.is(categoryOf('col2imAdd', 'wasm://wasm/200f6612'), 'jsKernels');
  t.is(categoryOf('BackendWasm.readSync', `${ROOT}/node_modules/@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.node.js`), 'hostCopies');
  t.is(categoryOf('Engine.runKernel', `${ROOT}/node_modules/@tensorflow/tfjs-core/dist/tf-core.node.js`), 'tfjs');
  t.is(categoryOf('(garbage collector)', ''), 'gc');
  t.is(categoryOf('(idle)', ''), 'idle');
  t.is(categoryOf('trainStep', `${ROOT}/src/shared/replica.ts`), 'other');
});

test('self time is summed per category, per step (native frames under sgemm are the BLAS), without idle and the profiler\'s own work', (t) => {
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: { functionName: 'openblas_set_num_threads', url: '' } },
      { id: 6, callFrame: { functionName: 'sgemm', url: `${ROOT}/src/shared/backend/blas.ts` }, children: [1] },
      { id: 2, callFrame: { functionName: 'adamKernel', url: `${ROOT}/src/shared/optimizer.ts` } },
      { id: 3, callFrame: { functionName: '(idle)', url: '' } },
      { id: 4, callFrame: { functionName: 'post', url: 'node:inspector/promises' }, children: [5] },
      { id: 5, callFrame: { functionName: 'dispatch', url: '' } },
    ],
    samples: [1, 2, 1, 3, 1, 5, 4],
    timeDeltas: [1000, 2000, 3000, 50000, 4000, 9000, 9000],
  };
  const c = categorize(profile, 2);
  t.is(c.blas, 4); // (1 + 3 + 4) ms over 2 steps, in the native frame under sgemm
  t.is(c.adam, 1);
  t.is(Object.values(c).reduce((a, b) => a + b, 0), 5);
});

test('a profile of real MLP steps on wasm puts time in the wasm kernels, tfjs and Adam', async (t) => {
  await selectBackend('wasm', { blas: 'off' });
  const r = new Replica({ model: 'mlp', latent: 100, seed: 1, adam: { lr: 2e-4, beta1: 0.5, beta2: 0.999 } });
  const real = new Float32Array(16 * 784).fill(0.5);
  await r.trainStep(real, 16, { epoch: 0, step: 0, rank: 0, world: 1 });
  const c = await profileSteps(2, async (i) => void (await r.trainStep(real, 16, { epoch: 0, step: i + 1, rank: 0, world: 1 })));
  for (const k of ['wasm', 'tfjs', 'adam'] as const) t.true(c[k] > 0, `${k}: ${c[k]}`);
  t.is(c.blas, 0); // --blas off
});
