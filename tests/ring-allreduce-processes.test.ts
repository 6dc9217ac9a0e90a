import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { rankInput, ringReference } from './helpers/ring.js';

const CHILD = fileURLToPath(new URL('./helpers/ring-child.ts', import.meta.url));

interface Child {
  proc: ChildProcess;
  /** Every stdout line so far. */
  lines: string[];
  /** Resolves with the first stdout line `endpoint …`, or undefined if the child ends first. */
  endpoint: Promise<string | undefined>;
  /** Resolves when the child has exited and its output is read: the exit code. */
  closed: Promise<number | null>;
  stderr: () => string;
}

function start(rank: number, world: number, length: number): Child {
  const proc = spawn(process.execPath, ['--import=tsx', CHILD, String(rank), String(world), String(length)], {
    env: { ...process.env, RING_SECRET: 'process test secret' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const lines: string[] = [];
  const closed = new Promise<number | null>((resolve) => proc.on('close', resolve));
  const endpoint = new Promise<string | undefined>((resolve) => {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      lines.push(line);
      if (line.startsWith('endpoint ')) resolve(line.slice('endpoint '.length));
    });
    void closed.then(() => resolve(undefined));
  });
  return { proc, lines, endpoint, closed, stderr: () => err };
}

test('3 processes all-reduce 1e6+3 floats: every sha256 equals the parent’s reference', async (t) => {
  const world = 3;
  const length = 1_000_003;
  const children = Array.from({ length: world }, (_, r) => start(r, world, length));
  t.teardown(() => children.forEach((c) => c.proc.exitCode === null && c.proc.kill()));
  const why = () => children.map((c, r) => `rank ${r}: ${c.stderr().trim()}`).join(' | ');

  // The parent is the rendezvous: collect endpoints, tell each child its right neighbour's.
  const endpoints = await Promise.all(children.map((c) => c.endpoint));
  if (endpoints.some((e) => e === undefined)) return t.fail(`a child exited before binding: ${why()}`);
  children.forEach((c) => c.proc.stdin!.end(`${endpoints.join(' ')}\n`));

  const codes = await Promise.all(children.map((c) => c.closed));
  t.deepEqual(codes, [0, 0, 0], why());
  const shas = children.map((c) => c.lines.find((l) => l.startsWith('sha256 '))?.slice('sha256 '.length));

  const inputs = Array.from({ length: world }, (_, r) => rankInput(length, r));
  const ref = ringReference(inputs);
  const want = createHash('sha256').update(new Uint8Array(ref.buffer)).digest('hex');
  t.deepEqual(shas, [want, want, want]);
});
