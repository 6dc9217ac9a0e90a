/** nvidia-smi's CSV query output becomes a ratio and bytes; anything else becomes "absent". */
import test from 'ava';
import { parseNvidiaSmi } from '../src/worker/gpu-stats.js';

test('utilisation percent and MiB are converted to a 0..1 ratio and bytes', (t) => {
  t.deepEqual(parseNvidiaSmi('37, 10240\n'), { utilization: 0.37, memoryBytes: 10240 * 1024 * 1024 });
});

test('unparsable output (no GPU, an error text) gives no reading rather than zeros', (t) => {
  t.is(parseNvidiaSmi(''), undefined);
  t.is(parseNvidiaSmi('No devices were found\n'), undefined);
  t.is(parseNvidiaSmi('[N/A], [N/A]\n'), undefined);
});

test("the GPU's index and UUID (DCGM's gpu and UUID labels) are read when nvidia-smi prints them", (t) => {
  t.deepEqual(parseNvidiaSmi('37, 10240, 3, GPU-5f1c2d7e-8a9b-4c3d-9e8f-0123456789ab\n'), {
    utilization: 0.37, memoryBytes: 10240 * 1024 * 1024, index: 3, uuid: 'GPU-5f1c2d7e-8a9b-4c3d-9e8f-0123456789ab',
  });
  // A field nvidia-smi could not fill is left out, not made up.
  t.deepEqual(parseNvidiaSmi('37, 10240, [N/A], [N/A]\n'), { utilization: 0.37, memoryBytes: 10240 * 1024 * 1024 });
});
