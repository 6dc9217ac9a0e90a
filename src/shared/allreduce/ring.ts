/**
 * Ring collectives between workers: the data plane's front door. It averages (or gathers, or
 * broadcasts) Float32Arrays in place and knows nothing of models or TensorFlow.
 *
 * The data plane in parts, as Horovod's ops/ or DDP's comm hooks:
 *   tcp-transport.ts  plain TCP (node:net): framing, send queue, "receive the expected message",
 *                     timeouts; the wire format and the threat model are described there
 *   zmq-transport.ts  the same over ZeroMQ PUSH/PULL, used when CurveZMQ encrypts the ring
 *   header.ts         the header both transports put before a payload, and its MAC
 *   schedule.ts       reduce-scatter, all-gather, all-reduce, broadcast over a `Transport`
 *                     (transport.ts); the order of additions and the cost model are described there
 *   codec.ts          what a chunk is on the wire: float32 as is, or fp16 (fp16.ts)
 * This file joins them: it binds the transport (before ranks are dealt, as a worker must), numbers
 * the collectives, keeps the stats and makes an instance unusable after any failure.
 *
 * Failure: every receive waits at most `timeoutMs` for the expected message (rogue messages do not
 * extend the wait), every send at most `timeoutMs` to be queued; then the collective rejects with
 * an AllReduceTimeoutError naming the rank waited on. After any failed collective the instance is
 * unusable (the buffer is half-reduced and the peers' positions in the protocol are unknown): every
 * later call rejects; close it and rebuild the ring.
 *
 * All ranks must use the same world, run, secret, chunkBytes and compression (the coordinator hands
 * them out), call the same collectives in the same order on buffers of the same length, and run on
 * little-endian hosts.
 */
import { endianness } from 'node:os';
import { codecFor, FLOAT32, type Compression } from './codec.js';
import { allGather, allReduceMean, broadcast, ownedSegment, reduceScatterMean, reduceScatterUpdateGather, segmentBounds, type CollectiveArgs, type OwnedUpdate } from './schedule.js';
export type { OwnedUpdate } from './schedule.js';
import { HierarchicalPlane, hostLayout } from './hierarchical.js';
import { HostTransport } from './host-transport.js';
import { shmAvailable } from './shm-memory.js';
import { ShmTransport } from './shm-transport.js';
import { TcpTransport } from './tcp-transport.js';
import { AllReduceError, emptyRingStats, type RingStats, type WireTransport } from './transport.js';
import { ZmqTransport, type RingCurve } from './zmq-transport.js';

export type { Compression } from './codec.js';
export { ownedSegment, segmentBounds } from './schedule.js';
export { AllReduceError, AllReduceTimeoutError, type RingPhase } from './transport.js';
export type { RingStats } from './transport.js';
export type { RingCurve } from './zmq-transport.js';

/**
 * The wire under the ring: 'tcp' (tcp-transport.ts) unless CurveZMQ is on, which needs 'zmq'
 * (zmq-transport.ts); 'shm' (shm-transport.ts) when every rank is on this host and every link is
 * shared memory. Every rank of a ring must use the same one. With `RingArgs.shm`, a socket ring
 * runs its links between ranks of one host in shared memory (host-transport.ts).
 */
export type RingTransportKind = 'tcp' | 'zmq' | 'shm';

/**
 * `--data-plane`: 'auto' = shared memory between ranks of one host, sockets between hosts; 'shm' =
 * the same, and every link must be shared memory (one host); 'tcp' / 'zmq' = sockets only.
 */
export type DataPlane = 'auto' | 'shm' | 'tcp' | 'zmq';

/**
 * The collectives of a sharded optimizer step (ZeRO stage 1), as the replica sees them
 * (replica.ts): it knows nothing of sockets. `RingAllReduce.asShardedReducer` makes one.
 */
export interface ShardedReducer {
  readonly kind: 'sharded';
  /** Number of ranks. */
  readonly world: number;
  /** The `world + 1` bounds of the segments of a buffer of `length` floats: segment k is [b[k], b[k+1]). */
  segmentBounds(length: number): number[];
  /** The range [lo, hi) of a buffer of `length` floats this rank owns (updates) in `reduceUpdateGather`. */
  ownedRange(length: number): [number, number];
  /**
   * Reduce-scatters `buf` (mean; through the gradient codec), calls `owned.check(lo, hi)` on the
   * pieces of the owned range as they are reduced, agrees with every rank on the verdict, and only
   * when every rank's checks passed calls `owned.update(lo, hi)` on pieces of the owned range, in
   * order, each once (it rewrites that piece and nothing else), then all-gathers the owned ranges
   * as float32: every rank ends with every owner's bits. Resolves to the verdict, the same on every
   * rank (false: nothing updated, nothing gathered). See schedule.ts reduceScatterUpdateGather.
   */
  reduceUpdateGather(buf: Float32Array, owned: OwnedUpdate): Promise<boolean>;
  /** Copies each rank's owned range of `buf` to every rank, as float32 (bits unchanged). */
  allGather(buf: Float32Array): Promise<void>;
}

export interface RingArgs {
  rank: number;
  world: number;
  /** Run id put in (and checked on) every header. Default ''. */
  run?: string;
  /** Shared secret for header MACs; without it headers carry no mac and none is checked. */
  secret?: Buffer;
  /** Interface the receive socket binds on. Default 127.0.0.1. */
  bindHost?: string;
  /** Host written into `.endpoint` when it differs from bindHost (e.g. bind 0.0.0.0, advertise an IP). */
  advertiseHost?: string;
  /** Longest wait for one expected message (or to queue one send), ms. Default 30 000. */
  timeoutMs?: number;
  /** Largest payload of one message on the wire, bytes (multiple of 4). Default DEFAULT_CHUNK_BYTES. */
  chunkBytes?: number;
  /** Payload encoding of all-reduce chunks. Default 'none'. Broadcasts are always raw bytes. */
  compression?: Compression;
  /** CurveZMQ keys: the ring then runs over ZeroMQ with every frame encrypted. */
  curve?: RingCurve;
  /** Default: 'zmq' with `curve`, else 'tcp'. */
  transport?: RingTransportKind;
  /**
   * With a socket transport: offer shared memory too, used on the links to neighbours of this host
   * (host-transport.ts). Ignored where shared memory is not available (not Linux, no koffi).
   */
  shm?: boolean;
  /**
   * With `shm`: when the ranks form ≥ 2 hosts of equal size ≥ 2 (each host's ranks consecutive),
   * reduce inside each host first and run rings between hosts only (hierarchical.ts).
   */
  hierarchical?: boolean;
}

/**
 * Default largest payload per message, bytes. 1 MiB: a 9.4 MB all-reduce at N = 2 still has 5
 * chunks per segment to pipeline, and each message costs a header, a MAC, a wake-up of the
 * receiving thread and a buffer from ZeroMQ, so fewer messages cost less (256 KiB before).
 */
export const DEFAULT_CHUNK_BYTES = 1024 * 1024;

export class RingAllReduce {
  /** This rank; fixed at bind, or by `assign` for a ring bound before ranks were dealt. */
  rank: number;
  world: number;
  private assigned = true;
  /** The wire under this ring; undefined when world = 1 (no sockets). */
  readonly transportKind?: RingTransportKind;
  /** `tcp://host:port` of this rank's receive socket; '' when world = 1 (no sockets). */
  readonly endpoint: string;
  readonly stats: RingStats;

  private readonly chunkBytes: number;
  private readonly compression: Compression;
  private seq = 0;
  /** Set at connect when the ranks span several hosts of equal size (hierarchical.ts). */
  private hier?: HierarchicalPlane;
  private readonly hierarchical: boolean;
  private busy = false;
  private closed = false;
  private failure?: Error;

  private constructor(
    args: RingArgs,
    private readonly transport: WireTransport | undefined,
    kind?: RingTransportKind,
  ) {
    this.transportKind = kind;
    this.rank = args.rank;
    this.world = args.world;
    this.chunkBytes = args.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.compression = args.compression ?? 'none';
    this.hierarchical = args.hierarchical === true;
    this.endpoint = transport?.endpoint ?? '';
    this.stats = transport?.stats ?? emptyRingStats();
    if (transport) {
      transport.rank = this.rank;
      transport.world = this.world;
    }
  }

  /** Creates this rank's receive socket, bound on a free port of args.bindHost (none for world = 1). */
  static async bind(args: RingArgs): Promise<RingAllReduce> {
    const { rank, world } = args;
    if (!Number.isInteger(world) || world < 1) throw new RangeError(`ring: world must be an integer ≥ 1, got ${world}`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= world) throw new RangeError(`ring: rank must be in [0, ${world}), got ${rank}`);
    const chunkBytes = args.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    if (!Number.isInteger(chunkBytes) || chunkBytes < 4 || chunkBytes % 4 !== 0) throw new RangeError(`ring: chunkBytes must be a positive multiple of 4, got ${chunkBytes}`);
    const timeoutMs = args.timeoutMs ?? 30_000;
    if (!(timeoutMs > 0)) throw new RangeError(`ring: timeoutMs must be > 0, got ${timeoutMs}`);
    if (args.compression !== undefined) codecFor(args.compression);
    if (endianness() !== 'LE') throw new AllReduceError('ring: the wire format is little-endian; this host is big-endian');
    if (world === 1) return new RingAllReduce(args, undefined);
    const kind = args.transport ?? (args.curve ? 'zmq' : 'tcp');
    if (kind === 'tcp' && args.curve) throw new AllReduceError('ring: CurveZMQ needs the zmq transport');
    const common = { run: args.run, secret: args.secret, bindHost: args.bindHost, advertiseHost: args.advertiseHost, timeoutMs, maxPayloadBytes: chunkBytes };
    if (kind === 'shm' && args.curve) throw new AllReduceError('ring: CurveZMQ encrypts sockets; shared memory has none (use the zmq transport)');
    if (kind === 'shm') return new RingAllReduce(args, ShmTransport.bind(common), kind);
    const socket = kind === 'zmq' ? await ZmqTransport.bind({ ...common, curve: args.curve }) : await TcpTransport.bind(common);
    return new RingAllReduce(args, args.shm && shmAvailable() ? new HostTransport(socket, ShmTransport.bind(common)) : socket, kind);
  }

  /**
   * Binds the receive socket before this process knows its rank: a worker has to tell the
   * coordinator where it listens before the coordinator deals the ranks. Call `assign` before
   * `connect`.
   */
  static async bindUnassigned(args: Omit<RingArgs, 'rank' | 'world'>): Promise<RingAllReduce> {
    const ring = await RingAllReduce.bind({ ...args, rank: 0, world: 2 });
    ring.assigned = false;
    return ring;
  }

  /** Sets the rank and world of a ring made by `bindUnassigned` (once, before `connect`). */
  assign(rank: number, world: number): void {
    if (this.assigned) throw new AllReduceError('ring: rank and world are already set');
    if (!Number.isInteger(world) || world < 1) throw new RangeError(`ring: world must be an integer ≥ 1, got ${world}`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= world) throw new RangeError(`ring: rank must be in [0, ${world}), got ${rank}`);
    this.rank = rank;
    this.world = world;
    this.assigned = true;
    if (this.transport) {
      this.transport.rank = rank;
      this.transport.world = world;
    }
  }

  /**
   * Joins the ring: `peers[k]` is rank k's endpoint (every rank's, so each transport can pick its
   * neighbours: TCP reads from the left one, ZeroMQ pushes to the right one). No-op for world = 1.
   */
  async connect(peers: readonly string[]): Promise<void> {
    if (!this.assigned) throw new AllReduceError('ring: assign() the rank before connect()');
    if (this.world === 1) return;
    if (this.closed) throw new AllReduceError('ring: closed');
    const t = this.transport!;
    const layout = this.hierarchical && t instanceof HostTransport ? hostLayout(peers) : undefined;
    if (layout && t instanceof HostTransport) {
      this.hier = new HierarchicalPlane(t.shm, t.socket, this.rank, layout.hosts, layout.perHost);
      this.hier.connect(peers);
      return;
    }
    t.connect(peers);
  }

  /**
   * What carries this rank's two links once connected: 'shm' (both shared memory), the socket
   * transport's kind (both sockets), or e.g. 'shm from rank 1, tcp to rank 3'.
   */
  get links(): string {
    const t = this.transport;
    if (!t) return 'none (one rank)';
    if (this.hier) return `hierarchical: shm inside each host (${this.hier.perHost} ranks), ${this.transportKind} between ${this.hier.hosts} hosts`;
    if (!(t instanceof HostTransport)) return this.transportKind!;
    const sock = this.transportKind!;
    if (t.shmLeft === t.shmRight) return t.shmLeft ? 'shm' : sock;
    const left = (this.rank - 1 + this.world) % this.world;
    const right = (this.rank + 1) % this.world;
    return `${t.shmLeft ? 'shm' : sock} from rank ${left}, ${t.shmRight ? 'shm' : sock} to rank ${right}`;
  }

  /** The next collective's seq. */
  get nextSeq(): number {
    return this.seq;
  }

  /** The range [lo, hi) of a buffer of `length` floats that this rank owns after `reduceScatterMean`. */
  ownedRange(length: number): [number, number] {
    if (this.hier) return this.hier.ownedRange(length);
    const b = segmentBounds(length, this.world);
    const k = ownedSegment(this.rank, this.world);
    return [b[k], b[k + 1]];
  }

  /** `allReduceMean` as a function (structurally a GradientReducer: the network tag is ignored). */
  asReducer(): (buffer: Float32Array) => Promise<void> {
    return (buffer) => this.allReduceMean(buffer);
  }

  /**
   * The sharded optimizer's collectives over this ring (see ShardedReducer). The reduce-scatter
   * uses the ring's compression; the all-gather carries parameters, so it is always float32.
   */
  asShardedReducer(): ShardedReducer {
    const ring = this;
    return {
      kind: 'sharded',
      get world() {
        return ring.world;
      },
      segmentBounds: (length) => this.hier?.segmentBounds(length) ?? segmentBounds(length, this.world),
      ownedRange: (length) => this.ownedRange(length),
      reduceUpdateGather: (buf, owned) => this.reduceUpdateGather(buf, owned),
      allGather: (buf) => this.allGather(buf, 'none'),
    };
  }

  /**
   * Reduce-scatter (mean, with the ring's compression), the owned range checked, the verdict agreed,
   * `owned.update` on its pieces (each sent on as it is done), all-gather as float32; one collective
   * (one seq). See ShardedReducer.reduceUpdateGather. With world = 1 only `owned` runs, on the whole buffer.
   */
  async reduceUpdateGather(buf: Float32Array, owned: OwnedUpdate): Promise<boolean> {
    if (this.world === 1) {
      await this.collective(async () => undefined);
      if (!owned.check(0, buf.length)) return false;
      owned.update(0, buf.length);
      return true;
    }
    let ok = false;
    await this.collective(async (a) => {
      const ag = { ...a, codec: FLOAT32 };
      ok = this.hier ? await this.hier.reduceUpdateGather(buf, a, ag, owned) : await reduceScatterUpdateGather(this.transport!, buf, a, ag, owned);
    });
    return ok;
  }

  /**
   * Replaces `buf` by the element-wise mean of every rank's `buf`, bit-identical on every rank.
   * All ranks must pass buffers of the same length. Identity for world = 1.
   */
  allReduceMean(buf: Float32Array): Promise<void> {
    return this.collective((a) => (this.hier ? this.hier.allReduceMean(buf, a) : allReduceMean(this.transport!, buf, a)));
  }

  /**
   * Leaves in `buf[ownedRange(buf.length)]` the mean over ranks of that range (rounded through the
   * codec); the rest of `buf` holds partial sums. With `allGather` after it, the same result as
   * `allReduceMean` (which overlaps the two).
   */
  reduceScatterMean(buf: Float32Array, compression: Compression = this.compression): Promise<void> {
    if (this.hier) return Promise.reject(new AllReduceError('ring: a lone reduce-scatter is not offered across hosts (use reduceUpdateGather or allReduceMean)'));
    return this.collective((a) => reduceScatterMean(this.transport!, buf, a), compression);
  }

  /** Copies every rank's `buf[ownedRange(buf.length)]` into every rank's `buf` (through the codec). */
  allGather(buf: Float32Array, compression: Compression = this.compression): Promise<void> {
    return this.collective((a) => (this.hier ? this.hier.allGather(buf, a) : allGather(this.transport!, buf, a)), compression);
  }

  /** Copies root's bytes of `buf` into every rank's `buf` (same byte length on all ranks). */
  broadcast(buf: Float32Array | Uint8Array, root = 0): Promise<void> {
    if (!Number.isInteger(root) || root < 0 || root >= this.world) return Promise.reject(new RangeError(`ring: root must be in [0, ${this.world}), got ${root}`));
    const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    return this.collective((a) => (this.hier ? this.hier.broadcast(bytes, root, a.seq, this.chunkBytes) : broadcast(this.transport!, bytes, root, a.seq, this.chunkBytes)));
  }

  /** Closes both sockets; idempotent. A collective in progress rejects. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.transport?.close();
  }

  // ---------------------------------------------------------------------------------------------

  private async collective(body: (a: CollectiveArgs) => Promise<void>, compression: Compression = this.compression): Promise<void> {
    if (this.closed) throw new AllReduceError('ring: closed');
    if (this.failure) throw new AllReduceError(`ring: unusable after an earlier failure (${this.failure.message})`);
    if (this.busy) throw new AllReduceError('ring: a collective is already in progress on this instance');
    if (this.world > 1 && !(this.hier?.connected ?? this.transport?.connected)) throw new AllReduceError('ring: connect() first');
    const codec = codecFor(compression);
    this.busy = true;
    this.stats.collectives++;
    const seq = this.seq++;
    const t0 = performance.now();
    try {
      if (this.world > 1) {
        await body({ seq, codec, chunkBytes: this.chunkBytes });
        await (this.hier ? this.hier.flush() : this.transport!.flush());
      }
    } catch (e) {
      const err = e instanceof Error ? e : new AllReduceError(String(e));
      this.failure ??= err;
      throw err;
    } finally {
      this.busy = false;
    }
    this.stats.lastDurationMs = performance.now() - t0;
  }
}
