/**
 * A shared-memory ring region of the data plane (shm-transport.ts runs the protocol over it): its
 * layout, its name and endpoint, the host key that says who can map it, and the clean-up of
 * regions dead processes left.
 *
 * Layout of /dev/shm/gan-ring-<pid>-<nonce> (mode 0600, O_EXCL), owned by the rank that reads it:
 *   words 0..15   control (W_*): magic, owner pid, writer pid, capacity, the two futex doorbells,
 *                 head (bytes published, written by the writer), tail (bytes released, by the
 *                 reader), closed flag, both PID namespaces, a 16-byte MAC of the name under the
 *                 run's secret
 *   64 …          a byte ring of `capacity` (a power of two) bytes holding records, 64-aligned:
 *                 32-byte header (i32 LE: kind, payload bytes, seq, phase, step, chunk, n, 0) and
 *                 the payload; kind WRAP marks the unused end of the ring before a record at 0.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { SharedMapping, SHM_DIR } from './shm-memory.js';

export const MAGIC = 0x47414e52; // 'GANR'
export const W_MAGIC = 0;
export const W_OWNER_PID = 1;
export const W_WRITER_PID = 2;
export const W_CAPACITY = 3;
/** Futex word the reader waits on; the writer bumps it after publishing. */
export const W_DATA_BELL = 4;
/** Futex word the writer waits on; the reader bumps it after releasing. */
export const W_SPACE_BELL = 5;
export const W_HEAD = 6;
export const W_TAIL = 7;
export const W_CLOSED = 8;
/** The owner's and the writer's PID namespaces (a hash): a pid is checked for life only within our own. */
export const W_OWNER_PIDNS = 9;
export const W_WRITER_PIDNS = 10;
export const W_MAC = 12; // 4 words
export const MAC_OFFSET_BYTES = W_MAC * 4;
export const DATA_OFFSET = 64;
export const HEADER_BYTES = 32;
export const KIND_MESSAGE = 1;
export const KIND_WRAP = 2;
export const PREFIX = 'gan-ring-';
/** `shm://<region name>/<host key>`: the host key says which ranks can map the region (hostKey()). */
export const ENDPOINT = /^shm:\/\/(gan-ring-\d+-[0-9a-f]{16})\/([0-9a-f]{16})$/;

/**
 * Which processes share this one's memory: a hash of the kernel's boot id (one per machine and
 * boot), /dev/shm's device (one per mount: containers on one machine each have their own) and the
 * address the ring binds (virtual hosts in network namespaces, src/bench/netns.ts, share the other
 * two). Two ranks whose endpoints carry the same key talk through shared memory.
 */
export function hostKey(bindHost: string): string {
  let boot = '';
  let dev = '';
  try {
    boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    dev = String(statSync(SHM_DIR).dev);
  } catch {
    boot = `${process.pid}-${randomBytes(8).toString('hex')}`; // unknown: a key no other process has
  }
  return createHash('sha256').update(`${boot}\0${dev}\0${bindHost}`).digest('hex').slice(0, 16);
}

/** The host key in a shared-memory endpoint, or undefined when `endpoint` is not one. */
export function endpointHostKey(endpoint: string): string | undefined {
  return ENDPOINT.exec(endpoint)?.[2];
}

export const align64 = (n: number) => (n + 63) & ~63;

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export function macOf(secret: Buffer | undefined, name: string): Buffer {
  return createHmac('sha256', secret ?? Buffer.alloc(0)).update(`shm-ring\0${name}`).digest().subarray(0, 16);
}

export function alive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * This process's PID namespace as a 31-bit hash of /proc/self/ns/pid's link: containers that share
 * /dev/shm (--ipc=host) may see each other's pids as numbers of another namespace, so a peer's pid
 * is only checked for life when both namespaces are one (otherwise the timeout bounds the wait).
 */
export const PID_NAMESPACE = (() => {
  try {
    return createHash('sha256').update(readlinkSync('/proc/self/ns/pid')).digest().readInt32LE(0) | 1;
  } catch {
    return 1;
  }
})();

/** Removes the regions that processes no longer alive left behind (killed between bind and connect). */
export function sweepStaleRegions(dir = SHM_DIR): number {
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  const uid = process.getuid?.();
  for (const name of names) {
    const m = /^gan-ring-(\d+)-[0-9a-f]{16}$/.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    try {
      if (uid !== undefined && statSync(join(dir, name)).uid !== uid) continue;
      unlinkSync(join(dir, name));
      removed++;
    } catch {
      // gone meanwhile, or not ours
    }
  }
  return removed;
}

/**
 * Ring capacity for payloads of at most `maxPayloadBytes`: at least 16 MiB, so that a whole
 * all-reduce of the models' buffers at N = 2 (each rank writes L/2 of reduce-scatter and L/2 of
 * all-gather into its neighbour's ring: 9.4 MB for the MLP's) rarely waits for room. Measured, 9.4 MB
 * at N = 2, three alternating runs: 16 MiB 3.47 / 2.79 / 3.80 ms, 8 MiB 4.44 / 3.26 / 3.94 ms.
 */
export function ringCapacity(maxPayloadBytes: number): number {
  return nextPow2(Math.max(16 << 20, 4 * align64(HEADER_BYTES + maxPayloadBytes)));
}

export interface RingRecord {
  end: number;
  released: boolean;
}

/** One direction of a link: a region, as its reader or its writer sees it. */
export class Link {
  readonly w: Int32Array;
  readonly u8: Uint8Array;
  readonly cap: number;
  constructor(readonly map: SharedMapping) {
    this.w = map.words;
    this.u8 = new Uint8Array(map.bytes);
    this.cap = this.w[W_CAPACITY];
  }
  peerClosed(): boolean {
    return Atomics.load(this.w, W_CLOSED) !== 0;
  }
}

