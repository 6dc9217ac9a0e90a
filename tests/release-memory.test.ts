/**
 * releaseMemory (src/shared/release-memory.ts), called after every checkpoint: freed ArrayBuffer
 * memory leaves the process's RSS at once, where without it it stays resident. In a child process,
 * so that this file's own heap does not blur the figures.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';

const CHILD = fileURLToPath(new URL('./helpers/release-memory-child.ts', import.meta.url));
const FREED_MIB = (24 * 1.5e6 * 4) / 2 ** 20; // what the child frees: 137 MiB

async function child(mode: 'release' | 'control') {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import=tsx', CHILD, mode], { timeout: 60_000 });
  return JSON.parse(stdout) as { held: number; dropped: number; after: number };
}

test('after freeing 137 MiB of typed arrays, releaseMemory gives at least 3/4 of it back; without it, less than 1/4 goes', async (t) => {
  const [released, control] = [await child('release'), await child('control')];
  t.log(`RSS MiB held → dropped → after: releaseMemory ${released.held.toFixed(0)} → ${released.dropped.toFixed(0)} → ${released.after.toFixed(0)}; control ${control.held.toFixed(0)} → ${control.after.toFixed(0)}`);
  t.true(released.dropped - released.after > 0.75 * FREED_MIB, 'releaseMemory returned too little');
  // The control shows what the test rests on: freed blocks stay resident without it.
  t.true(control.held - control.after < 0.25 * FREED_MIB, 'the memory left by itself: this test no longer shows anything');
});
