/** The worker's view of the data plane: the ring all-reduce, bound before ranks are dealt. */
import { RingAllReduce, type Compression, type RingCurve, type ShardedReducer } from '../shared/allreduce/ring.js';

/** What the worker uses of the ring. */
export interface Ring {
  readonly endpoint: string;
  /** Bytes this rank has sent so far (gradient traffic, for metrics). */
  readonly bytesSent: number;
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
}

export async function openRing(args: OpenRingArgs): Promise<Ring> {
  const ring = await RingAllReduce.bindUnassigned({ bindHost: args.bindHost, secret: args.secret, timeoutMs: args.timeoutMs, compression: args.compression, curve: args.curve });
  return {
    endpoint: ring.endpoint,
    get bytesSent() {
      return ring.stats.bytesSent;
    },
    async join(rank, world, peers) {
      ring.assign(rank, world);
      await ring.connect(peers);
    },
    allReduceMean: (buf) => ring.allReduceMean(buf),
    sharded: () => ring.asShardedReducer(),
    broadcast: (buf, root) => ring.broadcast(buf, root),
    close: () => ring.close(),
  };
}
