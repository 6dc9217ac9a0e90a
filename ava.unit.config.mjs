// `npm run test:unit`: the fast tier, in-process tests that start no process (no CLI, no cluster;
// tests/test-tiers.test.ts checks that), about a minute here. `npm test` runs these and the
// end-to-end files alike.
import base from './ava.config.mjs';

export const UNIT_FILES = [
  'bench-cost-model', 'bench-eta', 'describe-error', 'http-bounds', 'bench-profile', 'config', 'wasm-modules', 'gradients', 'eval-frechet', 'fp16', 'gpu-stats', 'grid-png', 'idx', 'membership', 'metric-names',
  'mnist', 'models', 'run-lock', 'optimizer', 'plot', 'readme', 'replica-sharded', 'replica-step', 'ring-allreduce', 'ring-auth', 'ring-codec-simd', 'ring-schedule', 'run-metrics', 'schedule', 'side-pool', 'step-forward',
].map((name) => `tests/${name}.test.ts`);

export default { ...base, files: UNIT_FILES, concurrency: 2 };
