/**
 * No hang, ever: a stalled worker is reported within --worker-timeout and the run stops; workers
 * whose coordinator is killed exit on their own. Real processes, real signals.
 */
import test from 'ava';
import { join } from 'node:path';
import { runCli, tempDir } from './helpers/cli.js';
import { processAlive } from '../src/shared/proc.js';

const LONG_RUN = ['--model', 'mlp', '--backend', 'wasm', '--epochs', '50', '--limit', '512', '--batch-size', '64', '--progress', 'off'];

/** pids of the workers by rank, as the coordinator logs them when they join. */
function workerPids(text: string): number[] {
  const pids: number[] = [];
  for (const m of text.matchAll(/worker rank (\d+) joined: \S+ pid (\d+)/g)) pids[Number(m[1])] = Number(m[2]);
  return pids.filter((p) => p !== undefined);
}

test('a stalled worker (SIGSTOP) is reported within the worker timeout; with --max-restarts 0 the run stops', async (t) => {
  const dir = await tempDir(t);
  let stopped: number | undefined;
  t.teardown(() => {
    if (stopped && processAlive(stopped)) {
      process.kill(stopped, 'SIGCONT');
      process.kill(stopped, 'SIGKILL');
    }
  });
  let seen = '';
  let stoppedAt = 0;
  const r = await runCli('cluster', ['--workers', '2', ...LONG_RUN, '--worker-timeout', '5', '--max-restarts', '0', '--run-dir', join(dir, 'run')], {
    timeoutMs: 120_000,
    onStderr: (chunk) => {
      seen += chunk;
      if (stopped === undefined && /run directory:/.test(seen) && workerPids(seen).length === 2) {
        stopped = workerPids(seen)[1];
        setTimeout(() => {
          process.kill(stopped!, 'SIGSTOP');
          stoppedAt = Date.now();
        }, 1500);
      }
    },
  });
  const detectedAfter = (Date.now() - stoppedAt) / 1000;
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, new RegExp(`worker rank 1 \\(\\S+ pid ${stopped}\\) silent for over 5 s`));
  t.log(`launcher exited ${detectedAfter.toFixed(1)} s after the SIGSTOP`);
  // Detection at ~5 s, then the launcher gives stuck children 5 s before SIGKILL.
  t.true(detectedAfter < 15, `took ${detectedAfter} s`);
  t.false(processAlive(stopped!));
});

test('workers exit on their own when the coordinator is killed (SIGKILL)', async (t) => {
  const dir = await tempDir(t);
  let pids: number[] = [];
  let killedAt = 0;
  let armed = false;
  t.teardown(() => pids.filter(processAlive).forEach((p) => process.kill(p, 'SIGKILL')));
  let seen = '';
  await runCli('cluster', ['--workers', '2', ...LONG_RUN, '--run-dir', join(dir, 'run')], {
    timeoutMs: 120_000,
    onStderr: (chunk, child) => {
      seen += chunk;
      if (!armed && /run directory:/.test(seen) && workerPids(seen).length === 2) {
        armed = true;
        pids = workerPids(seen);
        setTimeout(() => {
          killedAt = Date.now();
          child.kill('SIGKILL');
        }, 1000);
      }
    },
  });
  t.true(killedAt > 0 && pids.length === 2, `the coordinator was not killed mid-run:\n${seen.slice(-2000)}`);
  const deadline = Date.now() + 30_000;
  while (pids.some(processAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  t.log(`workers gone ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill`);
  t.deepEqual(pids.filter(processAlive), []);
});

test('workers exit on their own when the coordinator stalls (SIGSTOP): the heartbeats stop, the connection stays', async (t) => {
  const dir = await tempDir(t);
  const token = 'test-token-stalled-coordinator-0123';
  let coordinatorPid: number | undefined;
  t.teardown(() => {
    if (coordinatorPid && processAlive(coordinatorPid)) {
      process.kill(coordinatorPid, 'SIGCONT');
      process.kill(coordinatorPid, 'SIGKILL');
    }
  });
  let endpoint: (v: string) => void;
  const listening = new Promise<string>((r) => (endpoint = r));
  const coordinator = runCli('coordinator', ['--workers', '2', '--token', token, ...LONG_RUN, '--run-dir', join(dir, 'run'), '--join-timeout', '120'], {
    timeoutMs: 120_000,
    onStderr: (chunk, child) => {
      coordinatorPid = child.pid;
      const m = /listening on (tcp:\/\/[\d.]+:\d+)/.exec(chunk);
      if (m) endpoint(m[1]);
      if (/run directory:/.test(chunk)) setTimeout(() => process.kill(child.pid!, 'SIGSTOP'), 1500);
    },
  }).catch(() => undefined);
  const ep = await listening;
  const workers = await Promise.all([0, 1].map(() => runCli('worker', ['--coordinator', ep, '--token', token, ...LONG_RUN, '--coordinator-timeout', '3'], { timeoutMs: 60_000 })));
  for (const w of workers) {
    t.is(w.code, 3, w.stderr);
    t.regex(w.stderr, /the coordinator has been silent for \d+\.\d s; exiting/);
  }
  process.kill(coordinatorPid!, 'SIGCONT');
  process.kill(coordinatorPid!, 'SIGKILL');
  await coordinator;
});
