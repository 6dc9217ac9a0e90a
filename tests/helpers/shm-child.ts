/**
 * One rank of a ring all-reduce over shared memory in its own process, for tests/ring-shm.test.ts.
 *
 * argv: rank world length mode. Prints `endpoint <…>`, reads every rank's endpoint (space-separated)
 * on stdin, then mode 'reduce' all-reduces rankInput(length, rank) and prints `sha256 <hex>`, or mode
 * 'idle' joins and then waits (never calling the collective) until killed. A failure prints `error
 * <message>` on stdout (one line) and exits 1.
 */
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { RingAllReduce } from '../../src/shared/allreduce/ring.js';
import { rankInput } from './ring.js';

const [rank, world, length] = process.argv.slice(2, 5).map(Number);
const mode = process.argv[5];
const ring = await RingAllReduce.bind({ rank, world, secret: Buffer.from('shm child secret'), timeoutMs: 20_000, transport: 'tcp', shm: true });
try {
  process.stdout.write(`endpoint ${ring.endpoint}\n`);
  const lines = createInterface({ input: process.stdin });
  const peers = await new Promise<string>((resolve) => lines.once('line', resolve));
  lines.close();
  await ring.connect(peers.trim().split(/\s+/));
  process.stdout.write(`links ${ring.links}\n`);
  if (mode === 'idle') {
    await new Promise(() => setInterval(() => undefined, 1000));
  }
  const buf = rankInput(length, rank);
  await ring.allReduceMean(buf);
  process.stdout.write(`sha256 ${createHash('sha256').update(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)).digest('hex')}\n`);
} catch (e) {
  process.stdout.write(`error ${(e as Error).message}\n`);
  process.exitCode = 1;
} finally {
  ring.close();
}
