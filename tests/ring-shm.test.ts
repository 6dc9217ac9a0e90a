import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, writeFileSync, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { AllReduceTimeoutError, RingAllReduce } from '../src/shared/allreduce/ring.js';
import { segmentBounds } from '../src/shared/allreduce/schedule.js';
import { ShmTransport, sweepStaleRegions } from '../src/shared/allreduce/shm-transport.js';
import { bitIdentical, inProcessRing, rankInput, ringReference } from './helpers/ring.js';

const CHILD = fileURLToPath(new URL('./helpers/ring-child.ts', import.meta.url));
const regionsOf = (pid: number) => readdirSync('/dev/shm').filter((n) => n.startsWith(`gan-ring-${pid}-`));

async function meanMatchesReference(t: import('ava').ExecutionContext, rings: RingAllReduce[], length: number, fp16 = false): Promise<void> {
  const inputs = rings.map((_, r) => rankInput(length, r, 7));
  const bufs = inputs.map((x) => x.slice());
  await Promise.all(rings.map((ring, r) => ring.allReduceMean(bufs[r])));
  t.true(bitIdentical([...bufs, ringReference(inputs, fp16)]), 'every rank holds the fixed-order float32 reference bits');
}

test('one host: every link in shared memory, the TCP ring’s bits (3 ranks, float32 and fp16)', async (t) => {
  const rings = await inProcessRing(t, 3, { secret: Buffer.from('s'), shm: true });
  t.deepEqual(rings.map((r) => r.links), ['shm', 'shm', 'shm']);
  await meanMatchesReference(t, rings, 1_000_003);
  await meanMatchesReference(t, rings, 7);
  const half = await inProcessRing(t, 3, { secret: Buffer.from('s'), shm: true, compression: 'fp16' });
  await meanMatchesReference(t, half, 100_003, true);
  t.is(rings[0].stats.rejected, 0);
  t.true(rings[0].stats.messagesSent > 0);
});

test('two virtual hosts (bind addresses): shared memory inside each, TCP between, same bits (4 ranks)', async (t) => {
  const rings = await inProcessRing(t, 4, { secret: Buffer.from('s'), shm: true }, (r) => ({ bindHost: r < 2 ? '127.0.0.1' : '127.0.0.2' }));
  t.deepEqual(rings.map((r) => r.links), ['tcp from rank 3, shm to rank 1', 'shm from rank 0, tcp to rank 2', 'tcp from rank 1, shm to rank 3', 'shm from rank 2, tcp to rank 0']);
  await meanMatchesReference(t, rings, 1_000_003);
  // Chunks forwarded from shared memory onto TCP and back, with small chunks: many records per ring.
  const small = await inProcessRing(t, 4, { secret: Buffer.from('s'), shm: true, chunkBytes: 4096 }, (r) => ({ bindHost: r % 2 === 0 ? '127.0.0.1' : '127.0.0.2' }));
  t.deepEqual(small.map((r) => r.links), ['tcp', 'tcp', 'tcp', 'tcp']);
  const mixed = await inProcessRing(t, 5, { secret: Buffer.from('s'), shm: true, chunkBytes: 4096 }, (r) => ({ bindHost: r < 3 ? '127.0.0.1' : '127.0.0.2' }));
  await meanMatchesReference(t, mixed, 300_007);
});

test('a collective larger than the shared ring (16 MiB): the writer waits for room, the bits are right (2 ranks, 24 MB)', async (t) => {
  const rings = await inProcessRing(t, 2, { transport: 'shm', chunkBytes: 64 * 1024 });
  await meanMatchesReference(t, rings, 6_000_001);
  // Sharded: reduce-scatter, check, update, all-gather over the same links.
  const bufs = [0, 1].map((r) => rankInput(200_003, r, 3));
  const oks = await Promise.all(rings.map((ring, r) => ring.reduceUpdateGather(bufs[r], { check: () => true, update: (lo, hi) => bufs[r].subarray(lo, hi).fill(r + 1) })));
  t.deepEqual(oks, [true, true]);
  t.true(bitIdentical(bufs));
});

test('no region outlives the ring: the opener unlinks the name, close unlinks an unopened one', async (t) => {
  const fileOf = (endpoint: string) => `/dev/shm/${/shm:\/\/([^/]+)\//.exec(endpoint)![1]}`;
  const rings = await inProcessRing(t, 2, { shm: true });
  for (const r of rings) t.false(existsSync(fileOf(r.endpoint)), 'unlinked once the left neighbour mapped it');
  const lone = ShmTransport.bind({ timeoutMs: 1000, maxPayloadBytes: 1 << 20 });
  t.true(existsSync(fileOf(lone.endpoint)));
  lone.close();
  t.false(existsSync(fileOf(lone.endpoint)));
  // A link to a neighbour on another host: the unused region is unlinked at connect.
  const apart = await inProcessRing(t, 2, { shm: true }, (r) => ({ bindHost: `127.0.0.${r + 1}` }));
  for (const r of apart) t.false(existsSync(fileOf(r.endpoint.split('+')[1])));
});

test('two runs never share a region: a region made under another secret is refused', async (t) => {
  const a = await RingAllReduce.bind({ rank: 0, world: 2, transport: 'shm', secret: Buffer.from('run A') });
  const b = await RingAllReduce.bind({ rank: 1, world: 2, transport: 'shm', secret: Buffer.from('run B') });
  t.teardown(() => (a.close(), b.close()));
  await t.throwsAsync(a.connect([a.endpoint, b.endpoint]), { message: /is not a region of this run/ });
});

test('a silent neighbour fails the wait after the timeout, naming it', async (t) => {
  const rings = await inProcessRing(t, 2, { transport: 'shm', timeoutMs: 300 });
  const err = await t.throwsAsync(rings[0].allReduceMean(new Float32Array(1000)));
  t.true(err instanceof AllReduceTimeoutError, String(err));
  t.is((err as AllReduceTimeoutError).peer, 1);
});

test('a region left by a killed process is removed by the next bind on the host', async (t) => {
  const dead = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => dead.on('close', r));
  const name = `/dev/shm/gan-ring-${dead.pid}-0123456789abcdef`;
  writeFileSync(name, 'x', { mode: 0o600 });
  t.true(sweepStaleRegions() >= 1);
  t.false(existsSync(name));
});

interface Child {
  proc: ChildProcess;
  lines: string[];
  line: (prefix: string) => Promise<string | undefined>;
  closed: Promise<number | null>;
}

function start(rank: number, world: number, length: number, mode: 'reduce' | 'idle'): Child {
  const proc = spawn(process.execPath, ['--import=tsx', CHILD, String(rank), String(world), String(length), mode], { stdio: ['pipe', 'pipe', 'ignore'], env: { ...process.env, RING_SHM: '1', RING_SECRET: 'shm child secret' } });
  const lines: string[] = [];
  const closed = new Promise<number | null>((resolve) => proc.on('close', resolve));
  const waiters: { prefix: string; resolve: (l: string | undefined) => void }[] = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    lines.push(l);
    for (const w of waiters.filter((x) => l.startsWith(x.prefix))) w.resolve(l.slice(w.prefix.length));
  });
  void closed.then(() => waiters.forEach((w) => w.resolve(undefined)));
  const line = (prefix: string) => {
    const have = lines.find((l) => l.startsWith(prefix));
    if (have !== undefined) return Promise.resolve(have.slice(prefix.length));
    return new Promise<string | undefined>((resolve) => waiters.push({ prefix, resolve }));
  };
  return { proc, lines, line, closed };
}

test('processes: 2 ranks reduce in shared memory to the reference bits; none of their regions is left', async (t) => {
  const length = 2_000_003;
  const kids = [0, 1].map((r) => start(r, 2, length, 'reduce'));
  t.teardown(() => kids.forEach((k) => k.proc.exitCode === null && k.proc.kill('SIGKILL')));
  const eps = await Promise.all(kids.map((k) => k.line('endpoint ')));
  kids.forEach((k) => k.proc.stdin!.end(`${eps.join(' ')}\n`));
  t.deepEqual(await Promise.all(kids.map((k) => k.closed)), [0, 0], kids.map((k) => k.lines.join(' | ')).join(' || '));
  t.deepEqual(kids.map((k) => k.lines.find((l) => l.startsWith('links '))), ['links shm', 'links shm']);
  const ref = ringReference([0, 1].map((r) => rankInput(length, r)));
  const want = createHash('sha256').update(new Uint8Array(ref.buffer)).digest('hex');
  t.deepEqual(kids.map((k) => k.lines.find((l) => l.startsWith('sha256 '))?.slice(7)), [want, want]);
  for (const k of kids) t.deepEqual(regionsOf(k.proc.pid!), []);
});

test('processes: a neighbour SIGKILLed mid-collective is named within a second; no region is left', async (t) => {
  const kids = [start(0, 2, 100_000, 'reduce'), start(1, 2, 100_000, 'idle')];
  t.teardown(() => kids.forEach((k) => k.proc.exitCode === null && k.proc.kill('SIGKILL')));
  const eps = await Promise.all(kids.map((k) => k.line('endpoint ')));
  kids.forEach((k) => k.proc.stdin!.end(`${eps.join(' ')}\n`));
  t.is(await kids[1].line('links '), 'shm');
  await kids[0].line('links ');
  await new Promise((r) => setTimeout(r, 300)); // rank 0 is now waiting for rank 1's chunks
  const t0 = performance.now();
  kids[1].proc.kill('SIGKILL');
  const err = await kids[0].line('error ');
  const ms = performance.now() - t0;
  t.regex(err ?? '', /rank 1 \(pid \d+\) is gone|rank 1 closed/);
  t.true(ms < 1500, `named after ${ms.toFixed(0)} ms`);
  t.is(await kids[0].closed, 1);
  for (const k of kids) t.deepEqual(regionsOf(k.proc.pid!), []);
});

/** The hierarchical order of additions: each host's ring mean, then the ring mean of the hosts' means per local segment. */
function hierarchicalReference(inputs: Float32Array[], hosts: number, perHost: number): Float32Array {
  const length = inputs[0].length;
  const hostMeans = Array.from({ length: hosts }, (_, h) => ringReference(inputs.slice(h * perHost, (h + 1) * perHost)));
  const out = new Float32Array(length);
  const lb = segmentBounds(length, perHost);
  for (let s = 0; s < perHost; s++) out.set(ringReference(hostMeans.map((m) => m.subarray(lb[s], lb[s + 1]))), lb[s]);
  return out;
}

for (const [hosts, perHost] of [[2, 2], [2, 3], [3, 2]]) {
  test(`hierarchical, ${hosts} hosts × ${perHost}: shared memory inside, rings between; every rank the reference bits`, async (t) => {
    const world = hosts * perHost;
    const rings = await inProcessRing(t, world, { secret: Buffer.from('s'), shm: true, hierarchical: true, chunkBytes: 64 * 1024 }, (r) => ({ bindHost: `127.0.0.${1 + Math.floor(r / perHost)}` }));
    t.true(rings.every((r) => r.links === `hierarchical: shm inside each host (${perHost} ranks), tcp between ${hosts} hosts`), rings[0].links);
    for (const length of [7 * world + 3, 300_007]) {
      const inputs = rings.map((_, r) => rankInput(length, r, 11));
      const bufs = inputs.map((x) => x.slice());
      await Promise.all(rings.map((ring, r) => ring.allReduceMean(bufs[r])));
      t.true(bitIdentical([...bufs, hierarchicalReference(inputs, hosts, perHost)]), `allReduceMean, length ${length}`);
    }
    // The sharded step: the owned pieces tile the buffer; each owner's update reaches every rank.
    const length = 100_003;
    const owned = rings.map((r) => r.ownedRange(length));
    const sorted = [...owned].sort((a, b) => a[0] - b[0]);
    t.is(sorted[0][0], 0);
    for (let k = 1; k < sorted.length; k++) t.is(sorted[k][0], sorted[k - 1][1]);
    t.is(sorted.at(-1)![1], length);
    t.deepEqual(rings[0].asShardedReducer().segmentBounds(length), [0, ...sorted.map((x) => x[1])]);
    const bufs = rings.map((_, r) => rankInput(length, r, 5));
    const oks = await Promise.all(rings.map((ring, r) => ring.reduceUpdateGather(bufs[r], { check: () => true, update: (lo, hi) => bufs[r].subarray(lo, hi).fill(r + 0.5) })));
    t.deepEqual(oks, rings.map(() => true));
    t.true(bitIdentical(bufs), 'every rank holds every owner’s update');
    for (const [r, [lo, hi]] of owned.entries()) t.true(bufs[0].subarray(lo, hi).every((x) => x === r + 0.5), `rank ${r}'s piece`);
    // One rank's failed check: nobody updates.
    const before = rings.map((_, r) => rankInput(length, r, 6));
    let updated = 0;
    const skip = await Promise.all(rings.map((ring, r) => ring.reduceUpdateGather(before[r], { check: () => r !== world - 1, update: () => void updated++ })));
    t.deepEqual(skip, rings.map(() => false));
    t.is(updated, 0);
    // Broadcast from rank 1 and an all-gather of owned pieces.
    const bytes = rings.map((_, r) => new Uint8Array(50_001).fill(r === 1 ? 9 : 0));
    await Promise.all(rings.map((ring, r) => ring.broadcast(bytes[r], 1)));
    t.true(bytes.every((b) => b.every((x) => x === 9)));
    const gathered = rings.map((_, r) => {
      const b = new Float32Array(length);
      b.subarray(...owned[r]).fill(r);
      return b;
    });
    await Promise.all(rings.map((ring, r) => ring.allGather(gathered[r])));
    t.true(bitIdentical(gathered));
    for (const [r, [lo, hi]] of owned.entries()) t.true(gathered[0].subarray(lo, hi).every((x) => x === r));
  });
}

test('hierarchy only where the hosts allow it: unequal hosts or one rank per host keep the single ring', async (t) => {
  const uneven = await inProcessRing(t, 3, { shm: true, hierarchical: true }, (r) => ({ bindHost: r < 2 ? '127.0.0.1' : '127.0.0.2' }));
  t.is(uneven[0].links, 'tcp from rank 2, shm to rank 1');
  await meanMatchesReference(t, uneven, 10_001);
  const single = await inProcessRing(t, 2, { shm: true, hierarchical: true }, (r) => ({ bindHost: `127.0.0.${r + 1}` }));
  t.is(single[0].links, 'tcp');
});
