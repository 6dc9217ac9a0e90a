import { readFileSync, readdirSync } from 'node:fs';
const f = readdirSync('/tmp/prof').filter((x) => x.endsWith('.cpuprofile')).map((x) => '/tmp/prof/' + x);
for (const file of f) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const self = new Map(); const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const dt = new Map(); p.samples.forEach((s, i) => dt.set(s, (dt.get(s) ?? 0) + (p.timeDeltas[i] ?? 0)));
  let total = 0;
  for (const [id, t] of dt) { const n = byId.get(id); const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').slice(-1)[0]}:${n.callFrame.lineNumber}`; self.set(k, (self.get(k) ?? 0) + t); total += t; }
  console.log(file, 'total ms', (total / 1000).toFixed(0));
  [...self].sort((a, b) => b[1] - a[1]).slice(0, 25).forEach(([k, t]) => console.log((t / 1000).toFixed(1).padStart(8), k));
}
