/**
 * Fault injection on a real cluster: worker processes are SIGKILLed at arbitrary steps, twice in one
 * run. The coordinator notices, stops the others, restarts the workers, rolls every replica back to
 * the last snapshot (rank 0's state, re-broadcast) and goes on. The run completes its epochs with
 * finite losses and agreeing replica hashes, ends bit-identical to a run that was never disturbed
 * (the rollback replays the same deterministic steps), and its final checkpoint samples.
 */
import { readdirSync } from 'node:fs';
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, tempDir } from './helpers/cli.js';
import { finalState } from './helpers/run.js';

const RUN = ['--workers', '2', '--model', 'mlp', '--backend', 'wasm', '--limit', '512', '--batch-size', '64', '--epochs', '4', '--hash-every', '2', '--snapshot-interval', '1', '--progress', 'lines'];


test('two workers SIGKILLed mid-run: restarts, rollbacks, and the same result as an undisturbed run', async (t) => {
  const dir = await tempDir(t);
  const calm = await runCli('cluster', [...RUN, '--run-dir', join(dir, 'calm')]);
  t.is(calm.code, 0, calm.stderr);

  let seen = '';
  const kills: { pid: number; at: number }[] = [];
  const detected: number[] = [];
  const r = await runCli('cluster', [...RUN, '--run-dir', join(dir, 'run')], {
    timeoutMs: 300_000,
    onStderr: (chunk) => {
      seen += chunk;
      if (/failed: worker \d \(pid \d+\) exited on SIGKILL/.test(chunk) && kills.length > detected.length) detected.push(Date.now() - kills[detected.length].at);
      const joins = [...seen.matchAll(/worker rank (\d) joined: \S+ pid (\d+)/g)];
      // Once each generation trains (the first run directory line, then each "workers ready again"),
      // kill one of its workers a little later: rank 1 first, then rank 0.
      const training = [...seen.matchAll(/run directory:|workers ready again/g)].length;
      if (training === kills.length + 1 && kills.length < 2) {
        const victimRank = kills.length === 0 ? '1' : '0';
        const victim = Number(joins.slice(-2).find((m) => m[1] === victimRank)![2]);
        kills.push({ pid: victim, at: Number.POSITIVE_INFINITY });
        setTimeout(() => {
          kills[kills.length - 1] = { pid: victim, at: Date.now() };
          try {
            process.kill(victim, 'SIGKILL');
          } catch {
            // already gone
          }
        }, 1500);
      }
    },
  });
  t.is(r.code, 0, r.stderr.slice(-3000));
  t.is(kills.length, 2);
  const rollbacks = [...r.stderr.matchAll(/restart \d of 3, rolling back from step (\d+) to step (\d+)/g)];
  t.is(rollbacks.length, 2);
  t.log(`failure detected ${detected.map((ms) => `${ms} ms`).join(', ')} after the kill; steps redone: ${rollbacks.map((m) => Number(m[1]) - Number(m[2])).join(', ')}`);
  t.notRegex(r.stderr, /replica weights differ/);
  // The workers' rings ran in shared memory; no region of any of them (killed or not) is left in /dev/shm.
  t.regex(r.stderr, /data plane: shm/);
  const pids = new Set([...r.stderr.matchAll(/worker rank \d joined: \S+ pid (\d+)/g)].map((m) => m[1]));
  t.deepEqual(readdirSync('/dev/shm').filter((n) => pids.has(/^gan-ring-(\d+)-/.exec(n)?.[1] ?? '')), []);

  const lines = (await readFile(join(dir, 'run', 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  t.is(lines.filter((l) => l.type === 'rollback').length, 2);
  t.true(lines.filter((l) => l.type === 'step').every((l) => Number.isFinite(l.lossD) && Number.isFinite(l.lossG)));
  t.true((await finalState(join(dir, 'run'))).equals(await finalState(join(dir, 'calm'))), 'the recovered run differs from the undisturbed one');

  const s = await runCli('sample', ['--ckpt', 'latest', '--run-dir', join(dir, 'run'), '--backend', 'wasm', '--n', '16', '--out', join(dir, 's.png')]);
  t.is(s.code, 0, s.stderr);
});

test('--elastic with no restarts left: the run goes on with one worker fewer, global batch kept', async (t) => {
  const dir = await tempDir(t);
  let killed = false;
  let seen = '';
  const r = await runCli('cluster', ['--workers', '3', '--model', 'mlp', '--backend', 'wasm', '--limit', '576', '--batch-size', '96', '--epochs', '3', '--elastic', '--max-restarts', '0', '--snapshot-interval', '1', '--hash-every', '2', '--progress', 'lines', '--run-dir', join(dir, 'run')], {
    timeoutMs: 300_000,
    onStderr: (chunk) => {
      seen += chunk;
      const victim = /worker rank 2 joined: \S+ pid (\d+)/.exec(seen)?.[1];
      if (!killed && victim && /run directory:/.test(seen)) {
        killed = true;
        setTimeout(() => process.kill(Number(victim), 'SIGKILL'), 2000);
      }
    },
  });
  t.is(r.code, 0, r.stderr.slice(-3000));
  t.regex(r.stderr, /--elastic: going on with 2 worker\(s\), 48 images each \(global batch kept\)/);
  t.regex(r.stderr, /continuing with 2 worker\(s\), rolling back from step \d+ to step \d+/);
  t.regex(r.stderr, /done: 18 steps/);
  const lines = (await readFile(join(dir, 'run', 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  t.is(lines.filter((l) => l.type === 'epoch').at(-1).world, 2);
  const s = await runCli('sample', ['--ckpt', 'latest', '--run-dir', join(dir, 'run'), '--backend', 'wasm', '--n', '16', '--out', join(dir, 's.png')]);
  t.is(s.code, 0, s.stderr);
});
