/**
 * `npm run bench -- --sections hosts`: the cluster across "hosts" (Linux network namespaces on one
 * bridge, src/bench/netns.ts) whose links are shaped to a chosen rate, measured against the cost
 * model. Root only.
 *
 * First on unshaped links (the namespace path carries 7–8 Gbit/s here, more than 2 cores can fill:
 * the CPU-bound baseline), then per link rate, on fresh namespaces (one per host, each link a veth
 * pair shaped with `tbf` in both directions):
 *   link        a plain TCP stream between two hosts, one way and both ways (what the shaping lets through);
 *   all-reduce  the ring the workers run (plain TCP, as without CurveZMQ), rank r on host r, N = 2…4,
 *               every payload; busbw against the shaped rate;
 *   2 × 2       two hosts with two ranks each: the flat TCP ring against the default data plane
 *               (hierarchical.ts: reduce in shared memory inside a host, rings between hosts only);
 *   fit         α and B of the cost model (cost-model.ts) by least squares on this rate's all-reduce points
 *               (shown beside the rate; the unshaped fit's α is the per-ring-step software cost);
 *   training    `npm run coordinator` on host 0 and one `npm run worker` per host 1…N, each with its own
 *               --bind address and copied token, as on separate machines (MLP, a batch of 64 per worker,
 *               OPENBLAS_NUM_THREADS=1 per worker as in the scaling section); step parts from metrics.jsonl;
 *   check       the step predicted as measured(step − all-reduce) + max(link term, CPU term): the link
 *               term is the cost model's all-reduce of D's and G's buffers at N with B = the link rate
 *               (as the projections assume) and the unshaped fit's α; the CPU term is the all-reduce
 *               time the unshaped training run of the same N measured. A ring is a pipeline: it runs at
 *               the slower of the wire and the processors feeding it (a roofline).
 *
 * What the model is asked to predict is the communication: compute, Adam, data and control are read
 * from the same run (on this 2-core machine N workers share two cores, so compute itself does not
 * stay constant with N, and no link model could predict that part). The CPU term is large here
 * because every "host" shares the same 2 cores; on separate machines it is each host's own.
 *
 * Namespaces, interfaces and processes are removed after each rate, also when a measurement fails
 * or the bench is interrupted (SIGINT/SIGTERM); a crashed run's leftovers are removed by the next one.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { busbw, measureRing, type AllReduceBenchArgs } from './allreduce.js';
import { allReduceSeconds, fitAllReduce } from './cost-model.js';
import { measureLink, type LinkRow } from './link.js';
import { VirtualHosts } from './netns.js';
import { readRunWindows, type ClusterRunResult } from './scaling.js';
import type { Summary } from './stats.js';
import type { ModelName } from '../shared/models/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Run directories of the training runs under way, removed by the signal handler as well. */
const runDirs = new Set<string>();
const PORT = 29600;

/** The ring's measurement as on loopback (worlds = worker counts, one host each besides the coordinator's), plus the rates and the training. */
export interface HostsBenchArgs extends Omit<AllReduceBenchArgs, 'glooWorlds' | 'transports'> {
  /** Link rates to shape every host's link to, Gbit/s. */
  ratesGbit: number[];
  /** Training: model, gradient bytes per collective (D, G + statistics), steps per window, timed windows. */
  model: ModelName;
  payloadBytes: number[];
  window: number;
  windows: number;
}

export interface HostsRingRow {
  world: number;
  bytes: number;
  timeMs: Summary;
  busbwGBs: Summary;
  /** busbw median / the shaped rate (null on unshaped links). */
  ofLinkRate: number | null;
}

/**
 * The step predicted for a shaped rate: what the run measured outside the all-reduce, plus the
 * larger of the link's time for the step's all-reduces (the cost model with the unshaped fit's α and
 * B = the link rate) and the CPU's (the all-reduce time of the same N on unshaped links, where the
 * link is never what limits). ms; error = (predicted − measured) / measured.
 */
export interface HostsPrediction {
  linkMs: number;
  cpuMs: number;
  predictedMs: number;
  error: number;
}

export interface HostsTrainRow {
  workers: number;
  stepMs: Summary;
  parts: ClusterRunResult['parts'];
  wallSeconds: number;
  /** Shaped rates only. */
  prediction?: HostsPrediction;
}

export interface HostsRate {
  /** null: links left unshaped (the CPU-bound baseline). */
  linkGbit: number | null;
  link: LinkRow[];
  rings: HostsRingRow[];
  /**
   * 2 hosts × 2 ranks (ranks 0, 1 on host 1; 2, 3 on host 2), every payload: the flat ring (TCP on
   * every link) against the default data plane (hierarchical: shared memory inside each host, TCP between).
   */
  twoByTwo: { bytes: number; flatMs: Summary; hostAwareMs: Summary }[];
  fit?: { alphaUs: number; bandwidthGBs: number; ofLinkRate: number | null };
  fitError?: string;
  training: HostsTrainRow[];
}

/** One training run across the hosts: coordinator on host 0, workers on hosts 1…n. */
async function trainAcross(vh: VirtualHosts, n: number, a: HostsBenchArgs): Promise<ClusterRunResult> {
  const dir = await mkdtemp(join(tmpdir(), 'gan-hosts-'));
  runDirs.add(dir);
  const steps = a.window * (a.windows + 1);
  // Weak scaling, as the cost model's projections assume: every worker keeps a batch of 64.
  const batch = 64 * n;
  const train = ['--model', a.model, '--backend', 'wasm', '--batch-size', String(batch), '--limit', String(steps * batch), '--epochs', '1', '--log-every', String(a.window), '--progress', 'off'];
  const env = { ...process.env, OPENBLAS_NUM_THREADS: '1' };
  const entry = (f: string) => join(ROOT, f);
  const exits: Promise<void>[] = [];
  const t0 = performance.now();
  const start = (host: number, file: string, args: string[], what: string) => {
    const child = vh.spawn(vh.hosts[host], process.execPath, ['--import=tsx', entry(file), ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()).length > 1e5 && (err = err.slice(-5e4)));
    const exit = new Promise<void>((resolve, reject) =>
      child.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${what} on host ${host} exited with ${code ?? signal}: ${err.trim().split('\n').filter((l) => !/nodedir/.test(l)).pop() ?? ''}`)))),
    );
    exits.push(exit);
    return { exit, stderr: () => err };
  };
  try {
    const coord = start(0, 'src/coordinator/main.ts', ['--workers', String(n), '--bind', vh.hosts[0].addr, '--port', String(PORT), '--token-file', join(dir, 'token'), '--metrics-port', '0', '--run-dir', join(dir, 'run'), ...train], 'the coordinator');
    // The token file exists once the coordinator prints its join line; then each host gets its copy.
    const joinLine = Date.now() + 60_000;
    while (!/workers join with/.test(coord.stderr())) {
      if (Date.now() > joinLine) throw new Error(`the coordinator printed no join line within 60 s: ${coord.stderr().slice(-300)}`);
      await Promise.race([coord.exit, new Promise((r) => setTimeout(r, 100))]);
    }
    for (let h = 1; h <= n; h++) {
      await copyFile(join(dir, 'token'), join(dir, `token.h${h}`));
      start(h, 'src/worker/main.ts', ['--coordinator', `tcp://${vh.hosts[0].addr}:${PORT}`, '--rank', String(h - 1), '--bind', vh.hosts[h].addr, '--token-file', join(dir, `token.h${h}`), ...train], 'a worker');
    }
    const deadline = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`training on ${n} hosts did not finish within ${Math.round(a.timeoutMs / 1000)} s`)), a.timeoutMs).unref());
    await Promise.race([Promise.all(exits), deadline]);
    return await readRunWindows(join(dir, 'run'), { model: a.model, workers: n, batch }, (performance.now() - t0) / 1000);
  } finally {
    await vh.killAll();
    await rm(dir, { recursive: true, force: true });
    runDirs.delete(dir);
  }
}

/** What links of `linkGbit` (unshaped when null) carry: the stream, the ring at every N, the fit, and training at every N. */
async function measureRate(linkGbit: number | null, a: HostsBenchArgs, log: (l: string) => void, onHosts: (vh: VirtualHosts | undefined) => void): Promise<HostsRate> {
  const maxWorld = Math.max(...a.worlds);
  const vh = await VirtualHosts.create(maxWorld + 1, linkGbit ?? undefined);
  onHosts(vh);
  const label = linkGbit === null ? 'unshaped' : `${linkGbit} Gbit/s`;
  try {
    const place = (i: number) => ({ ns: vh.hosts[i].ns, addr: vh.hosts[i].addr });
    log(`hosts: ${label} links, namespaces ${[...vh.hosts.map((h) => h.ns), vh.hub].join(' ')}`);
    log(`hosts: ${label}, TCP stream between two hosts`);
    const link = await measureLink(a.sizes, a.warmup, a.repeats, a.timeoutMs, [place(1), place(2)]);
    const ofRate = (GBs: number) => (linkGbit === null ? null : GBs / (linkGbit / 8));
    const ringArgs: AllReduceBenchArgs = { ...a, glooWorlds: [], transports: ['tcp'] };
    const rings: HostsRingRow[] = [];
    for (const world of a.worlds) {
      log(`hosts: ${label}, ring all-reduce over ${world} hosts`);
      const times = await measureRing(ringArgs, world, 'tcp', Array.from({ length: world }, (_, r) => place(r + 1)));
      a.sizes.forEach((bytes, i) => {
        const busbwGBs = busbw(times[i], bytes, world);
        rings.push({ world, bytes, timeMs: times[i], busbwGBs, ofLinkRate: ofRate(busbwGBs.median) });
      });
    }
    const twoByTwo: HostsRate['twoByTwo'] = [];
    if (vh.hosts.length >= 3) {
      const placement = [1, 1, 2, 2].map(place);
      log(`hosts: ${label}, 2 hosts × 2 ranks, the flat TCP ring`);
      const flat = await measureRing({ ...a, glooWorlds: [], transports: ['tcp'] }, 4, 'tcp', placement);
      log(`hosts: ${label}, 2 hosts × 2 ranks, hierarchical (shared memory inside each host, TCP between)`);
      const aware = await measureRing({ ...a, glooWorlds: [], transports: ['auto'] }, 4, 'auto', placement);
      a.sizes.forEach((bytes, i) => twoByTwo.push({ bytes, flatMs: flat[i], hostAwareMs: aware[i] }));
    }
    const out: HostsRate = { linkGbit, link, rings, twoByTwo, training: [] };
    try {
      const fit = fitAllReduce(rings.map((r) => ({ world: r.world, bytes: r.bytes, seconds: r.timeMs.median / 1000 })));
      out.fit = { alphaUs: fit.alphaSec * 1e6, bandwidthGBs: fit.bandwidthBytesPerSec / 1e9, ofLinkRate: ofRate(fit.bandwidthBytesPerSec / 1e9) };
    } catch (err) {
      out.fitError = (err as Error).message;
    }
    for (const n of a.worlds) {
      log(`hosts: ${label}, training ${a.model} on ${n} worker hosts, ${a.window * (a.windows + 1)} steps`);
      const r = await trainAcross(vh, n, a);
      out.training.push({ workers: n, stepMs: r.stepMs, parts: r.parts, wallSeconds: r.wallSeconds });
    }
    return out;
  } finally {
    await vh.destroy();
    onHosts(undefined);
  }
}

/** Each shaped rate's training rows get the step the model predicts (see HostsPrediction). */
export function predictSteps(unshaped: HostsRate, shaped: HostsRate, payloadBytes: number[]): void {
  if (shaped.linkGbit === null) return;
  const link = { alphaSec: (unshaped.fit?.alphaUs ?? 0) / 1e6, bandwidthBytesPerSec: (shaped.linkGbit / 8) * 1e9 };
  for (const row of shaped.training) {
    const linkMs = 1000 * payloadBytes.reduce((s, b) => s + allReduceSeconds(link, row.workers, b), 0);
    const cpuMs = unshaped.training.find((u) => u.workers === row.workers)?.parts.reduceMs ?? 0;
    const predictedMs = row.stepMs.median - row.parts.reduceMs + Math.max(linkMs, cpuMs);
    row.prediction = { linkMs, cpuMs, predictedMs, error: (predictedMs - row.stepMs.median) / row.stepMs.median };
  }
}

/**
 * Unshaped links, then every rate in turn, each on fresh namespaces. A SIGINT or SIGTERM during the section removes the
 * namespaces and processes of the rate being measured before the bench exits (128 + signal).
 */
export async function hostsBench(a: HostsBenchArgs, log: (l: string) => void): Promise<HostsRate[]> {
  let current: VirtualHosts | undefined;
  let stopping = false;
  // `on`, not `once`: npm relays a Ctrl-C to its child, so the same stop can arrive twice within
  // milliseconds, and a second delivery must not find the default action (exit with everything left).
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log(`hosts: ${sig}: removing the namespaces`);
    // The processes first (they may be writing a checkpoint into a run directory), then their directories.
    void (async () => {
      await current?.destroy().catch(() => undefined);
      await Promise.allSettled([...runDirs].map((d) => rm(d, { recursive: true, force: true })));
    })().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  try {
    // Unshaped first: the CPU-bound baseline every shaped rate's prediction uses.
    const unshaped = await measureRate(null, a, log, (vh) => (current = vh));
    const out: HostsRate[] = [unshaped];
    for (const rate of a.ratesGbit) {
      const shaped = await measureRate(rate, a, log, (vh) => (current = vh));
      predictSteps(unshaped, shaped, a.payloadBytes);
      out.push(shaped);
    }
    return out;
  } finally {
    if (!stopping) process.off('SIGINT', onSignal).off('SIGTERM', onSignal); // a stop under way keeps its handler until it exits
  }
}
