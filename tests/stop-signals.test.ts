/**
 * Stopping a run the ways users, schedulers and supervisors do (src/shared/run/stop-signals.ts):
 * every delivery of one request within the relay window is that one request; a clearly later one
 * stops at once. Through `npm run`, a SIGTERM to the process group, to npm alone or to the node
 * process ends with a checkpoint, exit 0 and nothing left running. (Ctrl-C through npm with an exact
 * resume is in resume.test.ts.)
 */
import test from 'ava';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RELAY_WINDOW_MS, StopSignals } from '../src/shared/run/stop-signals.js';
import { runCli, runNpm, signalGroup, tempDir, type CliResult } from './helpers/cli.js';
import { SEND_AFTER_MS, STOPPED_AROUND_EPOCH_2 } from './helpers/run.js';

function recorder(t: { teardown: (fn: () => void) => void }) {
  const seen: string[] = [];
  const stops = new StopSignals({ onStop: (sig) => seen.push(`stop ${sig}`), onStopNow: (sig) => seen.push(`now ${sig}`) });
  t.teardown(() => stops.dispose());
  return { seen, stops };
}

test('deliveries within the relay window are one stop request', (t) => {
  const { seen, stops } = recorder(t);
  t.false(stops.requested);
  stops.deliver('SIGINT', 5_000);
  stops.deliver('SIGINT', 5_006); // npm's relay of the terminal's Ctrl-C
  stops.deliver('SIGTERM', 5_000 + RELAY_WINDOW_MS);
  t.true(stops.requested);
  t.deepEqual(seen, ['stop SIGINT']);
});

test('a delivery clearly later than the first stops at once, and only once', (t) => {
  const { seen, stops } = recorder(t);
  stops.deliver('SIGTERM', 5_000);
  stops.deliver('SIGINT', 5_000 + RELAY_WINDOW_MS + 1);
  stops.deliver('SIGINT', 5_000 + 3 * RELAY_WINDOW_MS);
  t.deepEqual(seen, ['stop SIGTERM', 'now SIGINT']);
});

test('a later SIGHUP is not a second request: a hang-up never cancels the checkpoint of a stop under way', (t) => {
  const { seen, stops } = recorder(t);
  stops.deliver('SIGHUP', 5_000);
  stops.deliver('SIGHUP', 5_000 + 3 * RELAY_WINDOW_MS);
  stops.deliver('SIGHUP', 5_000 + 10 * RELAY_WINDOW_MS);
  t.deepEqual(seen, ['stop SIGHUP']);
  stops.deliver('SIGINT', 5_000 + 11 * RELAY_WINDOW_MS); // the user insisting
  t.deepEqual(seen, ['stop SIGHUP', 'now SIGINT']);
});

test('two real SIGTERMs back to back (a group signal and its relay) are one request', async (t) => {
  const { seen } = recorder(t);
  process.kill(process.pid, 'SIGTERM');
  process.kill(process.pid, 'SIGTERM');
  for (let i = 0; i < 100 && seen.length === 0; i++) await sleep(10);
  await sleep(50);
  t.deepEqual(seen, ['stop SIGTERM']);
});

/** The node process npm runs (`exec node …` replaces npm's shell, so it is npm's only child). */
function nodeChild(npm: ChildProcess): number {
  const pids = execFileSync('pgrep', ['-P', String(npm.pid)], { encoding: 'utf8' }).trim().split('\n').map(Number);
  if (pids.length !== 1) throw new Error(`npm has ${pids.length} children, expected 1`);
  return pids[0];
}

const DELIVERIES: { name: string; send: (npm: ChildProcess) => void }[] = [
  { name: 'SIGTERM to the process group (scancel, systemd, docker stop)', send: (npm) => signalGroup(npm, 'SIGTERM') },
  { name: 'SIGTERM to npm alone (a supervisor tracking the top PID)', send: (npm) => npm.kill('SIGTERM') },
  { name: 'SIGINT to the node process', send: (npm) => process.kill(nodeChild(npm), 'SIGINT') },
];

const RUN = ['--model', 'mlp', '--backend', 'wasm', '--limit', '384', '--batch-size', '64', '--epochs', '3', '--progress', 'lines'];

for (const mode of ['train', 'cluster'] as const) {
  for (const delivery of DELIVERIES) {
    // One run at a time: six runs side by side on two cores would stretch every step.
    test.serial(`${mode} through npm: ${delivery.name} checkpoints, exits 0, leaves nothing running`, async (t) => {
      const run = join(await tempDir(t), 'run');
      let sentAt = 0;
      const r = await runNpm(mode, [...(mode === 'cluster' ? ['--workers', '2'] : []), ...RUN, '--run-dir', run], {
        onStderr: (chunk, npm) => {
          if (!sentAt && /epoch 1\/3 done/.test(chunk)) {
            sentAt = performance.now();
            setTimeout(() => delivery.send(npm), SEND_AFTER_MS);
          }
        },
      });
      t.log(`signal to exit: ${((performance.now() - sentAt - SEND_AFTER_MS) / 1000).toFixed(2)} s`);
      t.is(r.code, 0, r.stderr);
      t.notRegex(r.stderr, /again|stopping at once/);
      t.regex(r.stderr, STOPPED_AROUND_EPOCH_2);
      t.is(r.leftInGroup, '', 'processes of the run outlived npm');
      t.regex((await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim(), /^ckpt-\d{9}-e000[12]$/);
    });
  }
}

test.serial('a SIGTERM to one worker process alone (srun, scancel, a node shutdown) checkpoints and stops the whole run, exit 0 everywhere', async (t) => {
  const run = join(await tempDir(t), 'run');
  const token = 'stop-signals-test-token-0123456789';
  let listening: (endpoint: string) => void;
  const endpoint = new Promise<string>((r) => (listening = r));
  let sentAt = 0;
  let rank1: ChildProcess | undefined;
  const coordinator = runCli('coordinator', ['--workers', '2', '--token', token, ...RUN, '--run-dir', run], {
    onStderr: (chunk) => {
      const m = /listening on (tcp:\/\/[\d.]+:\d+)/.exec(chunk);
      if (m) listening(m[1]);
      if (!sentAt && /epoch 1\/3 done/.test(chunk)) {
        sentAt = performance.now();
        setTimeout(() => rank1!.kill('SIGTERM'), SEND_AFTER_MS);
      }
    },
  });
  const ep = await endpoint;
  // Started as srun or a user starts them: no GAN_LAUNCHED, each in its own process.
  const workers = [0, 1].map((rank) =>
    runCli('worker', ['--coordinator', ep, '--token', token, '--rank', String(rank), ...RUN], {
      env: { GAN_LAUNCHED: '', GAN_WORKER_TAG: `w${rank}` },
      onStderr: (_chunk, child) => {
        if (rank === 1) rank1 = child;
      },
    }),
  );
  const [c, w0, w1]: CliResult[] = await Promise.all([coordinator, ...workers]);
  t.log(`signal to exit: ${((performance.now() - sentAt - SEND_AFTER_MS) / 1000).toFixed(2)} s`);
  t.is(w1.code, 0, w1.stderr);
  t.is(w0.code, 0, w0.stderr);
  t.is(c.code, 0, c.stderr);
  t.regex(w1.stderr, /\[w1\] SIGTERM: asking the coordinator to checkpoint and stop the run/);
  t.notRegex(w0.stderr, /SIGTERM/);
  t.regex(c.stderr, /worker rank 1 received SIGTERM: stopping the run with a checkpoint at the next step boundary/);
  t.regex(c.stderr, STOPPED_AROUND_EPOCH_2);
  t.regex(c.stderr, /^stopped: \d+ steps/m);
  t.regex((await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim(), /^ckpt-\d{9}-e000[12]$/);
});

test.serial('a second SIGTERM to a hand-started worker, clearly later than the first, ends it at once as the default would', async (t) => {
  const token = 'stop-signals-test-token-0123456789';
  let listening: (endpoint: string) => void;
  const endpoint = new Promise<string>((r) => (listening = r));
  let joined: () => void;
  const rank1Joined = new Promise<void>((r) => (joined = r));
  // One of two workers joins, so no step runs: nothing but the two signals can end the worker.
  const coordinator = runCli('coordinator', ['--workers', '2', '--token', token, ...RUN, '--run-dir', join(await tempDir(t), 'run'), '--join-timeout', '20'], {
    onStderr: (chunk) => {
      const m = /listening on (tcp:\/\/[\d.]+:\d+)/.exec(chunk);
      if (m) listening(m[1]);
      if (/worker rank 1 joined/.test(chunk)) joined();
    },
  });
  let child: ChildProcess | undefined;
  const worker = runCli('worker', ['--coordinator', await endpoint, '--token', token, '--rank', '1', ...RUN], {
    env: { GAN_LAUNCHED: '' },
    onStderr: (_chunk, c) => (child = c),
  });
  await rank1Joined;
  child!.kill('SIGTERM');
  await sleep(RELAY_WINDOW_MS + 500);
  child!.kill('SIGTERM');
  const w = await worker;
  t.is(w.code, null, `the worker exited with ${w.code} instead of dying on the signal\n${w.stderr}`);
  t.regex(w.stderr, /SIGTERM: asking the coordinator to checkpoint and stop the run/);
  const c = await coordinator;
  t.is(c.code, 1);
});
