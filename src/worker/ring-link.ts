/** The worker's view of the data plane: the ring all-reduce, bound before ranks are dealt. */
import { RingAllReduce, type Compression, type DataPlane, type RingCurve, type ShardedReducer } from '../shared/allreduce/ring.js';

/** What the worker uses of the ring. */
export interface Ring {
  readonly endpoint: string;
  /** Bytes this rank has sent so far (gradient traffic, for metrics). */
  readonly bytesSent: number;
  /** What carries this rank's links (after join): 'shm', 'tcp', 'zmq' or a mix (RingAllReduce.links). */
  readonly links: string;
  join(rank: number, world: number, peers: string[]): Promise<void>;
  allReduceMean(buf: Float32Array): Promise<void>;
  /** The sharded optimizer's collectives (reduce-scatter, update, all-gather) over this ring. */
  sharded(): ShardedReducer;
  broadcast(buf: Float32Array, root: number): Promise<void>;
  close(): void;
}

/** Options of `openRing`. */
export interface OpenRingArgs {
  bindHost: string;
  secret: Buffer;
  timeoutMs: number;
  compression: Compression;
  curve?: RingCurve;
  dataPlane: DataPlane;
}

export async function openRing(args: OpenRingArgs): Promise<Ring> {
  if (args.dataPlane === 'tcp' && args.curve) throw new Error('--data-plane tcp: CurveZMQ (--curve-keys) needs the zmq data plane (or auto)');
  const ring = await RingAllReduce.bindUnassigned({
    bindHost: args.bindHost, secret: args.secret, timeoutMs: args.timeoutMs, compression: args.compression, curve: args.curve,
    transport: args.curve || args.dataPlane === 'zmq' ? 'zmq' : 'tcp',
    shm: args.dataPlane === 'auto' || args.dataPlane === 'shm',
    hierarchical: args.dataPlane === 'auto',
  });
  return {
    endpoint: ring.endpoint,
    get bytesSent() {
      return ring.stats.bytesSent;
    },
    get links() {
      return ring.links;
    },
    async join(rank, world, peers) {
      ring.assign(rank, world);
      await ring.connect(peers);
      if (args.dataPlane === 'shm' && world > 1 && ring.links !== 'shm') {
        throw new Error(`--data-plane shm: rank ${rank}'s links are ${ring.links}; every worker must be on this host (use --data-plane auto across hosts)`);
      }
    },
    allReduceMean: (buf) => ring.allReduceMean(buf),
    sharded: () => ring.asShardedReducer(),
    broadcast: (buf, root) => ring.broadcast(buf, root),
    close: () => ring.close(),
  };
}
