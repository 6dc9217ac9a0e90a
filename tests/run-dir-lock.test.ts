/**
 * One run at a time in a run directory, and no directory left behind that blocks the next start
 * (src/shared/run/run-lock.ts, run-claim.ts), with real processes: two simultaneous resumes of one
 * run, a lock left by a killed run, a lock from another host, a run killed before its first
 * checkpoint, and a --run-dir the file system cannot hold (/proc).
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile, mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { runCli, tempDir, type CliResult } from './helpers/cli.js';

const SMALL = ['--model', 'mlp', '--backend', 'wasm', '--limit', '384', '--batch-size', '64', '--progress', 'lines'];

/** The globalStep of every `step` line of metrics.jsonl. */
async function stepLines(run: string): Promise<number[]> {
  return (await readFile(join(run, 'metrics.jsonl'), 'utf8')).split('\n').filter((l) => l.includes('"type":"step"')).map((l) => JSON.parse(l).globalStep as number);
}

test.serial('two simultaneous --resume latest of one run: the second is refused in one line naming the first, which finishes; metrics.jsonl is not doubled', async (t) => {
  const run = join(await tempDir(t), 'run');
  const first = await runCli('train', [...SMALL, '--epochs', '1', '--log-every', '1', '--run-dir', run]);
  t.is(first.code, 0, first.stderr);
  let second: Promise<CliResult> | undefined;
  let holderPid = 0;
  // Ten epochs for the first: it is still training when the second has loaded.
  const a = await runCli('train', ['--resume', 'latest', '--run-dir', run, '--epochs', '10'], {
    onStderr: (chunk, child) => {
      // Started once the first resume is training: it holds the directory.
      if (!second && /resuming from/.test(chunk)) {
        holderPid = child.pid!;
        second = runCli('train', ['--resume', 'latest', '--run-dir', run, '--epochs', '10']);
      }
    },
  });
  const b = await second!;
  t.is(a.code, 0, a.stderr);
  t.is(b.code, 1, b.stderr);
  t.is(b.stderr.trim().split('\n').length, 1, b.stderr);
  t.regex(b.stderr, new RegExp(`^npm run train --: error: --run-dir ${run}: in use by another run, pid ${holderPid} on host ${hostname()} \\(started [^)]+\\)\\n$`));
  const steps = await stepLines(run);
  t.deepEqual(steps, [...new Set(steps)].sort((x, y) => x - y), 'a step was logged twice');
  t.is(steps.at(-1), 10 * 6);
  t.false(existsSync(join(run, 'run.lock')), 'the lock outlived the run');
});

test.serial('a fresh start onto a directory a run is training in is refused in one line, and the run is not disturbed', async (t) => {
  const run = join(await tempDir(t), 'run');
  let second: Promise<CliResult> | undefined;
  const a = await runCli('train', [...SMALL, '--epochs', '8', '--run-dir', run], {
    onStderr: (chunk) => {
      if (!second && /epoch 1\/8 done/.test(chunk)) second = runCli('cluster', ['--workers', '2', ...SMALL, '--epochs', '2', '--run-dir', run]);
    },
  });
  const b = await second!;
  t.is(a.code, 0, a.stderr);
  t.is(b.code, 1, b.stderr);
  t.regex(b.stderr, /^npm run cluster --: error: --run-dir .*: in use by another run, pid \d+ on host /);
  t.is(b.stderr.trim().split('\n').length, 1, b.stderr);
  t.regex((await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim(), /^ckpt-000000048-e0008$/);
});

test.serial('a lock left by a killed run (a dead PID on this host) is taken over with one line, and the run goes on', async (t) => {
  const run = join(await tempDir(t), 'run');
  await mkdir(run);
  // A PID above the largest pid_max Linux allows (2^22): no process has it.
  await writeFile(join(run, 'run.lock'), JSON.stringify({ host: hostname(), pid: 4_194_304 + 11, startedAt: '2026-01-01T00:00:00.000Z' }) + '\n');
  const r = await runCli('train', [...SMALL, '--epochs', '1', '--run-dir', run]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, new RegExp(`run lock ${run}/run.lock: taking over a stale lock \\(pid 4194315 is gone; it was pid 4194315 on host ${hostname()} \\(started 2026-01-01T00:00:00.000Z\\)\\)`));
  t.true(existsSync(join(run, 'checkpoints', 'latest')));
  t.false(existsSync(join(run, 'run.lock')));
});

test('a lock held on another host: refused in one line naming host, PID and the file to delete; nothing written', async (t) => {
  const run = join(await tempDir(t), 'run');
  await mkdir(run);
  const lock = JSON.stringify({ host: 'gpu-node-17', pid: 4242, startedAt: '2026-01-01T00:00:00.000Z' }) + '\n';
  await writeFile(join(run, 'run.lock'), lock);
  for (const cli of ['train', 'cluster'] as const) {
    const r = await runCli(cli, [...(cli === 'cluster' ? ['--workers', '2'] : []), ...SMALL, '--epochs', '1', '--run-dir', run]);
    t.is(r.code, 1, r.stderr);
    t.is(r.stderr, `npm run ${cli} --: error: --run-dir ${run}: in use by another run, pid 4242 on host gpu-node-17 (started 2026-01-01T00:00:00.000Z); if that run is gone, delete ${run}/run.lock\n`);
    t.deepEqual(await readdir(run), ['run.lock']);
    t.is(await readFile(join(run, 'run.lock'), 'utf8'), lock);
  }
});

test.serial('a run killed (SIGKILL) before its first checkpoint: --resume latest says to start afresh, and a fresh start with the same --run-dir trains', async (t) => {
  const run = join(await tempDir(t), 'run');
  const killed = await runCli('train', [...SMALL, '--epochs', '3', '--checkpoint-every', '3', '--run-dir', run], {
    onStderr: (chunk, child) => {
      if (/run directory:/.test(chunk)) child.kill('SIGKILL');
    },
  });
  t.is(killed.code, null);
  t.true(existsSync(join(run, 'run.lock')), 'the killed run left its lock');
  const resume = await runCli('train', ['--resume', 'latest', '--run-dir', run]);
  t.is(resume.code, 1, resume.stderr);
  t.is(resume.stderr, `npm run train --: error: --resume latest: ${run} has no checkpoint (its run stopped before the first one): nothing to resume; start it afresh with the same --run-dir, without --resume\n`);
  const fresh = await runCli('train', [...SMALL, '--epochs', '1', '--run-dir', run]);
  t.is(fresh.code, 0, fresh.stderr);
  t.regex(fresh.stderr, /taking over a stale lock \(pid \d+ is gone/);
  const more = await runCli('train', ['--resume', 'latest', '--run-dir', run, '--epochs', '2']);
  t.is(more.code, 0, more.stderr);
  t.regex((await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim(), /^ckpt-000000012-e0002$/);
});

test('a run that logged metrics but wrote no checkpoint is kept: a fresh start and a resume are refused in one line each, nothing changed', async (t) => {
  const run = join(await tempDir(t), 'run');
  await mkdir(join(run, 'checkpoints'), { recursive: true });
  await writeFile(join(run, 'config.json'), '{}\n');
  await writeFile(join(run, 'metrics.jsonl'), '{"type":"step","globalStep":1}\n');
  const fresh = await runCli('train', [...SMALL, '--epochs', '1', '--run-dir', run]);
  t.is(fresh.code, 1, fresh.stderr);
  t.is(fresh.stderr, `npm run train --: error: --run-dir ${run}: already exists and holds a run that trained but wrote no checkpoint (nothing to resume): move it aside or choose another directory (nothing was changed)\n`);
  const resume = await runCli('train', ['--resume', 'latest', '--run-dir', run]);
  t.is(resume.code, 1, resume.stderr);
  t.regex(resume.stderr, /^npm run train --: error: --resume latest: .* has no checkpoint \(its run logged metrics but stopped before its first checkpoint\): nothing to resume; move it aside and start afresh\n$/);
  t.deepEqual((await readdir(run)).sort(), ['checkpoints', 'config.json', 'metrics.jsonl']);
});

for (const cli of ['train', 'cluster'] as const) {
  test(`${cli}: --run-dir under /proc fails in one line within seconds (a recursive mkdir there never returns)`, async (t) => {
    const t0 = performance.now();
    const r = await runCli(cli, [...(cli === 'cluster' ? ['--workers', '2'] : []), ...SMALL, '--epochs', '1', '--run-dir', '/proc/gan-test/run'], { timeoutMs: 30_000 });
    t.log(`exit after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    t.is(r.code, 1, r.stderr);
    t.is(r.stderr, `npm run ${cli} --: error: --run-dir /proc/gan-test/run: cannot create (/proc does not take new directories)\n`);
  });
}
