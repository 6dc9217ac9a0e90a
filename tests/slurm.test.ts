/**
 * deploy/slurm/train.sbatch on a real Slurm (one node started by hand, tests/helpers/slurm.ts),
 * submitted as a user submits it: a run finishes and samples; a USR1 warning (preemption, time
 * limit) checkpoints, requeues and the requeued job resumes to the same weights as an uninterrupted
 * run; a plain scancel (SIGTERM to every process of the job) ends with a checkpoint that a
 * resubmission continues to the same weights; a USR1 the moment the batch shell can hear it (before
 * the run has started) requeues and the run ends with the same weights; a --run-dir among the
 * training flags is used as given; the scripts ask for no --time (the partition's limit, here 2 h,
 * applies; `sbatch --time` overrides) and, submitted from outside the repository, train-cpu.sbatch
 * fails in one clear line. Needs root and Debian's slurmctld, slurmd,
 * slurm-client and munge (.ci/run installs them); without them the test fails and says so.
 */
import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, tempDir } from './helpers/cli.js';
import { finalState } from './helpers/run.js';
import { SlurmCluster, slurmMissing } from './helpers/slurm.js';
import { processAlive } from '../src/shared/proc.js';

// 3 epochs of 32 steps: 2 workers × 32 images, MLP on wasm. The signals below are sent a second
// after epoch 1 ends and must land while the run still trains: epochs 2 and 3 take about 5 s here
// (4 steps per epoch did when a step took 0.3 s; at 0.07 s the run ended before the scancel).
const STEPS = 3 * (2048 / 64);
const TRAIN = ['--backend', 'wasm', '--model', 'mlp', '--limit', '2048', '--batch-size', '64', '--epochs', '3', '--progress', 'lines'];
const DONE = new RegExp(`^done: ${STEPS} steps`, 'm');
const JOB_TIMEOUT_MS = 8 * 60_000;

let cluster: SlurmCluster | undefined;
let reference: Buffer | undefined;

test.before(async () => {
  const missing = slurmMissing();
  if (missing) throw new Error(`cannot run the Slurm test: ${missing}`);
  cluster = await SlurmCluster.start();
});

test.after.always(async () => {
  await cluster?.stop();
});

async function output(file: string): Promise<string> {
  return readFile(file, 'utf8').catch(() => '');
}

/** Resolves when `file` matches `re` (the job's log, appended to as it runs). */
async function waitForLine(file: string, re: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!re.test(await output(file))) {
    if (Date.now() > deadline) throw new Error(`no ${re} in ${file} within ${timeoutMs / 1000} s:\n${(await output(file)).slice(-3000)}`);
    await sleep(500);
  }
}

/** PIDs of the workers the coordinator admitted (its "joined" lines). */
function workerPids(log: string): number[] {
  return [...log.matchAll(/worker rank \d+ joined: \S+ pid (\d+)/g)].map((m) => Number(m[1]));
}

/**
 * The PID of job `id`'s batch shell once it has a USR1 handler (its trap), read from /proc
 * (SigCgt's bit 9 is USR1): the first moment a warning can be heard at all.
 */
async function batchShellHearingUsr1(id: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        // slurmd's spool names the job's directory job%05u (job05126).
        if (!new RegExp(`/job0*${id}/slurm_script\0`).test(readFileSync(`/proc/${entry}/cmdline`, 'utf8'))) continue;
        const caught = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1];
        if (caught && (BigInt(`0x${caught}`) & 0x200n) !== 0n) return Number(entry);
      } catch {
        // gone while we looked
      }
    }
    if (Date.now() > deadline) throw new Error(`job ${id}'s batch shell did not trap USR1 within ${timeoutMs / 1000} s`);
    await sleep(2);
  }
}

/** Submits `script` from the repository root with the run and the log in `dir`. */
function submit(script: string, dir: string, sbatchArgs: string[] = [], name = 'job'): { id: number; log: string } {
  const log = join(dir, `${name}.out`);
  const id = cluster!.submit([...sbatchArgs, `--output=${log}`, join('deploy/slurm', script), ...TRAIN], { cwd: ROOT, env: { GAN_RUN_DIR: join(dir, 'run') } });
  return { id, log };
}

test.serial('train.sbatch as submitted: one task per GPU, the run finishes and samples', async (t) => {
  const dir = await tempDir(t);
  const t0 = performance.now();
  // The node has 2 CPUs and 2 GPUs (stand-ins): 2 tasks of 1 CPU, as a user overrides on the command line.
  const { id, log } = submit('train.sbatch', dir, ['--ntasks-per-node=2', '--cpus-per-task=1']);
  const info = await cluster!.waitForEnd(id, JOB_TIMEOUT_MS);
  t.log(`job ${id}: ${((performance.now() - t0) / 1000).toFixed(1)} s from sbatch to the end`);
  const out = await output(log);
  t.is(info.state, 'COMPLETED', out.slice(-3000));
  t.is(info.exitCode, '0:0');
  // No --time in the script: the partition's limit (2 h here, under the 24 h it used to ask for).
  t.is(info.timeLimit, '02:00:00');
  t.regex(out, /\[w0@localhost\] rank 0 of 2, data socket on 127\.0\.0\.1, CUDA_VISIBLE_DEVICES=0/);
  t.regex(out, /\[w1@localhost\] rank 1 of 2, data socket on 127\.0\.0\.1, CUDA_VISIBLE_DEVICES=1/);
  t.regex(out, /coordinator listening on tcp:\/\/127\.0\.0\.1:\d+; waiting for 2 worker\(s\)/);
  t.regex(out, DONE);
  t.true(existsSync(join(dir, 'run', 'samples', 'epoch-0003.png')), 'no samples of the last epoch');
  const pids = workerPids(out);
  t.is(pids.length, 2);
  t.deepEqual(pids.filter(processAlive), [], 'worker processes outlived the job');
  reference = await finalState(join(dir, 'run'));
});

test.serial('USR1 before the time limit (scancel --signal=USR1 --batch): checkpoint, requeue, resume, the same weights as without', async (t) => {
  t.truthy(reference, 'needs the uninterrupted run of the first test');
  const dir = await tempDir(t);
  const t0 = performance.now();
  const { id, log } = submit('train-cpu.sbatch', dir);
  await waitForLine(log, /epoch 1\/3 done/, JOB_TIMEOUT_MS);
  cluster!.run('scancel', ['--signal=USR1', '--batch', String(id)]);
  const tSignal = performance.now();
  await waitForLine(log, /requeueing job/, 120_000);
  t.log(`job ${id}: USR1 to requeue ${((performance.now() - tSignal) / 1000).toFixed(1)} s`);
  await waitForLine(log, /resuming .* \(restart 1\)/, 300_000);
  t.log(`job ${id}: USR1 to the requeued start ${((performance.now() - tSignal) / 1000).toFixed(1)} s`);
  const info = await cluster!.waitForEnd(id, JOB_TIMEOUT_MS);
  t.log(`job ${id}: ${((performance.now() - t0) / 1000).toFixed(1)} s from sbatch to the end (both starts)`);
  const out = await output(log);
  t.is(info.state, 'COMPLETED', out.slice(-3000));
  t.is(info.restarts, 1);
  t.regex(out, /USR1 \(time limit or preemption ahead\)/);
  t.regex(out, /stop requested: saving a checkpoint (at epoch [12], step \d+|at the end of epoch [12])$/m);
  t.notRegex(out, /again|stopping at once/);
  t.regex(out, /resumed from .*ckpt-\d{9}-e000[12]/);
  t.regex(out, DONE);
  t.true((await finalState(join(dir, 'run'))).equals(reference!), 'weights after preemption and requeue differ from the uninterrupted run');
});

test.serial('scancel (SIGTERM to every process, SIGKILL after KillWait) ends with a checkpoint that a resubmission continues', async (t) => {
  t.truthy(reference, 'needs the uninterrupted run of the first test');
  const dir = await tempDir(t);
  const t0 = performance.now();
  const first = submit('train-cpu.sbatch', dir, [], 'first');
  await waitForLine(first.log, /epoch 1\/3 done/, JOB_TIMEOUT_MS);
  await sleep(1000);
  cluster!.run('scancel', [String(first.id)]);
  const tCancel = performance.now();
  const cancelled = await cluster!.waitForEnd(first.id, 120_000);
  t.log(`job ${first.id}: scancel to the end ${((performance.now() - tCancel) / 1000).toFixed(1)} s; ${((performance.now() - t0) / 1000).toFixed(1)} s from sbatch`);
  const out = await output(first.log);
  t.is(cancelled.state, 'CANCELLED');
  // Every worker got the SIGTERM and left the stop to the coordinator instead of dying.
  t.regex(out, /\[w0@localhost\] SIGTERM: asking the coordinator to checkpoint and stop the run/);
  t.regex(out, /\[w1@localhost\] SIGTERM: asking the coordinator to checkpoint and stop the run/);
  t.regex(out, /stop requested: saving a checkpoint/);
  t.regex(out, /^stopped: \d+ steps; .* last checkpoint .*ckpt-\d{9}-e000[12]$/m);
  t.notRegex(out, /again|stopping at once/);
  t.deepEqual(workerPids(out).filter(processAlive), [], 'worker processes outlived the job');
  const latest = (await readFile(join(dir, 'run', 'checkpoints', 'latest'), 'utf8')).trim();

  // The same script and flags, the same run directory: it resumes on its own.
  const t1 = performance.now();
  const again = submit('train-cpu.sbatch', dir, [], 'again');
  const info = await cluster!.waitForEnd(again.id, JOB_TIMEOUT_MS);
  t.log(`job ${again.id} (resubmitted): ${((performance.now() - t1) / 1000).toFixed(1)} s from sbatch to the end`);
  const out2 = await output(again.log);
  t.is(info.state, 'COMPLETED', out2.slice(-3000));
  t.regex(out2, new RegExp(`resuming .* from ${latest}`));
  t.regex(out2, DONE);
  t.true((await finalState(join(dir, 'run'))).equals(reference!), 'weights after scancel and resume differ from the uninterrupted run');
});

test.serial('USR1 the moment the job starts (scancel --signal=USR1 --batch): not FAILED, requeued, the same weights; a --run-dir among the training flags is used', async (t) => {
  t.truthy(reference, 'needs the uninterrupted run of the first test');
  const dir = await tempDir(t);
  const log = join(dir, 'job.out');
  const run = join(dir, 'flag-run');
  // GAN_RUN_DIR names another directory: the flag wins, and is handed on once (not "given 2 times").
  const id = cluster!.submit([`--output=${log}`, 'deploy/slurm/train-cpu.sbatch', ...TRAIN, '--run-dir', run], { cwd: ROOT, env: { GAN_RUN_DIR: join(dir, 'env-run') } });
  await batchShellHearingUsr1(id, 120_000);
  cluster!.run('scancel', ['--signal=USR1', '--batch', String(id)]);
  await waitForLine(log, /requeueing job/, 120_000);
  const info = await cluster!.waitForEnd(id, JOB_TIMEOUT_MS);
  const out = await output(log);
  // Which moment the warning hit (before the coordinator started, or while it loaded) varies with
  // scancel's latency; either way nothing had run and the requeued job starts the run.
  t.log(`job ${id}: ${/before the run started/.test(out) ? 'USR1 before the coordinator started' : 'USR1 while the coordinator started'}`);
  t.is(info.state, 'COMPLETED', out.slice(-3000));
  t.is(info.exitCode, '0:0');
  t.true(info.restarts >= 1, `restarts ${info.restarts}`);
  t.regex(out, /USR1 \(time limit or preemption ahead\)/);
  t.notRegex(out, /given 2 times/);
  t.regex(out, DONE);
  t.false(existsSync(join(dir, 'env-run')), 'GAN_RUN_DIR was used although --run-dir was given');
  t.true((await finalState(run)).equals(reference!), 'weights after a USR1 at the start differ from the uninterrupted run');
});

test.serial('train-cpu.sbatch submitted from outside the repository: one clear line; sbatch --time overrides the scripts\' (partition-default) limit', async (t) => {
  const dir = await tempDir(t);
  const log = join(dir, 'job.out');
  const id = cluster!.submit(['--time=00:05:00', `--output=${log}`, join(ROOT, 'deploy/slurm/train-cpu.sbatch'), ...TRAIN], { cwd: dir });
  const info = await cluster!.waitForEnd(id, 120_000);
  const out = await output(log);
  t.is(info.state, 'FAILED', out);
  t.is(info.timeLimit, '00:05:00');
  t.true(new RegExp(`^\\[slurm [\\d:]+\\] error: ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not the gan-cluster repository: submit from its root, or set GAN_REPO$`).test(out.trim()), out);
  t.is(out.trim().split('\n').length, 1, out);
});
