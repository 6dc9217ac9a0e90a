/**
 * The demo server's bounds (src/shared/http-bounds.ts, as shipped in DEMO_HTTP_BOUNDS), on the real
 * server over real sockets: connections over the cap are closed as they come (said once, counted),
 * a connection that never sends its headers is answered 408 and closed, one connection's requests
 * are limited, and a fresh client is served once the flood is gone. The metrics endpoint's bounds
 * under a real run and a lowered descriptor limit: tests/metrics-flood.test.ts.
 */
import test from 'ava';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CheckpointState } from '../src/shared/checkpoint/format.js';
import { startDemoServer } from '../src/demo/server.js';
import { DEMO_HTTP_BOUNDS } from '../src/shared/http-bounds.js';

/** The demo server on a free port; what it logged. Only /info and /z are asked for: no checkpoint files are read. */
async function demo(t: { teardown: (fn: () => void) => void }) {
  const logged: string[] = [];
  const state = { epoch: 1, globalStep: 2, latent: 4, config: { model: 'mlp' } } as unknown as CheckpointState;
  const { server, url } = await startDemoServer({ checkpoint: '/nonexistent', state, bind: '127.0.0.1', port: 0, log: (l) => logged.push(l) });
  t.teardown(() => {
    server.close();
    server.closeAllConnections();
  });
  return { server, url, port: Number(new URL(url).port), logged };
}

/** A raw connection; `closed` resolves with what it received once the server (or an error) closed it. */
function rawConnection(port: number): { socket: Socket; connected: Promise<void>; closed: Promise<string> } {
  const socket = connect(port, '127.0.0.1');
  let got = '';
  socket.on('data', (d) => (got += d));
  socket.on('error', () => undefined);
  return {
    socket,
    connected: new Promise((r) => socket.once('connect', () => r())),
    closed: new Promise((r) => socket.once('close', () => r(got))),
  };
}

test(`connections over the cap (${DEMO_HTTP_BOUNDS.maxConnections}) are closed at once, said once, and a fresh client is served after`, async (t) => {
  const { url, port, logged } = await demo(t);
  const extra = 20;
  const conns = Array.from({ length: DEMO_HTTP_BOUNDS.maxConnections + extra }, () => rawConnection(port));
  t.teardown(() => conns.forEach((c) => c.socket.destroy()));
  await Promise.all(conns.map((c) => c.connected));
  // The kernel completed every handshake; the server closes those over its cap as it accepts them.
  let closed = 0;
  conns.forEach((c) => c.closed.then(() => closed++));
  for (let i = 0; i < 100 && closed < extra; i++) await sleep(50);
  await sleep(300);
  t.is(closed, extra);
  t.is(logged.length, 1);
  t.regex(logged[0], /^demo server: more than 128 open connections: closing the new ones at once; shedding load/);
  // Let go: the page is served again. A request whose connection is shed before the server saw
  // the others go is closed unanswered (undici's fetch then waits: hence the timeout and retry).
  conns.forEach((c) => c.socket.destroy());
  let res: Response | undefined;
  for (let i = 0; i < 20 && !res; i++) res = await fetch(`${url}info`, { signal: AbortSignal.timeout(2000) }).catch(async () => void (await sleep(100)));
  t.is(res?.status, 200);
  t.is(((await res!.json()) as { epoch: number }).epoch, 1);
  t.is(logged.length, 1);
});

test('a connection that never completes its headers is answered 408 and closed within the header timeout', async (t) => {
  const { port } = await demo(t);
  const silent = rawConnection(port);
  const slow = rawConnection(port);
  await Promise.all([silent.connected, slow.connected]);
  slow.socket.write('GET /info HTTP/1.1\r\nHost: x\r\n'); // and never the blank line
  const start = Date.now();
  const [a, b] = await Promise.all([silent.closed, slow.closed]);
  const ms = Date.now() - start;
  t.regex(a, /^HTTP\/1\.1 408 /);
  t.regex(b, /^HTTP\/1\.1 408 /);
  // Node checks the timeout every connectionsCheckingInterval (1 s here): some slack on a loaded machine.
  t.true(ms >= DEMO_HTTP_BOUNDS.headersTimeoutMs - 1000 && ms < DEMO_HTTP_BOUNDS.headersTimeoutMs + 10_000, `closed after ${ms} ms`);
});

test(`one connection gets ${DEMO_HTTP_BOUNDS.maxRequestsPerSocket} requests, the last marked connection: close, then 503s`, async (t) => {
  const { port } = await demo(t);
  const c = rawConnection(port);
  await c.connected;
  const n = DEMO_HTTP_BOUNDS.maxRequestsPerSocket;
  c.socket.write('GET /info HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(n + 1));
  let got = '';
  c.socket.on('data', (d) => (got += d));
  for (let i = 0; i < 300 && (got.match(/^HTTP\/1\.1 /gm)?.length ?? 0) < n + 1; i++) await sleep(50);
  c.socket.destroy();
  const statuses = [...got.matchAll(/^HTTP\/1\.1 (\d+)/gm)].map((m) => Number(m[1]));
  t.is(statuses.filter((s) => s === 200).length, n);
  t.is(statuses[n], 503);
  const heads = got.split('HTTP/1.1 ').slice(1);
  t.regex(heads[n - 1], /\r\nConnection: close\r\n/i);
  t.notRegex(heads[n - 2], /\r\nConnection: close\r\n/i);
});
