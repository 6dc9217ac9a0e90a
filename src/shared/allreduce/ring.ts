/**
 * Ring all-reduce over ZeroMQ: the data plane between workers. It averages Float32Arrays in place
 * and knows nothing of models or TensorFlow.
 *
 * Topology: rank r receives on one PULL socket (bound here, its endpoint told to the peers by the
 * coordinator) and sends on one PUSH socket connected to rank (r + 1) mod world. A PUSH→PULL pipe
 * is FIFO, so every rank knows exactly which message comes next from its left neighbour.
 *
 * allReduceMean (N = world ranks, buffer split into N near-equal segments):
 *   reduce-scatter, N−1 steps: at step s rank r sends segment (r − s) and receives segment
 *     (r − s − 1) from rank r − 1, adding it into its own copy. After the last step rank r holds the
 *     full sum of segment (r + 1): segment k is summed in the fixed order
 *     ((x_k + x_{k+1}) + x_{k+2}) + … (ranks mod N), once, by the chain of ranks.
 *   the owner divides its segment by N (and, with fp16, rounds it through half precision) once.
 *   all-gather, N−1 steps: at step s rank r sends segment (r + 1 − s) and receives segment (r − s),
 *     copying the bits. So every rank ends with bit-identical results.
 * Each segment travels in chunks of at most `chunkBytes` on the wire, and a received chunk is
 * added (or copied) and handed to the next step's send at once: receive, add and send overlap
 * (pipelining), and the latency of a step is one chunk, not one segment.
 *
 * Cost model (α: per-message latency in s, β: s per byte on one link, L: buffer bytes):
 *   time ≈ 2(N−1)·(α + (L/N)·β)   (pipelining hides all but about one chunk of each step's α)
 * Every rank sends and receives 2(N−1)/N·L bytes whatever N, which is bandwidth-optimal.
 * Bus bandwidth (as in nccl-tests): busbw = (L / time) · 2(N−1)/N, the per-link rate actually
 * achieved; compare it with the link's bandwidth (or with memcpy bandwidth on loopback).
 *
 * broadcast: a pipelined chain root → root+1 → … → root−1 in chunks (start-of-run weights and
 * optimizer state), time ≈ (N−1)·α' + L·β with chunking.
 *
 * Wire format: every message is two frames.
 *   frame 1: header, msgpack map {run, seq, phase, step, chunk, from, n, mac}
 *     run    string, the run id (args.run); messages of another run are dropped
 *     seq    the collective's number on this instance (0, 1, 2, …; every rank advances alike)
 *     phase  0 reduce-scatter, 1 all-gather, 2 broadcast
 *     step   the step within the phase (broadcast: the sender's distance from the root)
 *     chunk  the chunk's index within its segment (broadcast: within the buffer)
 *     from   the sender's rank
 *     n      elements in the payload (floats for all-reduce, bytes for broadcast)
 *     mac    16 bytes, HMAC-SHA256(secret, JSON [run, seq, phase, step, chunk, from, n, payload
 *            bytes]) truncated; absent when no secret is configured
 *   frame 2: payload, raw little-endian float32 (or IEEE half with compression 'fp16', or raw
 *            bytes for broadcast). Floats never go in the header.
 * A message whose header does not decode, whose mac is wrong, or whose fields are not exactly the
 * ones expected next (run, seq, phase, step, chunk, from, size) is dropped and counted in
 * stats.rejected, never added into the buffer; the receive goes on waiting for the expected one.
 *
 * Why the mac covers the header only: its job is to stop a *blind* injector — anything that can
 * reach a worker's port but cannot read the ring's traffic (a stray client, a scanner, a restarted
 * worker of an old run). Without the secret it cannot produce a header that is accepted, so it can
 * never get its payload added into a gradient, and a header names exactly one (run, collective,
 * step, chunk, sender, size), so it cannot be replayed into another slot. Hashing every payload byte
 * would cost a SHA-256 pass over all gradients twice per step for no gain against that attacker. An
 * attacker who *can* read or alter traffic on the path could splice a new payload under a valid
 * header; on untrusted networks use CurveZMQ (args.curve), which encrypts and authenticates every
 * frame, payloads included.
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
import { createHmac, timingSafeEqual } from 'node:crypto';
import { endianness } from 'node:os';
import { Packr } from 'msgpackr';
import { Pull, Push, curveKeyPair } from 'zeromq';
import { F16_TO_F32, decodeF16, encodeF16 } from './fp16.js';

export type Compression = 'none' | 'fp16';

/**
 * CurveZMQ for the ring: one keypair per cluster (from `curveKeyPair()`, z85 strings), handed to
 * every worker by the coordinator over a trusted channel. Each PULL is a CURVE server with the
 * secret key; each PUSH a CURVE client that knows the server key (its own client keypair is fresh
 * and ephemeral). All traffic is then encrypted and integrity-checked. Without a ZAP handler libzmq
 * admits any client that completes the handshake, and completing it needs the server's public key,
 * so treat `publicKey` as a cluster secret too.
 */
export interface RingCurve {
  publicKey: string;
  secretKey: string;
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
  /** Largest payload of one message on the wire, bytes (multiple of 4). Default 256 KiB. */
  chunkBytes?: number;
  /** Payload encoding of all-reduce chunks. Default 'none'. Broadcasts are always raw bytes. */
  compression?: Compression;
  curve?: RingCurve;
}

export interface RingStats {
  /** Bytes handed to the PUSH socket (header + payload frames). */
  bytesSent: number;
  /** Bytes of accepted messages (header + payload frames). */
  bytesReceived: number;
  messagesSent: number;
  messagesReceived: number;
  /** messagesSent + messagesReceived. */
  messages: number;
  /** Messages dropped: undecodable, bad mac, or not the expected one. */
  rejected: number;
  /** Collectives started (the next collective's seq). */
  collectives: number;
  /** Wall time of the last completed collective, ms. */
  lastDurationMs: number;
}

export type RingPhase = 'reduce-scatter' | 'all-gather' | 'broadcast';
const PHASES: RingPhase[] = ['reduce-scatter', 'all-gather', 'broadcast'];
const RS = 0;
const AG = 1;
const BC = 2;

/** A receive (or send) waited longer than timeoutMs. The ring instance is unusable afterwards. */
export class AllReduceTimeoutError extends Error {
  override name = 'AllReduceTimeoutError';
  constructor(
    readonly rank: number,
    /** The rank waited on: rank − 1 for a receive, rank + 1 for a send. */
    readonly peer: number,
    readonly direction: 'receive' | 'send',
    readonly seq: number,
    readonly phase: RingPhase,
    readonly step: number,
    readonly chunk: number,
    readonly timeoutMs: number,
  ) {
    super(
      direction === 'receive'
        ? `ring rank ${rank}: no message from rank ${peer} within ${timeoutMs} ms (collective seq ${seq}, ${phase} step ${step}, chunk ${chunk})`
        : `ring rank ${rank}: could not send to rank ${peer} within ${timeoutMs} ms (collective seq ${seq}, ${phase} step ${step}, chunk ${chunk})`,
    );
  }
}

/** Any other failure of the ring (closed, used after a failure, misuse). */
export class AllReduceError extends Error {
  override name = 'AllReduceError';
}

/** Offsets of the `world` near-equal segments of a buffer of `length`: segment k is [b[k], b[k+1]). */
export function segmentBounds(length: number, world: number): number[] {
  const base = Math.floor(length / world);
  const extra = length % world;
  const b = [0];
  for (let k = 0; k < world; k++) b.push(b[k] + base + (k < extra ? 1 : 0));
  return b;
}

interface Header {
  run: string;
  seq: number;
  phase: number;
  step: number;
  chunk: number;
  from: number;
  n: number;
  mac?: Uint8Array;
}

const MAC_BYTES = 16;
const MAX_HEADER_BYTES = 512;
/** PUSH linger: how long close() (and process exit) may wait to deliver queued messages, ms. */
const PUSH_LINGER_MS = 1000;
/** Messages queued per direction before send() waits. */
const HIGH_WATER_MARK = 64;

/** Owned Buffer of `bytes` bytes at byteOffset 0 (so any typed view over it is aligned). */
function ownedBuffer(bytes: number): Buffer {
  return Buffer.allocUnsafeSlow(bytes);
}

/** `b` itself if its offset suits a typed view with elements of `align` bytes, else an aligned copy. */
function alignedCopy(b: Buffer, align: number): Buffer {
  if (b.byteOffset % align === 0) return b;
  const c = ownedBuffer(b.length);
  b.copy(c);
  return c;
}

export class RingAllReduce {
  /** This rank; fixed at bind, or by `assign` for a ring bound before ranks were dealt. */
  rank: number;
  world: number;
  private assigned = true;
  /** `tcp://host:port` of this rank's receive socket; '' when world = 1 (no sockets). */
  readonly endpoint: string;
  readonly stats: RingStats = {
    bytesSent: 0,
    bytesReceived: 0,
    messagesSent: 0,
    messagesReceived: 0,
    messages: 0,
    rejected: 0,
    collectives: 0,
    lastDurationMs: 0,
  };

  private readonly run: string;
  private readonly secret?: Buffer;
  private readonly timeoutMs: number;
  private readonly chunkBytes: number;
  private readonly compression: Compression;
  private readonly curve?: RingCurve;
  private readonly pull?: Pull;
  private push?: Push;
  private readonly packr = new Packr({ useRecords: false, mapsAsObjects: true });
  private seq = 0;
  private busy = false;
  private closed = false;
  private failure?: Error;
  /** Serialises sends: zeromq.js allows one pending send per socket. */
  private sendChain: Promise<void> = Promise.resolve();
  private sendError?: Error;

  private constructor(args: RingArgs, pull: Pull | undefined, endpoint: string) {
    this.rank = args.rank;
    this.world = args.world;
    this.run = args.run ?? '';
    this.secret = args.secret;
    this.timeoutMs = args.timeoutMs ?? 30_000;
    this.chunkBytes = args.chunkBytes ?? 256 * 1024;
    this.compression = args.compression ?? 'none';
    this.curve = args.curve;
    this.pull = pull;
    this.endpoint = endpoint;
  }

  /** Creates this rank's receive socket, bound on a free port of args.bindHost (none for world = 1). */
  static async bind(args: RingArgs): Promise<RingAllReduce> {
    const { rank, world } = args;
    if (!Number.isInteger(world) || world < 1) throw new RangeError(`ring: world must be an integer ≥ 1, got ${world}`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= world) throw new RangeError(`ring: rank must be in [0, ${world}), got ${rank}`);
    const chunkBytes = args.chunkBytes ?? 256 * 1024;
    if (!Number.isInteger(chunkBytes) || chunkBytes < 4 || chunkBytes % 4 !== 0) throw new RangeError(`ring: chunkBytes must be a positive multiple of 4, got ${chunkBytes}`);
    const timeoutMs = args.timeoutMs ?? 30_000;
    if (!(timeoutMs > 0)) throw new RangeError(`ring: timeoutMs must be > 0, got ${timeoutMs}`);
    if (args.compression !== undefined && args.compression !== 'none' && args.compression !== 'fp16') throw new RangeError(`ring: unknown compression ${String(args.compression)}`);
    if (endianness() !== 'LE') throw new AllReduceError('ring: the wire format is little-endian; this host is big-endian');
    if (world === 1) return new RingAllReduce(args, undefined, '');

    const pull = new Pull({
      // ZMQ_LINGER (default -1: close waits forever for unsent messages). A PULL sends nothing;
      // 0 makes close() drop whatever is still queued for reading, at once.
      linger: 0,
      // ZMQ_RCVHWM (default 1000 messages): messages queued from each connected peer before that
      // peer's PUSH is made to wait. Bounds memory (64 × chunkBytes per peer) yet keeps several
      // chunks in flight, which is all the pipeline needs.
      receiveHighWaterMark: HIGH_WATER_MARK,
      // ZMQ_MAXMSGSIZE (default -1: no limit): a peer sending a larger frame is disconnected. No
      // legitimate frame exceeds one chunk, so a stray client cannot make us allocate more.
      maxMessageSize: chunkBytes + 1024,
      // ZMQ_RCVTIMEO (default -1: wait forever) is set before every receive to the time left.
    });
    if (args.curve) {
      // ZMQ_CURVE_SERVER (default false): accept CURVE clients only; ZMQ_CURVE_SECRETKEY (default
      // null): the cluster's secret key. Every frame is then encrypted and authenticated.
      pull.curveServer = true;
      pull.curveSecretKey = args.curve.secretKey;
    }
    const host = args.bindHost ?? '127.0.0.1';
    try {
      await pull.bind(`tcp://${host}:*`);
    } catch (e) {
      pull.close();
      throw e;
    }
    const bound = pull.lastEndpoint ?? '';
    const port = /:(\d+)$/.exec(bound)?.[1];
    if (!port) {
      pull.close();
      throw new AllReduceError(`ring: could not read the bound endpoint (${bound})`);
    }
    const adv = args.advertiseHost ?? host;
    const endpoint = `tcp://${adv.includes(':') ? `[${adv}]` : adv}:${port}`;
    return new RingAllReduce(args, pull, endpoint);
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
  }

  /** Connects the send socket to rank (rank + 1) mod world's endpoint. No-op for world = 1. */
  async connect(rightEndpoint: string): Promise<void> {
    if (!this.assigned) throw new AllReduceError('ring: assign() the rank before connect()');
    if (this.world === 1) return;
    if (this.closed) throw new AllReduceError('ring: closed');
    if (this.push) throw new AllReduceError('ring: already connected');
    const push = new Push({
      // ZMQ_LINGER (default -1: close and process exit wait forever for queued messages). Messages
      // still queued at close() (the tail of the last collective, on its way to the right
      // neighbour) get this long to leave, then are dropped: close() never hangs.
      linger: PUSH_LINGER_MS,
      // ZMQ_SNDHWM (default 1000 messages): messages queued towards the peer before send() waits.
      sendHighWaterMark: HIGH_WATER_MARK,
      // ZMQ_SNDTIMEO (default -1: wait forever): longest wait for room in the queue; then send()
      // rejects (EAGAIN) and the collective fails with a timeout naming the right neighbour.
      sendTimeout: this.timeoutMs,
    });
    if (this.curve) {
      // ZMQ_CURVE_SERVERKEY (default null): the server's public key, which makes this a CURVE
      // client; ZMQ_CURVE_PUBLICKEY / ZMQ_CURVE_SECRETKEY (default null): the client's own keypair.
      const mine = curveKeyPair();
      push.curvePublicKey = mine.publicKey;
      push.curveSecretKey = mine.secretKey;
      push.curveServerKey = this.curve.publicKey;
    }
    push.connect(rightEndpoint);
    this.push = push;
  }

  /** The next collective's seq. */
  get nextSeq(): number {
    return this.seq;
  }

  /** `allReduceMean` as a function (structurally a GradientReducer: the network tag is ignored). */
  asReducer(): (buffer: Float32Array) => Promise<void> {
    return (buffer) => this.allReduceMean(buffer);
  }

  /**
   * Replaces `buf` by the element-wise mean of every rank's `buf`, bit-identical on every rank.
   * All ranks must pass buffers of the same length. Identity for world = 1.
   */
  async allReduceMean(buf: Float32Array): Promise<void> {
    const seq = this.begin();
    const t0 = performance.now();
    try {
      if (this.world > 1) await this.ringAllReduce(buf, seq);
    } catch (e) {
      throw this.fail(e);
    } finally {
      this.busy = false;
    }
    this.stats.lastDurationMs = performance.now() - t0;
  }

  /** Copies root's bytes of `buf` into every rank's `buf` (same byte length on all ranks). */
  async broadcast(buf: Float32Array | Uint8Array, root = 0): Promise<void> {
    if (!Number.isInteger(root) || root < 0 || root >= this.world) throw new RangeError(`ring: root must be in [0, ${this.world}), got ${root}`);
    const seq = this.begin();
    const t0 = performance.now();
    try {
      if (this.world > 1) await this.chainBroadcast(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), root, seq);
    } catch (e) {
      throw this.fail(e);
    } finally {
      this.busy = false;
    }
    this.stats.lastDurationMs = performance.now() - t0;
  }

  /** Closes both sockets; idempotent. A collective in progress rejects. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.push?.close();
    this.pull?.close();
  }

  // ---------------------------------------------------------------------------------------------

  private begin(): number {
    if (this.closed) throw new AllReduceError('ring: closed');
    if (this.failure) throw new AllReduceError(`ring: unusable after an earlier failure (${this.failure.message})`);
    if (this.busy) throw new AllReduceError('ring: a collective is already in progress on this instance');
    if (this.world > 1 && !this.push) throw new AllReduceError('ring: connect() first');
    this.busy = true;
    this.stats.collectives++;
    return this.seq++;
  }

  private fail(e: unknown): Error {
    const err = e instanceof Error ? e : new AllReduceError(String(e));
    this.failure ??= err;
    return err;
  }

  private async ringAllReduce(buf: Float32Array, seq: number): Promise<void> {
    const N = this.world;
    const r = this.rank;
    const left = (r - 1 + N) % N;
    const fp16 = this.compression === 'fp16';
    const wireBytes = fp16 ? 2 : 4;
    const ce = Math.max(1, Math.floor(this.chunkBytes / wireBytes)); // elements per chunk
    const bounds = segmentBounds(buf.length, N);
    const seg = (k: number) => ((k % N) + N) % N;
    const chunksOf = (k: number) => Math.ceil((bounds[k + 1] - bounds[k]) / ce);
    const range = (k: number, c: number): [number, number] => {
      const a = bounds[k] + c * ce;
      return [a, Math.min(a + ce, bounds[k + 1])];
    };

    // An owned wire copy of buf[a, b): later in-place writes of buf never reach a queued message.
    const encode = (a: number, b: number): Buffer => {
      const out = ownedBuffer((b - a) * wireBytes);
      if (fp16) encodeF16(buf.subarray(a, b), new Uint16Array(out.buffer, out.byteOffset, b - a));
      else new Float32Array(out.buffer, out.byteOffset, b - a).set(buf.subarray(a, b));
      return out;
    };

    // Reduce-scatter step 0: send our own segment r, every chunk, right away.
    for (let c = 0, k = r; c < chunksOf(k); c++) {
      const [a, b] = range(k, c);
      this.send({ seq, phase: RS, step: 0, chunk: c, n: b - a }, encode(a, b));
    }
    // Reduce-scatter steps: receive segment r − s − 1, add, pass it on at once.
    for (let s = 0; s < N - 1; s++) {
      const k = seg(r - s - 1);
      const last = s === N - 2;
      for (let c = 0; c < chunksOf(k); c++) {
        const [a, b] = range(k, c);
        const n = b - a;
        const payload = await this.receive({ seq, phase: RS, step: s, chunk: c, from: left, n }, n * wireBytes);
        if (fp16) {
          const h = new Uint16Array(payload.buffer, payload.byteOffset, n);
          for (let i = 0; i < n; i++) buf[a + i] += F16_TO_F32[h[i]];
        } else {
          const x = new Float32Array(payload.buffer, payload.byteOffset, n);
          for (let i = 0; i < n; i++) buf[a + i] += x[i];
        }
        if (!last) {
          this.send({ seq, phase: RS, step: s + 1, chunk: c, n }, encode(a, b));
          continue;
        }
        // We own segment k = r + 1 now: average it once (float32 division, correctly rounded),
        // round it through fp16 if that is the wire format, then start its all-gather.
        for (let i = a; i < b; i++) buf[i] = buf[i] / N;
        const out = encode(a, b);
        if (fp16) decodeF16(new Uint16Array(out.buffer, out.byteOffset, n), buf.subarray(a, b));
        this.send({ seq, phase: AG, step: 0, chunk: c, n }, out);
      }
    }
    // All-gather steps: receive segment r − s, copy its bits, forward the very same bytes.
    for (let s = 0; s < N - 1; s++) {
      const k = seg(r - s);
      for (let c = 0; c < chunksOf(k); c++) {
        const [a, b] = range(k, c);
        const n = b - a;
        const payload = await this.receive({ seq, phase: AG, step: s, chunk: c, from: left, n }, n * wireBytes);
        if (fp16) decodeF16(new Uint16Array(payload.buffer, payload.byteOffset, n), buf.subarray(a, b));
        else buf.set(new Float32Array(payload.buffer, payload.byteOffset, n), a);
        if (s < N - 2) this.send({ seq, phase: AG, step: s + 1, chunk: c, n }, payload);
      }
    }
    await this.flushSends();
  }

  private async chainBroadcast(bytes: Uint8Array, root: number, seq: number): Promise<void> {
    const N = this.world;
    const d = (this.rank - root + N) % N; // distance from the root along the ring
    const left = (this.rank - 1 + N) % N;
    const cb = this.chunkBytes;
    const chunks = Math.ceil(bytes.length / cb);
    for (let c = 0; c < chunks; c++) {
      const a = c * cb;
      const b = Math.min(a + cb, bytes.length);
      if (d === 0) {
        const out = ownedBuffer(b - a);
        out.set(bytes.subarray(a, b));
        this.send({ seq, phase: BC, step: 0, chunk: c, n: b - a }, out);
        continue;
      }
      const payload = await this.receive({ seq, phase: BC, step: d - 1, chunk: c, from: left, n: b - a }, b - a);
      bytes.set(payload, a);
      if (d < N - 1) this.send({ seq, phase: BC, step: d, chunk: c, n: b - a }, payload);
    }
    await this.flushSends();
  }

  private macOf(h: Omit<Header, 'mac'>, payloadBytes: number): Buffer {
    const canonical = JSON.stringify([h.run, h.seq, h.phase, h.step, h.chunk, h.from, h.n, payloadBytes]);
    return createHmac('sha256', this.secret!).update(canonical).digest().subarray(0, MAC_BYTES);
  }

  /** Queues one message behind the ones before it; errors surface at flushSends() (or fail the ring). */
  private send(fields: { seq: number; phase: number; step: number; chunk: number; n: number }, payload: Buffer): void {
    const h: Header = { run: this.run, seq: fields.seq, phase: fields.phase, step: fields.step, chunk: fields.chunk, from: this.rank, n: fields.n };
    if (this.secret) h.mac = this.macOf(h, payload.length);
    const header = this.packr.pack(h);
    const push = this.push!;
    this.sendChain = this.sendChain.then(async () => {
      if (this.sendError) return;
      try {
        await push.send([header, payload]);
        this.stats.bytesSent += header.length + payload.length;
        this.stats.messagesSent++;
        this.stats.messages++;
      } catch (e) {
        const code = (e as { code?: string }).code;
        this.sendError =
          code === 'EAGAIN'
            ? new AllReduceTimeoutError(this.rank, (this.rank + 1) % this.world, 'send', fields.seq, PHASES[fields.phase], fields.step, fields.chunk, this.timeoutMs)
            : e instanceof Error
              ? e
              : new AllReduceError(String(e));
      }
    });
  }

  private async flushSends(): Promise<void> {
    await this.sendChain;
    if (this.sendError) throw this.sendError;
  }

  /**
   * Waits for the expected message from the left neighbour and returns its payload (aligned for
   * a typed view). Anything else that arrives meanwhile is dropped and counted. Waits at most
   * timeoutMs in all, however many rogue messages arrive.
   */
  private async receive(exp: Omit<Header, 'run' | 'mac'>, payloadBytes: number): Promise<Buffer> {
    const pull = this.pull!;
    const deadline = performance.now() + this.timeoutMs;
    for (;;) {
      if (this.sendError) throw this.sendError;
      const left = deadline - performance.now();
      if (left <= 0) throw this.timeout(exp);
      // ZMQ_RCVTIMEO (default -1): receive() rejects with EAGAIN after this many ms.
      pull.receiveTimeout = Math.max(1, Math.ceil(left));
      let frames: Buffer[];
      try {
        frames = await pull.receive();
      } catch (e) {
        // Closing the socket also rejects a pending receive (with EAGAIN): say what happened.
        if (this.closed) throw new AllReduceError('ring: closed during a collective');
        if ((e as { code?: string }).code === 'EAGAIN') throw this.timeout(exp);
        throw e;
      }
      const payload = this.accept(frames, exp, payloadBytes);
      if (payload) {
        this.stats.bytesReceived += frames[0].length + frames[1].length;
        this.stats.messagesReceived++;
        this.stats.messages++;
        return alignedCopy(payload, 4);
      }
      this.stats.rejected++;
    }
  }

  /** The payload if `frames` is exactly the expected message, else undefined. */
  private accept(frames: Buffer[], exp: Omit<Header, 'run' | 'mac'>, payloadBytes: number): Buffer | undefined {
    if (frames.length !== 2) return undefined;
    const [hf, payload] = frames;
    if (hf.length > MAX_HEADER_BYTES || payload.length !== payloadBytes) return undefined;
    let h: unknown;
    try {
      h = this.packr.unpack(hf);
    } catch {
      return undefined;
    }
    if (typeof h !== 'object' || h === null) return undefined;
    const m = h as Partial<Header>;
    if (m.run !== this.run || m.seq !== exp.seq || m.phase !== exp.phase || m.step !== exp.step || m.chunk !== exp.chunk || m.from !== exp.from || m.n !== exp.n) return undefined;
    if (this.secret) {
      if (!(m.mac instanceof Uint8Array) || m.mac.length !== MAC_BYTES) return undefined;
      const want = this.macOf({ run: this.run, ...exp }, payload.length);
      if (!timingSafeEqual(want, m.mac)) return undefined;
    }
    return payload;
  }

  private timeout(exp: Omit<Header, 'run' | 'mac'>): AllReduceTimeoutError {
    return new AllReduceTimeoutError(this.rank, exp.from, 'receive', exp.seq, PHASES[exp.phase], exp.step, exp.chunk, this.timeoutMs);
  }
}
