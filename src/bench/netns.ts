/**
 * Hosts on one machine: Linux network namespaces joined by veth pairs to a bridge that lives in a
 * namespace of its own, each "host" with its own address and, optionally, its link shaped with a
 * token bucket (`tc … tbf`, both directions). Processes started in a host see only its interface
 * and loopback, so a coordinator and workers talk as on separate machines: over the addresses we
 * created, never the root namespace's. Needs root (CI and sessions run as root); `netem` (added
 * latency) is not in this kernel, so links differ in rate only.
 *
 * Names carry the creating PID (`gvh<pid>…`), so leftovers of a crashed run are recognised and
 * removed by the next one; `destroy` removes everything, and is safe to call twice.
 */
import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { promisify } from 'node:util';
import { processAlive } from '../shared/proc.js';

const run = promisify(execFile);
const PREFIX = 'gvh';

export interface VirtualHost {
  index: number;
  /** Network namespace name. */
  ns: string;
  /** The host's address on the bridge (10.77.0.x/24). */
  addr: string;
  /** The host's interface (one end of its veth pair). */
  dev: string;
  /** The bridge-side end of its veth pair, in the hub namespace. */
  peer: string;
}

async function ip(...args: string[]): Promise<void> {
  try {
    await run('ip', args);
  } catch (err) {
    throw new Error(`ip ${args.join(' ')}: ${((err as { stderr?: string }).stderr ?? (err as Error).message).trim()}`);
  }
}

/** Namespaces of earlier runs whose creator is gone. */
async function staleNamespaces(): Promise<string[]> {
  const names = await readdir('/run/netns').catch(() => [] as string[]);
  return names.filter((n) => {
    const m = new RegExp(`^${PREFIX}(\\d+)`).exec(n);
    return m !== null && !processAlive(Number(m[1]));
  });
}

export class VirtualHosts {
  private readonly children = new Set<ChildProcess>();
  private destroyed = false;

  private constructor(readonly hosts: VirtualHost[], readonly hub: string) {}

  /** `count` hosts on one bridge; `rateGbit` shapes every link (both directions). */
  static async create(count: number, rateGbit?: number): Promise<VirtualHosts> {
    if (process.getuid?.() !== 0) throw new Error('network namespaces need root');
    for (const ns of await staleNamespaces()) await ip('netns', 'del', ns).catch(() => undefined);
    const id = `${PREFIX}${process.pid}x${Math.floor(Math.random() * 1e3)}`;
    const hub = `${id}hub`;
    const hosts: VirtualHost[] = Array.from({ length: count }, (_, i) => ({ index: i, ns: `${id}h${i}`, addr: `10.77.0.${i + 1}`, dev: `${PREFIX}${i}`, peer: `${PREFIX}p${i}` }));
    const vh = new VirtualHosts(hosts, hub);
    try {
      await ip('netns', 'add', hub);
      await ip('-n', hub, 'link', 'add', 'br0', 'type', 'bridge');
      await ip('-n', hub, 'link', 'set', 'br0', 'up');
      for (const h of hosts) {
        await ip('netns', 'add', h.ns);
        await ip('-n', h.ns, 'link', 'set', 'lo', 'up');
        // Created inside the host's namespace, the peer end moved to the hub: no name ever lives in the root namespace.
        await ip('-n', h.ns, 'link', 'add', h.dev, 'type', 'veth', 'peer', 'name', h.peer, 'netns', hub);
        await ip('-n', h.ns, 'addr', 'add', `${h.addr}/24`, 'dev', h.dev);
        await ip('-n', h.ns, 'link', 'set', h.dev, 'up');
        await ip('-n', hub, 'link', 'set', h.peer, 'master', 'br0');
        await ip('-n', hub, 'link', 'set', h.peer, 'up');
      }
      if (rateGbit !== undefined) await vh.shape(rateGbit);
    } catch (err) {
      await vh.destroy();
      throw err;
    }
    return vh;
  }

  /** Shapes every link to `rateGbit` in both directions (a token bucket on each veth end). */
  async shape(rateGbit: number): Promise<void> {
    const bytesPerSec = (rateGbit * 1e9) / 8;
    // Burst: 4 ms of traffic at the rate (at least 64 KiB), enough for the timer's granularity.
    const burst = Math.max(64 * 1024, Math.round(bytesPerSec * 0.004));
    for (const h of this.hosts) {
      for (const [ns, dev] of [[h.ns, h.dev], [this.hub, h.peer]]) {
        await run('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'replace', 'dev', dev, 'root', 'tbf', 'rate', `${Math.round(rateGbit * 1000)}mbit`, 'burst', String(burst), 'latency', '50ms']);
      }
    }
  }

  /** Takes a host's link down (a cut cable) or up again. */
  async setLink(host: VirtualHost, up: boolean): Promise<void> {
    await ip('-n', host.ns, 'link', 'set', host.dev, up ? 'up' : 'down');
  }

  /** Starts `command args` inside `host`; the process is killed by `destroy` if still running. */
  spawn(host: VirtualHost, command: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', host.ns, command, ...args], opts);
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Kills what it started (SIGKILL) and waits for each to exit; the namespaces stay. */
  async killAll(): Promise<void> {
    await Promise.all([...this.children].map((c) => new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    })));
  }

  /** Kills what it started and removes every namespace (and with them the interfaces and qdiscs). */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await this.killAll();
    for (const ns of [...this.hosts.map((h) => h.ns), this.hub]) await ip('netns', 'del', ns).catch(() => undefined);
  }

  /** The namespaces of this set that still exist (for tests of the cleanup). */
  async remaining(): Promise<string[]> {
    const names = new Set(await readdir('/run/netns').catch(() => [] as string[]));
    return [...this.hosts.map((h) => h.ns), this.hub].filter((n) => names.has(n));
  }
}
