/**
 * The ring's links chosen per neighbour: shared memory (shm-transport.ts) to a neighbour on this
 * host, the socket transport (TCP, or ZeroMQ under CurveZMQ) to one on another host. This is
 * `--data-plane auto`, the default: a ring of workers on one machine never touches the kernel's
 * network stack, and a ring over several machines crosses the network only between hosts where a
 * host's ranks are consecutive (the launcher's local workers are). Hosts of equal size go further:
 * ring.ts then runs hierarchical.ts over this transport's two halves (`socket`, `shm`).
 *
 * Endpoint: `<socket endpoint>+<shm endpoint>` (the shm part is absent when this rank offers
 * none). Link r → r+1 is shared memory exactly when both ranks' endpoints carry a shm part with the
 * same host key (shm-transport.ts hostKey): both ends derive the same answer from the same list, so
 * no message is needed to agree. The socket transport is joined as before on every link (its
 * connections to same-host neighbours stay idle): a failure on either wire fails the collective.
 *
 * A payload received on one kind of link and forwarded on the other is handed across with care:
 * a view of the shared ring is copied before a socket gets it (the ring's room is released at once),
 * and a socket's pooled buffer goes back to the socket once the shared ring has copied it.
 */
import { ShmTransport, endpointHostKey } from './shm-transport.js';
import type { RingStats, Slot, WireTransport } from './transport.js';

/** A rank's endpoint in its two parts (the format above): the socket's, and the shared-memory region's or ''. */
export function splitEndpoint(endpoint: string): { socket: string; shm: string } {
  const [socket, shm] = endpoint.split('+');
  return { socket, shm: shm ?? '' };
}

export class HostTransport implements WireTransport {
  readonly stats: RingStats;
  /** Which links are shared memory, known after connect. */
  shmLeft = false;
  shmRight = false;
  private joined = false;

  constructor(
    /** The socket transport (TCP or ZeroMQ): links to other hosts, and the cross-host ring of hierarchical.ts. */
    readonly socket: WireTransport,
    /** This rank's shared-memory transport: links to neighbours of this host, and the local ring of hierarchical.ts. */
    readonly shm: ShmTransport,
  ) {
    shm.afterCopy = (payload) => socket.release?.(payload);
    const sum = (k: keyof RingStats) => () => socket.stats[k] + shm.stats[k];
    const s = {} as RingStats;
    for (const k of Object.keys(socket.stats) as (keyof RingStats)[]) {
      if (k === 'collectives' || k === 'lastDurationMs') Object.defineProperty(s, k, { get: () => socket.stats[k], set: (v: number) => (socket.stats[k] = v), enumerable: true });
      else Object.defineProperty(s, k, { get: sum(k), enumerable: true });
    }
    this.stats = s;
  }

  get rank(): number {
    return this.socket.rank;
  }
  set rank(r: number) {
    this.socket.rank = r;
    this.shm.rank = r;
  }
  get world(): number {
    return this.socket.world;
  }
  set world(w: number) {
    this.socket.world = w;
    this.shm.world = w;
  }
  get flushMeansSent(): boolean {
    return this.socket.flushMeansSent && this.shm.flushMeansSent;
  }
  get endpoint(): string {
    return `${this.socket.endpoint}+${this.shm.endpoint}`;
  }
  get connected(): boolean {
    return this.joined && this.socket.connected && (!this.shmRight || this.shm.connected);
  }

  /** Splits every peer's endpoint; joins the sockets, and maps the right neighbour's region when that link is shared memory. */
  connect(peers: readonly string[]): void {
    const parts = peers.map((p) => {
      const { socket, shm } = splitEndpoint(p);
      return { socket, shm, key: endpointHostKey(shm) };
    });
    const same = (a: number, b: number) => parts[a].key !== undefined && parts[a].key === parts[b].key;
    const r = this.rank;
    const N = this.world;
    this.shmRight = same(r, (r + 1) % N);
    this.shmLeft = same(r, (r - 1 + N) % N);
    this.socket.connect(parts.map((p) => p.socket));
    if (this.shmRight) this.shm.openRight(parts[(r + 1) % N].shm);
    if (!this.shmLeft) this.shm.unlinkInbound();
    this.joined = true;
  }

  send(slot: Slot, payload: Uint8Array): void {
    if (this.shmRight) return this.shm.send(slot, payload);
    if (this.shm.owns(payload)) {
      // A view of our shared ring going out on a socket: copy it, so its room is free now.
      const copy = this.socket.allocate?.(payload.byteLength) ?? Buffer.allocUnsafeSlow(payload.byteLength);
      copy.set(payload);
      this.shm.release(payload);
      payload = copy;
    }
    this.socket.send(slot, payload);
  }

  receive(slot: Slot, bytes: number): Promise<Uint8Array> {
    return this.shmLeft ? this.shm.receive(slot, bytes) : this.socket.receive(slot, bytes);
  }

  release(payload: Uint8Array): void {
    if (this.shm.owns(payload)) this.shm.release(payload);
    else this.socket.release?.(payload);
  }

  allocate(bytes: number): Uint8Array {
    return this.socket.allocate?.(bytes) ?? Buffer.allocUnsafeSlow(bytes);
  }

  async flush(): Promise<void> {
    await Promise.all([this.socket.flush(), this.shm.flush()]);
  }

  close(): void {
    this.shm.close();
    this.socket.close();
  }
}
