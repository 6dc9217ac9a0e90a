/**
 * The run directory's lock (src/shared/run/run-lock.ts), in this process: who holds it, when a lock
 * is stale and taken over, when it is refused, and that releasing never removes another's lock.
 * (The CLIs taking it, concurrent runs and killed runs: run-dir-lock.test.ts.)
 */
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { liveHolder, LOCK_FILE, RunLock, thisHolder, type LockHolder } from '../src/shared/run/run-lock.js';

function dir(t: { teardown: (fn: () => void) => void }): string {
  const d = mkdtempSync(join(tmpdir(), 'gan-lock-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function plant(d: string, h: Partial<LockHolder>): void {
  writeFileSync(join(d, LOCK_FILE), JSON.stringify({ host: hostname(), pid: process.pid, startedAt: '2026-01-01T00:00:00.000Z', ...h }) + '\n');
}

test('the lock names this host and process; a second taker is refused in one line naming it; release removes it', (t) => {
  const d = dir(t);
  const lines: string[] = [];
  const lock = RunLock.acquire(d, (l) => lines.push(l));
  const held = JSON.parse(readFileSync(join(d, LOCK_FILE), 'utf8')) as LockHolder;
  t.is(held.host, hostname());
  t.is(held.pid, process.pid);
  t.deepEqual(liveHolder(d)?.pid, process.pid);
  const err = t.throws(() => RunLock.acquire(d, (l) => lines.push(l)));
  t.regex(err!.message, new RegExp(`^${d}: in use by another run, pid ${process.pid} on host ${hostname()} \\(started .*\\)$`));
  t.deepEqual(lines, []);
  lock.releaseSync();
  t.false(existsSync(join(d, LOCK_FILE)));
  lock.releaseSync(); // idempotent
});

test('a lock naming a PID that is now another process (PID reuse, a container restart) is stale and taken over with a line', (t) => {
  t.truthy(thisHolder().procStart, 'Linux /proc/self/stat gives the start time');
  const d = dir(t);
  plant(d, { procStart: '1' }); // this PID, but a process that started at tick 1
  t.is(liveHolder(d), undefined);
  const lines: string[] = [];
  const lock = RunLock.acquire(d, (l) => lines.push(l));
  t.is(lines.length, 1);
  t.regex(lines[0], new RegExp(`taking over a stale lock \\(pid ${process.pid} is now another process; it was pid ${process.pid} on host `));
  t.is(JSON.parse(readFileSync(join(d, LOCK_FILE), 'utf8')).procStart, thisHolder().procStart);
  lock.releaseSync();
});

test('a lock from an earlier boot of this host is stale', (t) => {
  const d = dir(t);
  plant(d, { bootId: 'not-this-boot' });
  const lines: string[] = [];
  RunLock.acquire(d, (l) => lines.push(l)).releaseSync();
  t.regex(lines.join('\n'), /taking over a stale lock \(pid \d+ ran before this host last booted/);
});

test('a lock naming a dead PID on this host is stale; an empty or garbled lock (a crash mid-write) too', (t) => {
  // PIDs above the kernel's pid_max never run; 2^22 is the largest pid_max Linux allows.
  for (const [content, why] of [[{ pid: 4_194_304 + 7 }, /pid 4194311 is gone/], [undefined, /it names no holder/]] as const) {
    const d = dir(t);
    if (content) plant(d, content);
    else writeFileSync(join(d, LOCK_FILE), '');
    const lines: string[] = [];
    RunLock.acquire(d, (l) => lines.push(l)).releaseSync();
    t.regex(lines.join('\n'), why);
  }
});

test('a lock held on another host cannot be checked from here: refused, naming the host and the file to delete', (t) => {
  const d = dir(t);
  plant(d, { host: 'gpu-node-17', pid: 4242 });
  const before = readFileSync(join(d, LOCK_FILE), 'utf8');
  const err = t.throws(() => RunLock.acquire(d, () => undefined));
  t.is(err!.message, `${d}: in use by another run, pid 4242 on host gpu-node-17 (started 2026-01-01T00:00:00.000Z); if that run is gone, delete ${join(d, LOCK_FILE)}`);
  t.is(readFileSync(join(d, LOCK_FILE), 'utf8'), before);
});

test('releasing never removes a lock that is no longer ours (taken over after we were judged gone)', (t) => {
  const d = dir(t);
  const lock = RunLock.acquire(d, () => undefined);
  plant(d, { host: 'elsewhere', pid: 77 });
  lock.releaseSync();
  t.regex(readFileSync(join(d, LOCK_FILE), 'utf8'), /"host":"elsewhere"/);
});

test('a lock from an earlier run of this same Slurm job (requeued after its node failed) is stale, whichever host it names', (t) => {
  const d = dir(t);
  const env = { SLURM_JOB_ID: process.env.SLURM_JOB_ID, SLURM_RESTART_COUNT: process.env.SLURM_RESTART_COUNT };
  t.teardown(() => {
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  });
  process.env.SLURM_JOB_ID = '4711';
  process.env.SLURM_RESTART_COUNT = '1';
  plant(d, { host: 'dead-node', pid: 4242, slurmJob: '4711', slurmRestart: 0 });
  const lines: string[] = [];
  const lock = RunLock.acquire(d, (l) => lines.push(l));
  t.regex(lines.join('\n'), /taking over a stale lock \(Slurm job 4711 was requeued since \(restart 1\); it was pid 4242 on host dead-node/);
  t.like(JSON.parse(readFileSync(join(d, LOCK_FILE), 'utf8')), { slurmJob: '4711', slurmRestart: 1 });
  lock.releaseSync();
  // The same restart, or another job: the holder may be running.
  for (const h of [{ slurmJob: '4711', slurmRestart: 1 }, { slurmJob: '4712', slurmRestart: 0 }]) {
    plant(d, { host: 'dead-node', pid: 4242, ...h });
    t.throws(() => RunLock.acquire(d, () => undefined), { message: /in use by another run, pid 4242 on host dead-node/ });
  }
});
