import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { RingAllReduce } from '../src/shared/allreduce/ring.js';
const [mode, rankS, transport, mbS, chunkS] = process.argv.slice(2);
if (mode === 'child') {
  const rank = Number(rankS);
  const ring = await RingAllReduce.bind({ rank, world: 2, transport: transport as 'tcp', chunkBytes: Number(chunkS ?? 1048576), secret: Buffer.from('x') });
  process.stdout.write(`ep ${ring.endpoint}\n`);
  const rl = createInterface({ input: process.stdin });
  const peer = await new Promise<string>((r) => rl.once('line', r));
  await ring.connect(peer.trim().split(' '));
  const n = Math.round(Number(mbS) * 1e6 / 4);
  const buf = new Float32Array(n).fill(rank + 1);
  const times: number[] = [];
  for (let i = 0; i < 60; i++) { const t0 = performance.now(); await ring.allReduceMean(buf); times.push(performance.now() - t0); }
  times.splice(0, 10); times.sort((a, b) => a - b);
  process.stdout.write(`res ${rank} p10 ${times[5].toFixed(2)} p50 ${times[25].toFixed(2)} p90 ${times[45].toFixed(2)}\n`);
  ring.close(); rl.close();
} else {
  const kids = [0, 1].map((r) => spawn(process.execPath, ['--import', 'tsx', ...(process.env.PROF && r === 0 ? (process.env.PROF === 'gc' ? ['--trace-gc'] : ['--cpu-prof', '--cpu-prof-dir=/tmp/prof']) : []), '.exp/ar.ts', 'child', String(r), rankS, transport, mbS ?? '1048576'], { stdio: ['pipe', 'pipe', 'inherit'] }));
  const eps = await Promise.all(kids.map((k) => new Promise<string>((res) => createInterface({ input: k.stdout! }).on('line', (l) => { if (l.startsWith('ep ')) res(l.slice(3)); else console.log(l); }))));
  kids.forEach((k) => k.stdin!.end(eps.join(' ') + '\n'));
  await Promise.all(kids.map((k) => new Promise((r) => k.on('exit', r))));
}
