/**
 * Workers on other "hosts": network namespaces on a bridge (src/bench/netns.ts), each process
 * started as a user would on its own machine (`npm run coordinator` on one, `npm run worker` on the
 * others, CurveZMQ keys copied). The run ends with the weights of the same run on loopback; a host
 * whose link is cut is detected as a lost worker and the run recovers once workers rejoin.
 * Namespaces and processes are removed afterwards, also when a test fails.
 */
import test from 'ava';
import type { ChildProcess } from 'node:child_process';
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readdirSync } from 'node:fs';
import { VirtualHosts, type VirtualHost } from '../src/bench/netns.js';
import { ROOT, runCli, tempDir } from './helpers/cli.js';
import { finalState } from './helpers/run.js';

// One OpenBLAS thread everywhere: a lone worker would take every core and the launcher's workers one
// each, and sums split over other thread counts round differently (bit-identity needs the same count).
const SAME_BLAS = { OPENBLAS_NUM_THREADS: '1' };
const TRAIN = ['--model', 'mlp', '--backend', 'wasm', '--batch-size', '64', '--progress', 'lines'];
const PORT = 29500;

interface Proc {
  child: ChildProcess;
  stderr: string;
  exit: Promise<number | null>;
}

function start(vh: VirtualHosts, host: VirtualHost, entry: string, args: string[]): Proc {
  const child = vh.spawn(host, process.execPath, ['--import=tsx', join(ROOT, entry), ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...SAME_BLAS } });
  const p: Proc = { child, stderr: '', exit: new Promise((r) => child.once('exit', (code) => r(code))) };
  child.stderr!.on('data', (d) => (p.stderr += d));
  return p;
}

async function hosts(t: { teardown: (fn: () => Promise<void>) => void }, n: number): Promise<VirtualHosts> {
  const vh = await VirtualHosts.create(n);
  t.teardown(() => vh.destroy());
  return vh;
}

/**
 * The coordinator on host 0 and its flags; the token and key files live in `dir`, copied per worker
 * host. With `curve` every socket is CurveZMQ (the ring on ZeroMQ); without, the ring is plain TCP.
 */
function coordinatorArgs(vh: VirtualHosts, dir: string, run: string, extra: string[], curve = true): string[] {
  return ['--workers', String(vh.hosts.length - 1), '--bind', vh.hosts[0].addr, '--port', String(PORT), '--token-file', join(dir, 'token'), ...(curve ? ['--curve-keys', join(dir, 'keys')] : []), '--metrics-port', '0', '--run-dir', run, ...TRAIN, ...extra];
}

async function workerArgs(vh: VirtualHosts, dir: string, h: VirtualHost, extra: string[], curve = true): Promise<string[]> {
  // "Copied to the worker host": each host reads its own copy of the token and the cluster keys.
  for (const f of curve ? ['token', 'keys'] : ['token']) await copyFile(join(dir, f), join(dir, `${f}.h${h.index}`));
  return ['--coordinator', `tcp://${vh.hosts[0].addr}:${PORT}`, '--rank', String(h.index - 1), '--bind', h.addr, '--token-file', join(dir, `token.h${h.index}`), ...(curve ? ['--curve-keys', join(dir, `keys.h${h.index}`)] : []), ...TRAIN, ...extra];
}

/** Resolves once `p` has printed a line matching `re` (rejects after `ms`). */
function waitFor(p: Proc, re: RegExp, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (re.test(p.stderr)) {
        clearInterval(timer);
        resolve();
      }
    }, 100);
    setTimeout(() => {
      clearInterval(timer);
      reject(new Error(`no ${re} within ${ms} ms:\n${p.stderr.slice(-2000)}`));
    }, ms);
  });
}

test.serial('3 hosts (CurveZMQ on): coordinator and 2 workers on their own addresses end with the loopback run\'s weights', async (t) => {
  const dir = await tempDir(t);
  const vh = await hosts(t, 3);
  const run = ['--limit', '384', '--epochs', '2'];
  const coord = start(vh, vh.hosts[0], 'src/coordinator/main.ts', coordinatorArgs(vh, dir, join(dir, 'ns-run'), run));
  await waitFor(coord, /workers join with/, 60_000);
  const workers = await Promise.all(vh.hosts.slice(1).map(async (h) => start(vh, h, 'src/worker/main.ts', await workerArgs(vh, dir, h, run))));
  t.is(await coord.exit, 0, coord.stderr.slice(-2000));
  for (const w of workers) t.is(await w.exit, 0, w.stderr.slice(-1000));
  t.regex(coord.stderr, /10\.77\.0\.2/, 'the coordinator saw a worker at its host address');

  const loop = await runCli('cluster', ['--workers', '2', ...TRAIN, ...run, '--run-dir', join(dir, 'loopback')], { env: SAME_BLAS });
  t.is(loop.code, 0, loop.stderr.slice(-2000));
  t.true((await finalState(join(dir, 'ns-run'))).equals(await finalState(join(dir, 'loopback'))), 'weights differ from the loopback run');
});

test.serial('2 hosts × 2 workers (plain TCP): hierarchical all-reduce, shared memory inside each host, replicas identical every step, no region left', async (t) => {
  const dir = await tempDir(t);
  const vh = await hosts(t, 3);
  const run = ['--limit', '512', '--epochs', '2'];
  const coordArgs = coordinatorArgs(vh, dir, join(dir, 'ns-run'), [...run, '--hash-every', '1'], false);
  coordArgs[coordArgs.indexOf('--workers') + 1] = '4';
  const coord = start(vh, vh.hosts[0], 'src/coordinator/main.ts', coordArgs);
  await waitFor(coord, /workers join with/, 60_000);
  const workers: Proc[] = [];
  for (const rank of [0, 1, 2, 3]) {
    const h = vh.hosts[1 + Math.floor(rank / 2)];
    const args = await workerArgs(vh, dir, h, run, false);
    args[args.indexOf('--rank') + 1] = String(rank);
    workers.push(start(vh, h, 'src/worker/main.ts', args));
  }
  t.is(await coord.exit, 0, `${coord.stderr.slice(-1500)}\n${workers.map((w) => w.stderr.slice(-600)).join('\n')}`);
  for (const w of workers) {
    t.is(await w.exit, 0, w.stderr.slice(-1000));
    t.regex(w.stderr, /data plane: hierarchical: shm inside each host \(2 ranks\), tcp between 2 hosts/);
  }
  t.notRegex(coord.stderr, /replica weights differ/);
  const pids = new Set(workers.map((w) => String(w.child.pid)));
  t.deepEqual(readdirSync('/dev/shm').filter((n) => pids.has(/^gan-ring-(\d+)-/.exec(n)?.[1] ?? '')), []);
});

test.serial('a worker host whose link is cut is detected as lost, and the run recovers when workers rejoin (ring on plain TCP)', async (t) => {
  const dir = await tempDir(t);
  const vh = await hosts(t, 3);
  const run = ['--limit', '640', '--epochs', '3'];
  const coord = start(vh, vh.hosts[0], 'src/coordinator/main.ts', coordinatorArgs(vh, dir, join(dir, 'run'), [...run, '--worker-timeout', '3', '--snapshot-interval', '1', '--max-restarts', '2'], false));
  await waitFor(coord, /workers join with/, 60_000);
  // A supervisor per worker host (systemd's Restart=always, a Slurm step loop): start the worker again whenever it exits, until the run ends.
  let ended = false;
  const supervise = async (h: VirtualHost) => {
    const args = await workerArgs(vh, dir, h, [...run, '--coordinator-timeout', '3'], false);
    let starts = 0;
    while (!ended) {
      starts++;
      await start(vh, h, 'src/worker/main.ts', args).exit;
      if (!ended) await new Promise((r) => setTimeout(r, 1000));
    }
    return starts;
  };
  const supervisors = vh.hosts.slice(1).map(supervise);
  await waitFor(coord, /epoch 1\/3 done/, 180_000);
  const cut = vh.hosts[2];
  await vh.setLink(cut, false);
  await waitFor(coord, /worker .*(lost|silent)|silent for/i, 60_000);
  await vh.setLink(cut, true);
  const code = await coord.exit;
  ended = true;
  const starts = await Promise.all(supervisors);
  t.is(code, 0, coord.stderr.slice(-3000));
  t.regex(coord.stderr, /rolling back from step \d+ to step \d+/);
  t.true(starts.every((s) => s >= 2), `worker starts per host: ${starts.join(', ')}`);
  // metrics.jsonl is append-only: an epoch redone after the rollback appears again after the rollback line.
  const lines = (await readFile(join(dir, 'run', 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  t.true(lines.some((l) => l.type === 'rollback'));
  t.deepEqual([...new Set(lines.filter((l) => l.type === 'epoch').map((l) => l.epoch))], [1, 2, 3]);
  t.deepEqual(await vh.remaining().then((r) => r.length), 4, 'namespaces exist until teardown');
});

test.serial('destroy removes every namespace it made, and kills what it started', async (t) => {
  const vh = await VirtualHosts.create(2);
  const sleeper = vh.spawn(vh.hosts[1], 'sleep', ['600']);
  t.is((await vh.remaining()).length, 3);
  await vh.destroy();
  t.deepEqual(await vh.remaining(), []);
  t.not(sleeper.signalCode ?? sleeper.exitCode, null, 'the process started in a host is gone');
});
