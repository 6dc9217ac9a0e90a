/**
 * One rank of a ring all-reduce in its own process, for tests/ring-allreduce-processes.test.ts and
 * tests/ring-shm.test.ts.
 *
 * argv: rank world length [mode]. With RING_SHM=1 the ring offers shared memory (the workers'
 * default data plane). Prints `endpoint <…>`, reads every rank's endpoint (space-separated, in rank
 * order) as one line on stdin, prints `links <what carries its links>`, then mode 'reduce' (the
 * default) all-reduces rankInput(length, rank) and prints `sha256 <hex of the result's bytes>`,
 * mode 'idle' waits (never calling the collective) until killed. Any failure: `error <message>` on
 * stdout and on stderr, exit code 1.
 */
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { RingAllReduce } from '../../src/shared/allreduce/ring.js';
import { rankInput } from './ring.js';

const [rank, world, length] = process.argv.slice(2, 5).map(Number);
const mode = process.argv[5] ?? 'reduce';
const shm = process.env.RING_SHM === '1';
const ring = await RingAllReduce.bind({ rank, world, secret: Buffer.from(process.env.RING_SECRET ?? ''), timeoutMs: 20_000, transport: 'tcp', shm, hierarchical: shm });
try {
  process.stdout.write(`endpoint ${ring.endpoint}\n`);
  const lines = createInterface({ input: process.stdin });
  const peers = await new Promise<string>((resolve) => lines.once('line', resolve));
  lines.close();
  await ring.connect(peers.trim().split(/\s+/));
  process.stdout.write(`links ${ring.links}\n`);
  if (mode === 'idle') await new Promise(() => setInterval(() => undefined, 1000));
  const buf = rankInput(length, rank);
  await ring.allReduceMean(buf);
  const sha = createHash('sha256').update(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)).digest('hex');
  process.stdout.write(`sha256 ${sha}\n`);
} catch (e) {
  process.stdout.write(`error ${(e as Error).message}\n`);
  process.stderr.write(`rank ${rank}: ${(e as Error).message}\n`);
  process.exitCode = 1;
} finally {
  ring.close();
}
