/**
 * Hostile traffic: while a 2-worker run trains, random bytes and random msgpack are sent to every
 * listening socket (the coordinator's ZeroMQ control socket; each worker's ring port, plain TCP:
 * raw bytes and hello-framed garbage, tcp-transport.ts) for a bounded time. The run must finish unharmed: exit 0, replica hashes agreeing (checked every 2 steps), and
 * the coordinator counting what it dropped.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { pack } from 'msgpackr';
import * as zmq from 'zeromq';
import { parseTcpEndpoint } from '../src/shared/allreduce/tcp-transport.js';
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

/** Bytes for a ring port (tcp-transport.ts): unframed noise, or a frame as a hello is framed (u32 length, msgpack) holding a random value or a hello with random fields and no valid mac. */
function randomRingBytes(): Buffer {
  if (Math.random() < 0.3) return randomBytes(Math.floor(Math.random() * 300));
  const body = Math.random() < 0.5 ? pack(randomValue()) : pack({ hello: 1, run: randomBytes(4).toString('hex'), from: Math.floor(Math.random() * 3), to: Math.floor(Math.random() * 3), mac: randomBytes(16) });
  const len = Buffer.alloc(4);
  len.writeUInt32LE(body.length, 0);
  return Buffer.concat([len, body]);
}

/** Writes to a ring port, reconnecting whenever the worker cuts the connection (as it does on anything but a right hello). */
class RingFuzzer {
  private socket?: Socket;
  constructor(private readonly endpoint: string) {}
  async send(): Promise<void> {
    if (!this.socket || this.socket.destroyed) {
      const { host, port } = parseTcpEndpoint(this.endpoint);
      const socket = netConnect({ host, port });
      socket.on('error', () => undefined);
      this.socket = socket;
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('close', () => reject(new Error('closed'))));
    }
    const socket = this.socket;
    // A worker that stopped reading us (its queue for this connection is full) must not stall the loop.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('write stalled'));
      }, 200);
      socket.write(randomRingBytes(), (e) => {
        clearTimeout(timer);
        if (e) reject(e);
        else resolve();
      });
    });
  }
  close(): void {
    this.socket?.destroy();
  }
}

function randomFrames(): Buffer[] {
  return Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () => (Math.random() < 0.5 ? randomBytes(Math.floor(Math.random() * 300)) : pack(randomValue())));
}

test('random bytes and msgpack at every socket during training: the run finishes unharmed', async (t) => {
  const dir = await tempDir(t);
  let seen = '';
  const sockets: { close(): void }[] = [];
  t.teardown(() => sockets.forEach((s) => s.close()));
  let fuzzing: Promise<number> | undefined;
  const fuzz = async (control: string, rings: string[]): Promise<number> => {
    const dealer = new zmq.Dealer({ linger: 0, sendTimeout: 100 });
    dealer.connect(control);
    sockets.push(dealer);
    const fuzzers = rings.map((ep) => new RingFuzzer(ep));
    sockets.push(...fuzzers);
    const targets = [() => dealer.send(randomFrames()), ...fuzzers.map((f) => () => f.send())];
    let sent = 0;
    const until = Date.now() + 6000;
    while (Date.now() < until) {
      for (const send of targets) {
        try {
          await send();
          sent++;
        } catch {
          // HWM reached, or disconnected by the peer (oversized frame, bad framing): keep going
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
      if (!fuzzing && control && data.length === 2 && /run directory:/.test(seen)) fuzzing = fuzz(control, data);
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
