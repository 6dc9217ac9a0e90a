/**
 * Nothing lost when the cluster gives up: with no restarts left, the coordinator writes its last
 * in-memory snapshot as a checkpoint (it is newer than any on disk) and `--resume latest` goes on
 * from there. Real processes, a real SIGKILL.
 */
import test from 'ava';
import { join } from 'node:path';
import { listCheckpoints, verifyCheckpoint } from '../src/shared/checkpoint/store.js';
import { runCli, tempDir } from './helpers/cli.js';

/** 8 steps per epoch; no checkpoint on disk before the kill (--checkpoint-every 100), a snapshot every second. */
const RUN = ['--model', 'mlp', '--backend', 'wasm', '--limit', '512', '--batch-size', '64', '--checkpoint-every', '100', '--snapshot-interval', '1', '--progress', 'off'];

test('a lost worker with --max-restarts 0: the last snapshot becomes a checkpoint that --resume latest continues', async (t) => {
  const dir = await tempDir(t);
  const run = join(dir, 'run');
  let seen = '';
  let killed = false;
  const r = await runCli('cluster', ['--workers', '2', ...RUN, '--epochs', '50', '--max-restarts', '0', '--run-dir', run], {
    timeoutMs: 180_000,
    onStderr: (chunk) => {
      seen += chunk;
      const pid = /worker rank 1 joined: \S+ pid (\d+)/.exec(seen);
      if (!killed && pid && /run directory:/.test(seen)) {
        killed = true;
        // Long enough for a few snapshots at one per second.
        setTimeout(() => process.kill(Number(pid[1]), 'SIGKILL'), 5000);
      }
    },
  });
  t.is(r.code, 1, r.stderr);
  const saved = /saved the last snapshot \(epoch (\d+), step (\d+), (\d+) steps done\) as (\S+): continue with --resume latest/.exec(r.stderr);
  t.truthy(saved, r.stderr);
  const [epoch, step, globalStep] = [Number(saved![1]), Number(saved![2]), Number(saved![3])];
  t.true(globalStep > 0, 'the snapshot holds training done before the kill');
  const ckpts = await listCheckpoints(join(run, 'checkpoints'));
  t.is(ckpts.length, 1);
  const state = await verifyCheckpoint(join(run, 'checkpoints', ckpts[0]));
  t.is(state.globalStep, globalStep);

  // Resume finishes the epoch the snapshot was taken in.
  const resumed = await runCli('cluster', ['--workers', '2', '--resume', 'latest', '--run-dir', run, '--epochs', String(epoch), '--backend', 'wasm', '--progress', 'off'], { timeoutMs: 180_000 });
  t.is(resumed.code, 0, resumed.stderr);
  t.regex(resumed.stderr, new RegExp(`resumed from .*: epoch ${epoch}, step ${step} \\(${globalStep} steps done\\)`));
});
