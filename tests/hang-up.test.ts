/**
 * A closed terminal or a dropped SSH connection (SIGHUP), and a stop while the cluster starts: the
 * run checkpoints and stops as on SIGTERM (src/shared/run/stop-signals.ts), and a start stopped
 * before its first step leaves nothing that blocks the next one (src/shared/run/run-claim.ts).
 *
 * npm does not handle SIGHUP: on a group SIGHUP it dies at once (signal 1) and the node process
 * it started goes on by itself, so these tests follow the run through its directory and output
 * (which npm's pipes keep open until node exits), not through npm's exit code.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { livingInGroup, ROOT, runCli, runNpm, signalGroup, tempDir } from './helpers/cli.js';
import { SEND_AFTER_MS, STOPPED_AROUND_EPOCH_2 } from './helpers/run.js';

const SMALL = ['--model', 'mlp', '--backend', 'wasm', '--limit', '384', '--batch-size', '64', '--progress', 'lines'];
const RUN = [...SMALL, '--epochs', '3'];

/** Polls `ok` every 100 ms; throws after `ms`. */
async function until(ok: () => boolean, ms: number, what: string): Promise<void> {
  for (const end = performance.now() + ms; !ok(); await sleep(100)) if (performance.now() > end) throw new Error(`${what}: not within ${ms / 1000} s`);
}

/** Whether process `pid` has exited (gone, or a zombie waiting for a slow PID 1 to reap it). */
function exited(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].startsWith('Z');
  } catch {
    return true;
  }
}

for (const mode of ['train', 'cluster'] as const) {
  test.serial(`${mode} through npm: SIGHUP to the process group checkpoints and stops the run; --resume latest continues it`, async (t) => {
    const run = join(await tempDir(t), 'run');
    let sentAt = 0;
    let group = 0;
    const r = await runNpm(mode, [...(mode === 'cluster' ? ['--workers', '2'] : []), ...RUN, '--run-dir', run], {
      onStderr: (chunk, npm) => {
        group = npm.pid!;
        if (!sentAt && /epoch 1\/3 done/.test(chunk)) {
          sentAt = performance.now();
          setTimeout(() => signalGroup(npm, 'SIGHUP'), SEND_AFTER_MS);
        }
      },
    });
    // npm died of the signal; the run went on and printed its last line into npm's pipe.
    t.is(r.code, null, r.stderr);
    t.regex(r.stderr, /^SIGHUP: finishing the current step and writing a checkpoint/m);
    t.regex(r.stderr, STOPPED_AROUND_EPOCH_2);
    t.regex(r.stderr, /^stopped: \d+ steps; run in .*; last checkpoint .*ckpt-\d{9}-e000[12]$/m);
    t.notRegex(r.stderr, /again|stopping at once|error/);
    // 'close' came when the last process holding npm's pipes exited: nothing of the run is left.
    await until(() => livingInGroup(group) === '', 5_000, `processes of the run outlived it\n${livingInGroup(group)}`).catch((err) => t.fail((err as Error).message));
    t.false(existsSync(join(run, 'run.lock')), 'the lock outlived the run');
    const resumed = await runCli(mode, [...(mode === 'cluster' ? ['--workers', '2'] : []), '--resume', 'latest', '--run-dir', run, '--progress', 'lines']);
    t.is(resumed.code, 0, resumed.stderr);
    t.regex((await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim(), /^ckpt-000000018-e0003$/);
  });
}

test.serial('train: SIGHUP to the node process itself stops with a checkpoint and exit 0', async (t) => {
  const run = join(await tempDir(t), 'run');
  const r = await runCli('train', [...RUN, '--run-dir', run], {
    onStderr: (chunk, child) => {
      if (/epoch 1\/3 done/.test(chunk)) setTimeout(() => child.kill('SIGHUP'), SEND_AFTER_MS);
    },
  });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, STOPPED_AROUND_EPOCH_2);
  t.regex((await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim(), /^ckpt-\d{9}-e000[12]$/);
});

test.serial('train in a terminal that goes away (the pty hangs up, as when an SSH connection drops): the run checkpoints, releases its lock and exits', async (t) => {
  const run = join(await tempDir(t), 'run');
  // script(1) gives the run a pty; killing script closes the pty's master side: the kernel hangs the
  // terminal up, SIGHUPs its session, and every later write to it fails with EIO.
  const cmd = ['npm', 'run', '--silent', 'train', '--', ...RUN, '--run-dir', run].join(' ');
  const terminal = spawn('script', ['-qfec', cmd, '/dev/null'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'ignore'] });
  t.teardown(() => terminal.kill('SIGKILL'));
  const metrics = join(run, 'metrics.jsonl');
  await until(() => existsSync(metrics) && readFileSync(metrics, 'utf8').includes('"type":"epoch"'), 120_000, 'epoch 1');
  const pid = (JSON.parse(readFileSync(join(run, 'run.lock'), 'utf8')) as { pid: number }).pid;
  terminal.kill('SIGKILL');
  await until(() => exited(pid), 120_000, `the run (pid ${pid}) exiting after the hang-up`);
  t.regex((await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim(), /^ckpt-\d{9}-e000[12]$/);
  t.regex(await readFile(metrics, 'utf8'), /"type":"checkpoint"/);
  t.false(existsSync(join(run, 'run.lock')), 'the lock outlived the run');
});

// The run as a terminal's session leader (a login shell's `exec`), in a pty python holds: closing the
// pty's master side hangs the terminal up; python then reads the run's exit status with waitpid.
const HANG_UP_PY = `
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
seen = b''
while b'epoch 1/3 done' not in seen:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    seen = seen[-200:] + chunk
os.close(fd)
print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
`;

test.serial('train whose terminal hangs up exits 0 after its checkpoint (Node 20 aborted at exit restoring the gone terminal)', async (t) => {
  const run = join(await tempDir(t), 'run');
  const py = spawn('python3', ['-c', HANG_UP_PY, process.execPath, '--import=tsx', join(ROOT, 'src/cli/train.ts'), ...RUN, '--run-dir', run], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => py.kill('SIGKILL'));
  let out = '';
  py.stdout.on('data', (d) => (out += d));
  const code = await Promise.race([new Promise((r) => py.on('close', r)), sleep(180_000).then(() => 'timed out')]);
  t.is(code, 0, `python: ${String(code)}`);
  t.is(out.trim(), '0', 'the run\'s exit status (negative: the signal that ended it; -6 is the abort)');
  t.regex((await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim(), /^ckpt-\d{9}-e000[12]$/);
  t.false(existsSync(join(run, 'run.lock')), 'the lock outlived the run');
});

for (const signal of ['SIGINT', 'SIGHUP'] as const) {
  test.serial(`cluster through npm: ${signal} while the workers start ends in one line, leaves no run directory; the same --run-dir then starts and resumes`, async (t) => {
    const run = join(await tempDir(t), 'run');
    let group = 0;
    let sent = false;
    const r = await runNpm('cluster', ['--workers', '2', ...RUN, '--run-dir', run], {
      onStderr: (chunk, npm) => {
        group = npm.pid!;
        if (!sent && /waiting for 2 worker\(s\)/.test(chunk)) sent = signalGroup(npm, signal);
      },
    });
    // npm relays SIGINT and exits with the run's code; SIGHUP kills npm itself at once.
    t.is(r.code, signal === 'SIGINT' ? 0 : null, r.stderr);
    t.regex(r.stderr, new RegExp(`^stopped before the first step: nothing trained, nothing kept in ${run}$`, 'm'));
    t.notRegex(r.stderr, /error/i);
    await until(() => livingInGroup(group) === '', 10_000, `processes of the run outlived it\n${livingInGroup(group)}`).catch((err) => t.fail((err as Error).message));
    t.false(existsSync(run), 'the run directory was left behind');

    const resume = await runCli('cluster', ['--workers', '2', '--resume', 'latest', '--run-dir', run]);
    t.is(resume.code, 1, resume.stderr);
    t.is(resume.stderr, `npm run cluster --: error: --resume latest: no run in ${run} (a run stopped before its first checkpoint leaves none): start it with --run-dir ${run}, without --resume\n`);
    const fresh = await runCli('cluster', ['--workers', '2', ...SMALL, '--epochs', '1', '--run-dir', run]);
    t.is(fresh.code, 0, fresh.stderr);
    const more = await runCli('cluster', ['--workers', '2', '--resume', 'latest', '--run-dir', run, '--epochs', '2']);
    t.is(more.code, 0, more.stderr);
    t.regex((await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim(), /^ckpt-000000012-e0002$/);
  });
}
