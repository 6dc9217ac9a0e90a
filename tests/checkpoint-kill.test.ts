/**
 * A process SIGKILLed in the middle of writing a checkpoint leaves the previous checkpoint complete
 * and `latest` pointing at a complete, verifiable one. The writer is a real process writing DCGAN
 * checkpoints (~28 MB each) in a loop; it is killed as soon as a new temporary directory appears.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { verifyCheckpoint } from '../src/shared/checkpoint/store.js';
import { ROOT, tempDir } from './helpers/cli.js';

test('SIGKILL during a checkpoint write: latest still names a complete checkpoint', async (t) => {
  const dir = await tempDir(t);
  const child = spawn(process.execPath, ['--import=tsx', join(ROOT, 'tests', 'helpers', 'checkpoint-writer.ts'), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  let written = 0;
  child.stdout.on('data', (d) => (written += String(d).split('\n').filter((l) => l.startsWith('wrote')).length));
  const exited = new Promise((r) => child.once('exit', r));

  // Wait for two complete checkpoints, then kill during the next write (while its .tmp- dir exists).
  const deadline = Date.now() + 120_000;
  let killedMidWrite = false;
  while (Date.now() < deadline) {
    if (written >= 2 && existsSync(dir) && (await readdir(dir)).some((n) => n.startsWith('.tmp-'))) {
      child.kill('SIGKILL');
      killedMidWrite = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await exited;
  t.true(killedMidWrite, 'never caught the writer mid-write');
  const names = await readdir(dir);
  t.true(names.some((n) => n.startsWith('.tmp-')), 'the interrupted write left its temporary directory (never renamed into place)');
  const latest = (await readFile(join(dir, 'latest'), 'utf8')).trim();
  const state = await verifyCheckpoint(join(dir, latest));
  // latest is the last complete write, older than the one that was cut short.
  const interrupted = Number(/^\.tmp-ckpt-(\d+)/.exec(names.find((n) => n.startsWith('.tmp-'))!)?.[1]);
  t.true(state.globalStep >= 2 && state.globalStep < interrupted, `latest ${state.globalStep}, interrupted ${interrupted}`);
  for (const n of names.filter((x) => x.startsWith('ckpt-'))) await t.notThrowsAsync(verifyCheckpoint(join(dir, n)), n);
});
