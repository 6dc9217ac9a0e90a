import { createHmac, randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import test from 'ava';
import { Packr } from 'msgpackr';
import { Push, curveKeyPair } from 'zeromq';
import { AllReduceError, AllReduceTimeoutError, RingAllReduce, segmentBounds } from '../src/shared/allreduce/ring.js';
import { parseTcpEndpoint } from '../src/shared/allreduce/tcp-transport.js';
import { bitIdentical, inProcessRing, rankInput, ringReference } from './helpers/ring.js';

const SECRET = Buffer.from('cluster secret');
const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A rogue PUSH connected to `endpoint`; closed at test end. */
function rogue(t: import('ava').ExecutionContext, endpoint: string, opts: ConstructorParameters<typeof Push>[0] = {}): Push {
  const push = new Push({ linger: 0, ...opts });
  t.teardown(() => push.close());
  push.connect(endpoint);
  return push;
}

/** A TCP connection to a ring port (tcp-transport.ts); closed at test end. */
async function tcpClient(t: import('ava').ExecutionContext, endpoint: string): Promise<{ socket: Socket; received: () => number; closed: Promise<void> }> {
  const { host, port } = parseTcpEndpoint(endpoint);
  const socket = netConnect({ host, port });
  t.teardown(() => socket.destroy());
  socket.on('error', () => undefined);
  let received = 0;
  socket.on('data', (d: Buffer) => (received += d.length));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return { socket, received: () => received, closed };
}

/** The hello frame of tcp-transport.ts: u32 length, msgpack {hello, run, from, to, mac}. */
function helloFrame(h: { run: string; from: number; to: number }, secret?: Buffer): Buffer {
  const body: Record<string, unknown> = { hello: 1, ...h };
  if (secret) body.mac = createHmac('sha256', secret).update(JSON.stringify(['hello', h.run, h.from, h.to])).digest().subarray(0, 16);
  const packed = packr.pack(body);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(packed.length, 0);
  return Buffer.concat([len, packed]);
}

/** Header of the first message rank 1 of 3 expects from rank 0 in collective 0 (reduce-scatter step 0, chunk 0). */
function firstExpectedHeader(length: number) {
  const b = segmentBounds(length, 3);
  return { run: '', seq: 0, phase: 0, step: 0, chunk: 0, from: 0, n: b[1] - b[0] };
}

function mac(h: ReturnType<typeof firstExpectedHeader>, payloadBytes: number, secret = SECRET): Buffer {
  return createHmac('sha256', secret)
    .update(JSON.stringify([h.run, h.seq, h.phase, h.step, h.chunk, h.from, h.n, payloadBytes]))
    .digest()
    .subarray(0, 16);
}

/**
 * Runs one collective on a 3-rank ZeroMQ ring whose rank 1 got `inject`'s messages first (a PULL
 * socket reads whoever connects); checks the result. Over TCP a rank reads only the connection it
 * made itself, so nothing can be injected there: the TCP tests below attack the listening port.
 */
async function runWithInjection(t: import('ava').ExecutionContext, inject: (push: Push, length: number) => Promise<void>, expectRejected: number): Promise<void> {
  const transport = 'zmq';
  const world = 3;
  const length = 30_001;
  const rings: RingAllReduce[] = [];
  t.teardown(() => rings.forEach((r) => r.close()));
  for (let rank = 0; rank < world; rank++) rings.push(await RingAllReduce.bind({ rank, world, secret: SECRET, timeoutMs: 5_000, transport }));
  // The rogue's messages are queued at rank 1 before the ring exists, so they are read first.
  await inject(rogue(t, rings[1].endpoint), length);
  await sleep(300);
  await Promise.all(rings.map((r) => r.connect(rings.map((x) => x.endpoint))));
  const inputs = Array.from({ length: world }, (_, r) => rankInput(length, r));
  const bufs = inputs.map((x) => x.slice());
  await Promise.all(rings.map((ring, r) => ring.allReduceMean(bufs[r])));
  t.true(bitIdentical([...bufs, ringReference(inputs)]), 'the result is untouched by the injected messages');
  t.is(rings[1].stats.rejected, expectRejected);
  t.is(rings[0].stats.rejected + rings[2].stats.rejected, 0);
}

  test(`zmq: frames of random bytes are dropped and counted`, async (t) => {
    await runWithInjection(
      t,
      async (push) => {
        for (let i = 0; i < 3; i++) await push.send([randomBytes(40), randomBytes(1000)]);
      },
      3,
    );
  });

  test(`zmq: a well-formed header with a wrong mac is dropped, its payload never added`, async (t) => {
    await runWithInjection(
      t,
      async (push, length) => {
        const h = firstExpectedHeader(length);
        const payload = Buffer.from(new Float32Array(h.n).fill(1e30).buffer);
        await push.send([packr.pack({ ...h, mac: randomBytes(16) }), payload]);
        await push.send([packr.pack({ ...h, mac: mac(h, payload.length, Buffer.from('wrong secret')) }), payload]);
        await push.send([packr.pack(h), payload]); // no mac at all
      },
      3,
    );
  });

  test(`zmq: a truncated message (header frame only) is dropped and counted`, async (t) => {
    await runWithInjection(
      t,
      async (push, length) => {
        const h = firstExpectedHeader(length);
        await push.send(packr.pack({ ...h, mac: mac(h, h.n * 4) }));
        await push.send(packr.pack({ ...h, mac: mac(h, h.n * 4) }).subarray(0, 10));
      },
      2,
    );
  });

  test(`zmq: a correctly signed message for another slot (replayed seq, wrong sender) is dropped`, async (t) => {
    await runWithInjection(
      t,
      async (push, length) => {
        const h = firstExpectedHeader(length);
        const payload = Buffer.from(new Float32Array(h.n).fill(1e30).buffer);
        for (const other of [{ ...h, seq: 7 }, { ...h, from: 2 }, { ...h, run: 'old run' }]) {
          await push.send([packr.pack({ ...other, mac: mac(other, payload.length) }), payload]);
        }
        // Right header and mac but a payload of the wrong size.
        const short = payload.subarray(0, payload.length - 4);
        await push.send([packr.pack({ ...h, mac: mac(h, short.length) }), short]);
      },
      4,
    );
  });

for (const transport of ['tcp', 'zmq'] as const) {
  test(`${transport}: a missing peer makes the collective fail with AllReduceTimeoutError naming the rank waited on`, async (t) => {
    const timeoutMs = 500;
    const rings = await inProcessRing(t, 3, { timeoutMs, secret: SECRET, transport });
    // Rank 2 never joins the collective; rank 0 waits on its left neighbour, rank 2.
    const t0 = performance.now();
    const err = await t.throwsAsync(rings[0].allReduceMean(new Float32Array(1000)), { instanceOf: AllReduceTimeoutError });
    const elapsed = performance.now() - t0;
    t.true(elapsed >= timeoutMs - 5 && elapsed < timeoutMs + 1000, `failed after ${elapsed.toFixed(0)} ms`);
    t.is(err?.peer, 2);
    t.is(err?.direction, 'receive');
    t.is(err?.seq, 0);
    t.is(err?.phase, 'reduce-scatter');
    t.is(err?.step, 0);
    t.regex(err?.message ?? '', /rank 0: no message from rank 2 within 500 ms \(collective seq 0, reduce-scatter step 0/);
  });

  test(`${transport}: rogue messages do not extend the timeout`, async (t) => {
    const timeoutMs = 500;
    const rings = await inProcessRing(t, 2, { timeoutMs, secret: SECRET, transport });
    // ZeroMQ: messages into rank 0's PULL; TCP: connection after connection sending garbage to its port.
    const push = transport === 'zmq' ? rogue(t, rings[0].endpoint) : undefined;
    let flooding = true;
    void (async () => {
      while (flooding) {
        if (push) await push.send([randomBytes(20), randomBytes(20)]).catch(() => undefined);
        else await tcpClient(t, rings[0].endpoint).then((c) => c.socket.write(randomBytes(40))).catch(() => undefined);
        await sleep(10);
      }
    })();
    t.teardown(() => {
      flooding = false;
    });
    const t0 = performance.now();
    await t.throwsAsync(rings[0].allReduceMean(new Float32Array(100)), { instanceOf: AllReduceTimeoutError, message: /from rank 1/ });
    flooding = false;
    t.true(performance.now() - t0 < timeoutMs + 1000);
    t.true(rings[0].stats.rejected > 0);
  });

  test(`${transport}: after a timeout the instance refuses further collectives`, async (t) => {
    const rings = await inProcessRing(t, 2, { timeoutMs: 200, transport });
    await t.throwsAsync(rings[0].allReduceMean(new Float32Array(10)), { instanceOf: AllReduceTimeoutError });
    await t.throwsAsync(rings[0].allReduceMean(new Float32Array(10)), { instanceOf: AllReduceError, message: /unusable/ });
  });
}

test('tcp: connections that send garbage or a forged hello are cut, counted and never written to; the ring reduces correctly', async (t) => {
  const world = 3;
  const rings: RingAllReduce[] = [];
  t.teardown(() => rings.forEach((r) => r.close()));
  for (let rank = 0; rank < world; rank++) rings.push(await RingAllReduce.bind({ rank, world, secret: SECRET, timeoutMs: 5_000, transport: 'tcp' }));
  // Rank 1's right neighbour is rank 2: each rogue claims to be it, or talks nonsense.
  const frames = [
    randomBytes(40),
    helloFrame({ run: '', from: 2, to: 1 }, Buffer.from('wrong secret')),
    helloFrame({ run: 'old run', from: 2, to: 1 }, SECRET),
    helloFrame({ run: '', from: 2, to: 1 }), // no mac at all
    Buffer.concat([helloFrame({ run: '', from: 0, to: 1 }, SECRET)]), // signed, but rank 0 is not rank 1's right neighbour
  ];
  const rogues = [];
  for (const f of frames) {
    const c = await tcpClient(t, rings[1].endpoint);
    c.socket.write(f);
    rogues.push(c);
  }
  await sleep(300);
  await Promise.all(rings.map((r) => r.connect(rings.map((x) => x.endpoint))));
  const inputs = Array.from({ length: world }, (_, r) => rankInput(30_001, r));
  const bufs = inputs.map((x) => x.slice());
  await Promise.all(rings.map((ring, r) => ring.allReduceMean(bufs[r])));
  t.true(bitIdentical([...bufs, ringReference(inputs)]));
  await Promise.all(rogues.map((c) => c.closed));
  t.deepEqual(rogues.map((c) => c.received()), [0, 0, 0, 0, 0], 'no rogue was sent a byte');
  t.is(rings[1].stats.rejected, frames.length);
  t.is(rings[0].stats.rejected + rings[2].stats.rejected, 0);
});

test('tcp: a right neighbour that is gone fails the next collective at once, naming it', async (t) => {
  const rings = await inProcessRing(t, 2, { timeoutMs: 10_000, transport: 'tcp' });
  await Promise.all(rings.map((ring) => ring.allReduceMean(new Float32Array(10))));
  rings[1].close();
  await sleep(200);
  const t0 = performance.now();
  await t.throwsAsync(rings[0].allReduceMean(new Float32Array(10)), { instanceOf: AllReduceError, message: /ring rank 0: the connection (to|from) rank 1 (closed|failed)/ });
  t.true(performance.now() - t0 < 5_000, 'well before the 10 s timeout');
});

test('zmq: a client without the CURVE key cannot deliver anything to a CURVE ring', async (t) => {
  const kp = curveKeyPair();
  const rings = await inProcessRing(t, 2, { curve: kp, secret: SECRET });
  const plain = rogue(t, rings[1].endpoint, { sendTimeout: 200 });
  // A CURVE client that guessed the wrong server key.
  const other = curveKeyPair();
  const impostor = rogue(t, rings[1].endpoint, { sendTimeout: 200, curveServerKey: other.publicKey, curvePublicKey: other.publicKey, curveSecretKey: other.secretKey });
  for (const p of [plain, impostor]) await p.send([randomBytes(40), randomBytes(100)]).catch(() => undefined);
  await sleep(300);
  const inputs = [rankInput(1_000, 0), rankInput(1_000, 1)];
  const bufs = inputs.map((x) => x.slice());
  await Promise.all(rings.map((ring, r) => ring.allReduceMean(bufs[r])));
  t.true(bitIdentical([...bufs, ringReference(inputs)]));
  t.is(rings[1].stats.rejected, 0, 'the handshake failed, so nothing reached the socket');
});
