/**
 * One rank of a ring all-reduce in its own process, for tests/ring-allreduce-processes.test.ts.
 *
 * argv: rank world length. Prints `endpoint <tcp://…>`, reads every rank's endpoint (space-separated,
 * in rank order) as one line on stdin, all-reduces rankInput(length, rank), prints `sha256 <hex of the result's bytes>`,
 * closes and exits. Any failure: message on stderr, exit code 1.
 */
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { RingAllReduce } from '../../src/shared/allreduce/ring.js';
import { rankInput } from './ring.js';

const [rank, world, length] = process.argv.slice(2).map(Number);
const ring = await RingAllReduce.bind({ rank, world, secret: Buffer.from(process.env.RING_SECRET ?? ''), timeoutMs: 20_000 });
try {
  process.stdout.write(`endpoint ${ring.endpoint}\n`);
  const lines = createInterface({ input: process.stdin });
  const peers = await new Promise<string>((resolve) => lines.once('line', resolve));
  lines.close();
  await ring.connect(peers.trim().split(/\s+/));
  const buf = rankInput(length, rank);
  await ring.allReduceMean(buf);
  const sha = createHash('sha256').update(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)).digest('hex');
  process.stdout.write(`sha256 ${sha}\n`);
} catch (e) {
  process.stderr.write(`rank ${rank}: ${(e as Error).message}\n`);
  process.exitCode = 1;
} finally {
  ring.close();
}
