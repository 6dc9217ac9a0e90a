import { createHmac, randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import test from 'ava';
import { Packr } from 'msgpackr';
import { Push, curveKeyPair } from 'zeromq';
import { AllReduceError, AllReduceTimeoutError, RingAllReduce, segmentBounds, type RingTransportKind } from '../src/shared/allreduce/ring.js';
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

/** Something that reaches a rank's receive port and sends it messages of one or two frames. */
interface Injector {
  send(frames: Buffer[] | Buffer): Promise<void>;
}

/** A TCP client speaking the ring's framing (tcp-transport.ts): a header-only message has a 0-byte payload. */
async function tcpRogue(t: import('ava').ExecutionContext, endpoint: string): Promise<Injector & { socket: Socket }> {
  const { host, port } = parseTcpEndpoint(endpoint);
  const socket = netConnect({ host, port });
  t.teardown(() => socket.destroy());
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return {
    socket,
    send: (frames) =>
      new Promise<void>((resolve) => {
        const [header, payload = Buffer.alloc(0)] = Array.isArray(frames) ? frames : [frames];
        const prefix = Buffer.alloc(8);
        prefix.writeUInt32LE(header.length, 0);
        prefix.writeUInt32LE(payload.length, 4);
        socket.write(Buffer.concat([prefix, header, payload]), () => resolve());
      }),
  };
}

async function injector(t: import('ava').ExecutionContext, transport: RingTransportKind, endpoint: string): Promise<Injector> {
  if (transport === 'tcp') return tcpRogue(t, endpoint);
  const push = rogue(t, endpoint);
  return { send: async (frames) => void (await push.send(frames)) };
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

/** Runs one collective on a 3-rank ring whose rank 1 got `inject`'s messages first; checks the result. */
async function runWithInjection(t: import('ava').ExecutionContext, transport: RingTransportKind, inject: (rogue: Injector, length: number) => Promise<void>, expectRejected: number): Promise<void> {
  const world = 3;
  const length = 30_001;
  const rings: RingAllReduce[] = [];
  t.teardown(() => rings.forEach((r) => r.close()));
  for (let rank = 0; rank < world; rank++) rings.push(await RingAllReduce.bind({ rank, world, secret: SECRET, timeoutMs: 5_000, transport }));
  // The rogue's messages are queued at rank 1 before the ring exists, so they are read first.
  await inject(await injector(t, transport, rings[1].endpoint), length);
  await sleep(300);
  await Promise.all(rings.map((r, rank) => r.connect(rings[(rank + 1) % world].endpoint)));
  const inputs = Array.from({ length: world }, (_, r) => rankInput(length, r));
  const bufs = inputs.map((x) => x.slice());
  await Promise.all(rings.map((ring, r) => ring.allReduceMean(bufs[r])));
  t.true(bitIdentical([...bufs, ringReference(inputs)]), 'the result is untouched by the injected messages');
  t.is(rings[1].stats.rejected, expectRejected);
  t.is(rings[0].stats.rejected + rings[2].stats.rejected, 0);
}

for (const transport of ['tcp', 'zmq'] as const) {
  test(`${transport}: frames of random bytes are dropped and counted`, async (t) => {
    await runWithInjection(
      t,
      transport,
      async (rogue) => {
        for (let i = 0; i < 3; i++) await rogue.send([randomBytes(40), randomBytes(1000)]);
      },
      3,
    );
  });

  test(`${transport}: a well-formed header with a wrong mac is dropped, its payload never added`, async (t) => {
    await runWithInjection(
      t,
      transport,
      async (rogue, length) => {
        const h = firstExpectedHeader(length);
        const payload = Buffer.from(new Float32Array(h.n).fill(1e30).buffer);
        await rogue.send([packr.pack({ ...h, mac: randomBytes(16) }), payload]);
        await rogue.send([packr.pack({ ...h, mac: mac(h, payload.length, Buffer.from('wrong secret')) }), payload]);
        await rogue.send([packr.pack(h), payload]); // no mac at all
      },
      3,
    );
  });

  test(`${transport}: a truncated message (header frame only) is dropped and counted`, async (t) => {
    await runWithInjection(
      t,
      transport,
      async (rogue, length) => {
        const h = firstExpectedHeader(length);
        await rogue.send(packr.pack({ ...h, mac: mac(h, h.n * 4) }));
        await rogue.send(packr.pack({ ...h, mac: mac(h, h.n * 4) }).subarray(0, 10));
      },
      2,
    );
  });

  test(`${transport}: a correctly signed message for another slot (replayed seq, wrong sender) is dropped`, async (t) => {
    await runWithInjection(
      t,
      transport,
      async (rogue, length) => {
        const h = firstExpectedHeader(length);
        const payload = Buffer.from(new Float32Array(h.n).fill(1e30).buffer);
        for (const other of [{ ...h, seq: 7 }, { ...h, from: 2 }, { ...h, run: 'old run' }]) {
          await rogue.send([packr.pack({ ...other, mac: mac(other, payload.length) }), payload]);
        }
        // Right header and mac but a payload of the wrong size.
        const short = payload.subarray(0, payload.length - 4);
        await rogue.send([packr.pack({ ...h, mac: mac(h, short.length) }), short]);
      },
      4,
    );
  });

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
    const rogue = await injector(t, transport, rings[0].endpoint);
    let flooding = true;
    void (async () => {
      while (flooding) {
        await rogue.send([randomBytes(20), randomBytes(20)]).catch(() => undefined);
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

test('tcp: a client whose framing claims an oversized message is cut off, counted, and the ring reduces correctly', async (t) => {
  const rings = await inProcessRing(t, 2, { secret: SECRET, chunkBytes: 4096 });
  const rogue = await tcpRogue(t, rings[1].endpoint);
  const closed = new Promise<void>((resolve) => rogue.socket.once('close', () => resolve()));
  const prefix = Buffer.alloc(8);
  prefix.writeUInt32LE(16, 0);
  prefix.writeUInt32LE(4096 + 1, 4); // one byte over the largest payload the ring sends
  rogue.socket.write(prefix);
  await closed;
  t.is(rings[1].stats.rejected, 1);
  const inputs = [rankInput(5_000, 0), rankInput(5_000, 1)];
  const bufs = inputs.map((x) => x.slice());
  await Promise.all(rings.map((ring, r) => ring.allReduceMean(bufs[r])));
  t.true(bitIdentical([...bufs, ringReference(inputs)]));
});

test('tcp: a right neighbour that is gone fails the next collective at once, naming it', async (t) => {
  const rings = await inProcessRing(t, 2, { timeoutMs: 10_000, transport: 'tcp' });
  await Promise.all(rings.map((ring) => ring.allReduceMean(new Float32Array(10))));
  rings[1].close();
  await sleep(200);
  const t0 = performance.now();
  await t.throwsAsync(rings[0].allReduceMean(new Float32Array(10)), { instanceOf: AllReduceError, message: /ring rank 0: the connection to rank 1 (closed|failed)/ });
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
