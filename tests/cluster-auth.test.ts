/**
 * The control plane admits only workers with the token and the same training config; random
 * frames, forged hellos and messages from connections that never said hello are dropped and
 * counted, and the run goes on. Real processes and sockets throughout.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { encodeMessage } from '../src/shared/protocol/codec.js';
import { PROTOCOL_VERSION } from '../src/shared/protocol/messages.js';
import { maxControlFrameBytes } from '../src/shared/models/sizes.js';
import { runCli, tempDir, type CliResult } from './helpers/cli.js';

const TOKEN = 'test-token-0123456789abcdef';
const TRAIN = ['--backend', 'wasm', '--epochs', '1', '--limit', '256', '--batch-size', '64', '--log-every', '1'];

test('wrong token, mismatched config and garbage are refused or dropped; the run completes', async (t) => {
  const dir = await tempDir(t);
  let endpoint: (v: string) => void;
  const listening = new Promise<string>((r) => (endpoint = r));
  const coordinator = runCli('coordinator', ['--workers', '2', '--token', TOKEN, ...TRAIN, '--run-dir', join(dir, 'run'), '--join-timeout', '120'], {
    onStderr: (chunk) => {
      const m = /listening on (tcp:\/\/[\d.]+:\d+)/.exec(chunk);
      if (m) endpoint(m[1]);
    },
  });
  const ep = await listening;

  // Garbage and forgeries from a raw socket.
  const rogue = new zmq.Dealer({ linger: 0 });
  t.teardown(() => rogue.close());
  rogue.connect(ep);
  await rogue.send([Buffer.from('not msgpack'), Buffer.alloc(16)]);
  await rogue.send(Buffer.from([1, 2, 3]));
  const hello = { t: 'hello', protocol: PROTOCOL_VERSION, rank: -1, device: 'x', backend: 'wasm', version: '0', configHash: 'x', config: {}, dataEndpoint: 'tcp://127.0.0.1:1', host: 'rogue', pid: 1 } as const;
  await rogue.send(encodeMessage(hello, Buffer.from('wrong-token-wrong-token')));
  // Authentic, but from a connection that never said hello: not acted on either.
  await rogue.send(encodeMessage({ t: 'ready', rank: 0, weightsHash: 'x' }, Buffer.from(TOKEN)));

  // A worker with the right token but another learning rate is refused, naming the difference.
  const mismatched = await runCli('worker', ['--coordinator', ep, '--token', TOKEN, ...TRAIN, '--lr', '0.001', '--coordinator-timeout', '20']);
  t.is(mismatched.code, 2);
  t.regex(mismatched.stderr, /refused this worker: training config differs: lr: coordinator 0\.0002 ≠ worker 0\.001/);

  // A worker with a wrong token gets no answer (its hello is dropped) and gives up on its own.
  const wrong = await runCli('worker', ['--coordinator', ep, '--token', 'not-the-token-at-all', ...TRAIN, '--coordinator-timeout', '3']);
  t.is(wrong.code, 3);
  t.regex(wrong.stderr, /no answer from the coordinator/);

  const good = [0, 1].map(() => runCli('worker', ['--coordinator', ep, '--token', TOKEN, ...TRAIN]));
  const results: CliResult[] = await Promise.all([coordinator, ...good]);
  for (const r of results) t.is(r.code, 0, r.stderr);
  const c = results[0].stderr;
  t.regex(c, /refused a worker from .* training config differs/);
  const dropped = Number(/dropped (\d+) control message/.exec(c)?.[1] ?? 0);
  t.true(dropped >= 4, `dropped ${dropped}`);
  t.regex(c, /done: 4 steps/);
});

/** Peak resident memory of a process (VmHWM), bytes. */
function peakRss(pid: number): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

test('an oversize frame on the control socket drops its sender before it is buffered; the run completes', async (t) => {
  const dir = await tempDir(t);
  let endpoint: (v: string) => void;
  const listening = new Promise<string>((r) => (endpoint = r));
  let pid = 0;
  const coordinator = runCli('coordinator', ['--workers', '1', '--token', TOKEN, ...TRAIN, '--run-dir', join(dir, 'run'), '--join-timeout', '120'], {
    onStderr: (chunk, child) => {
      pid = child.pid!;
      const m = /listening on (tcp:\/\/[\d.]+:\d+)/.exec(chunk);
      if (m) endpoint(m[1]);
    },
  });
  const ep = await listening;
  const before = peakRss(pid);

  const frameBytes = 200 * 2 ** 20;
  t.true(frameBytes > 4 * maxControlFrameBytes('mlp', 100), 'the frame is far over the limit');
  const rogue = new zmq.Dealer({ linger: 0 });
  t.teardown(() => rogue.close());
  const dropped = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the coordinator did not drop the sender of an oversize frame within 60 s')), 60_000);
    rogue.events.on('disconnect', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  rogue.connect(ep);
  await rogue.send([Buffer.alloc(frameBytes, 7), Buffer.alloc(16)]);
  await dropped;
  rogue.close();
  const grown = peakRss(pid) - before;
  t.log(`coordinator peak RSS ${(before / 2 ** 20).toFixed(0)} MiB before the frame, +${(grown / 2 ** 20).toFixed(0)} MiB after`);
  t.true(grown < frameBytes / 4, `peak RSS grew by ${(grown / 2 ** 20).toFixed(0)} MiB`);

  const worker = runCli('worker', ['--coordinator', ep, '--token', TOKEN, ...TRAIN]);
  const results: CliResult[] = await Promise.all([coordinator, worker]);
  for (const r of results) t.is(r.code, 0, r.stderr);
  t.regex(results[0].stderr, /done: 4 steps/);
});

test('a worker pointed at no coordinator exits within its timeout with one line', async (t) => {
  const r = await runCli('worker', ['--coordinator', 'tcp://127.0.0.1:9', '--token', TOKEN, ...TRAIN, '--coordinator-timeout', '2']);
  t.is(r.code, 3);
  t.regex(r.stderr, /no answer from the coordinator at tcp:\/\/127\.0\.0\.1:9/);
});

test('with --curve-keys every socket is CurveZMQ: keyed workers train, a worker without the keys is never answered', async (t) => {
  const dir = await tempDir(t);
  const keys = join(dir, 'cluster.keys');
  let endpoint: (v: string) => void;
  const listening = new Promise<string>((r) => (endpoint = r));
  const coordinator = runCli('coordinator', ['--workers', '2', '--token', TOKEN, '--curve-keys', keys, ...TRAIN, '--run-dir', join(dir, 'run')], {
    onStderr: (chunk) => {
      const m = /listening on (tcp:\/\/[\d.]+:\d+)/.exec(chunk);
      if (m) endpoint(m[1]);
    },
  });
  const ep = await listening;
  const plain = await runCli('worker', ['--coordinator', ep, '--token', TOKEN, ...TRAIN, '--coordinator-timeout', '3']);
  t.is(plain.code, 3);
  t.regex(plain.stderr, /no answer from the coordinator|closed the connection before answering \(CurveZMQ keys missing or wrong\?\)/);
  const results = await Promise.all([coordinator, ...[0, 1].map(() => runCli('worker', ['--coordinator', ep, '--token', TOKEN, '--curve-keys', keys, ...TRAIN]))]);
  for (const r of results) t.is(r.code, 0, r.stderr);
  t.regex(results[0].stderr, /done: 4 steps/);
});
