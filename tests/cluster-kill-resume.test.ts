/**
 * The coordinator SIGKILLed mid-run: its workers exit, and `--resume latest` continues from the last
 * checkpoint to the end, bit-identical to a run that was never killed; the result samples.
 */
import test from 'ava';
import { join } from 'node:path';
import { runCli, tempDir } from './helpers/cli.js';
import { finalState } from './helpers/run.js';

const RUN = ['--workers', '2', '--model', 'mlp', '--backend', 'wasm', '--limit', '384', '--batch-size', '64', '--epochs', '4', '--checkpoint-every', '1', '--progress', 'lines'];


test('SIGKILL the coordinator, then --resume latest: the run completes as if never killed', async (t) => {
  const dir = await tempDir(t);
  const full = await runCli('cluster', [...RUN, '--run-dir', join(dir, 'full')]);
  t.is(full.code, 0, full.stderr);

  let killed = false;
  const part = await runCli('cluster', [...RUN, '--run-dir', join(dir, 'part')], {
    onStderr: (chunk, child) => {
      if (!killed && /checkpoint: .*ckpt-000000012-e0002/.test(chunk)) {
        killed = true;
        child.kill('SIGKILL');
      }
    },
  });
  t.true(killed);
  t.is(part.code, null); // killed by the signal

  const resumed = await runCli('cluster', ['--workers', '2', '--resume', 'latest', '--run-dir', join(dir, 'part'), '--progress', 'lines']);
  t.is(resumed.code, 0, resumed.stderr);
  t.regex(resumed.stderr, /resumed from .*ckpt-000000012-e0002: epoch 3, step 0/);
  t.true((await finalState(join(dir, 'part'))).equals(await finalState(join(dir, 'full'))));
  const s = await runCli('sample', ['--ckpt', 'latest', '--run-dir', join(dir, 'part'), '--backend', 'wasm', '--n', '16', '--out', join(dir, 's.png')]);
  t.is(s.code, 0, s.stderr);
});
