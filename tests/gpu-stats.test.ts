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
