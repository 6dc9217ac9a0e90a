/**
 * Hostile traffic: while a 2-worker run trains, random bytes and random msgpack are sent to every
 * listening socket (the coordinator's control socket and each worker's ring socket) for a bounded
 * time. The run must finish unharmed: exit 0, replica hashes agreeing (checked every 2 steps), and
 * the coordinator counting what it dropped.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pack } from 'msgpackr';
import * as zmq from 'zeromq';
import { runCli, tempDir } from './helpers/cli.js';

function randomValue(depth = 0): unknown {
  const pick = Math.floor(Math.random() * 8);
  switch (pick) {
    case 0: return Math.random() * 1e6 - 5e5;
    case 1: return randomBytes(Math.floor(Math.random() * 40)).toString('hex');
    case 2: return Math.random() < 0.5;
    case 3: return null;
    case 4: return depth < 3 ? Array.from({ length: Math.floor(Math.random() * 5) }, () => randomValue(depth + 1)) : 0;
    case 5: return depth < 3 ? Object.fromEntries(Array.from({ length: Math.floor(Math.random() * 5) }, (_, i) => [['t', 'rank', 'seq', 'run', 'mac', 'files'][i] ?? `k${i}`, randomValue(depth + 1)])) : 1;
    case 6: return { t: ['hello', 'report', 'ready', 'checkpoint-data', 'samples', 'error', 'hb'][Math.floor(Math.random() * 7)], rank: Math.floor(Math.random() * 4) };
    default: return randomBytes(Math.floor(Math.random() * 64));
  }
}

function randomFrames(): Buffer[] {
  return Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () => (Math.random() < 0.5 ? randomBytes(Math.floor(Math.random() * 300)) : pack(randomValue())));
}

test('random bytes and msgpack at every socket during training: the run finishes unharmed', async (t) => {
  const dir = await tempDir(t);
  let seen = '';
  const sockets: zmq.Socket[] = [];
  t.teardown(() => sockets.forEach((s) => s.close()));
  let fuzzing: Promise<number> | undefined;
  const fuzz = async (endpoints: string[]): Promise<number> => {
    const targets = endpoints.map((ep, i) => {
      const s = i === 0 ? new zmq.Dealer({ linger: 0, sendTimeout: 100 }) : new zmq.Push({ linger: 0, sendTimeout: 100 });
      s.connect(ep);
      sockets.push(s);
      return s;
    });
    let sent = 0;
    const until = Date.now() + 6000;
    while (Date.now() < until) {
      for (const s of targets) {
        try {
          await s.send(randomFrames());
          sent++;
        } catch {
          // HWM reached or disconnected by the peer (maxMessageSize): keep going
        }
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    return sent;
  };
  const r = await runCli('cluster', ['--workers', '2', '--model', 'mlp', '--backend', 'wasm', '--epochs', '4', '--limit', '512', '--batch-size', '64', '--hash-every', '2', '--run-dir', join(dir, 'run'), '--progress', 'off'], {
    timeoutMs: 300_000,
    onStderr: (chunk) => {
      seen += chunk;
      const control = /listening on (tcp:\/\/[\d.]+:\d+)/.exec(seen)?.[1];
      const data = [...seen.matchAll(/joined: .* data (tcp:\/\/[\d.]+:\d+)/g)].map((m) => m[1]);
      if (!fuzzing && control && data.length === 2 && /run directory:/.test(seen)) fuzzing = fuzz([control, ...data]);
    },
  });
  const sent = await fuzzing;
  t.log(`sent ${sent} hostile messages`);
  t.true((sent ?? 0) > 100);
  t.is(r.code, 0, r.stderr.slice(-3000));
  t.regex(r.stderr, /done: 32 steps/);
  t.notRegex(r.stderr, /replica weights differ/);
  const dropped = Number(/dropped (\d+) control message/.exec(r.stderr)?.[1] ?? 0);
  t.log(`coordinator dropped ${dropped} control messages`);
  t.true(dropped > 0);
});
