/**
 * The ring's transport over ZeroMQ: sockets, CurveZMQ, header MACs, the send queue and "receive
 * the expected message", every wait bounded. The collectives (schedule.ts) see it only as a
 * `Transport`.
 *
 * Topology: rank r receives on one PULL socket (bound here, its endpoint told to the peers by the
 * coordinator) and sends on one PUSH socket connected to rank (r + 1) mod world. A PUSH→PULL pipe
 * is FIFO, so every rank knows exactly which message comes next from its left neighbour.
 *
 * Wire format: every message is two frames.
 *   frame 1: header, msgpack map {run, seq, phase, step, chunk, from, n, mac} (header.ts)
 *   frame 2: payload, raw little-endian float32 (or IEEE half with compression 'fp16', or raw
 *            bytes for broadcast). Floats never go in the header.
 * A message whose header does not decode, whose mac is wrong, or whose fields are not exactly the
 * ones expected next (run, seq, phase, step, chunk, from, size) is dropped and counted in
 * stats.rejected, never handed to the collective; the receive goes on waiting for the expected one.
 * The threat model the header MAC answers is tcp-transport.ts's; here CurveZMQ (args.curve) also
 * encrypts and authenticates every frame, payloads included (Poly1305 inside libzmq/libsodium),
 * which is why this transport serves the ring when CurveZMQ is on.
 *
 * Failure: every receive waits at most `timeoutMs` for the expected message (rogue messages do not
 * extend the wait), every send at most `timeoutMs` to be queued; then it rejects with an
 * AllReduceTimeoutError naming the rank waited on.
 */
import { Pull, Push, curveKeyPair } from 'zeromq';
import { HeaderCodec } from './header.js';
import { AllReduceError, AllReduceTimeoutError, emptyRingStats, PHASES, type RingStats, type Slot, type WireTransport } from './transport.js';

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

export interface ZmqTransportArgs {
  /** Run id put in (and checked on) every header. Default ''. */
  run?: string;
  /** Shared secret for header MACs; without it headers carry no mac and none is checked. */
  secret?: Buffer;
  /** Interface the receive socket binds on. Default 127.0.0.1. */
  bindHost?: string;
  /** Host written into `.endpoint` when it differs from bindHost (e.g. bind 0.0.0.0, advertise an IP). */
  advertiseHost?: string;
  /** Longest wait for one expected message (or to queue one send), ms. */
  timeoutMs: number;
  /** Largest payload of one message, bytes: larger frames disconnect their sender. */
  maxPayloadBytes: number;
  curve?: RingCurve;
}

/** PUSH linger: how long close() (and process exit) may wait to deliver queued messages, ms. */
const PUSH_LINGER_MS = 1000;
/**
 * Messages queued per direction before send() waits: 16 chunks (16 MiB at the default 1 MiB chunk)
 * keep the pipeline full and bound what a peer can make us hold.
 */
const HIGH_WATER_MARK = 16;

/** `b` itself if its offset suits a typed view with elements of `align` bytes, else an aligned copy. */
function alignedCopy(b: Buffer, align: number): Buffer {
  if (b.byteOffset % align === 0) return b;
  const c = Buffer.allocUnsafeSlow(b.length);
  b.copy(c);
  return c;
}

export class ZmqTransport implements WireTransport {
  rank = 0;
  world = 1;
  /** zeromq.js sends a Buffer without copying it, from libzmq's I/O thread, after send() resolved. */
  readonly flushMeansSent = false;
  /** `tcp://host:port` of this rank's receive socket. */
  readonly endpoint: string;
  readonly stats: RingStats = emptyRingStats();
  closed = false;

  private readonly headers: HeaderCodec;
  private readonly timeoutMs: number;
  private readonly curve?: RingCurve;
  private push?: Push;
  /** Serialises sends: zeromq.js allows one pending send per socket. */
  private sendChain: Promise<void> = Promise.resolve();
  private sendError?: Error;

  private constructor(args: ZmqTransportArgs, private readonly pull: Pull, endpoint: string) {
    this.headers = new HeaderCodec(args.run ?? '', args.secret);
    this.timeoutMs = args.timeoutMs;
    this.curve = args.curve;
    this.endpoint = endpoint;
  }

  /** Creates the receive socket, bound on a free port of args.bindHost. */
  static async bind(args: ZmqTransportArgs): Promise<ZmqTransport> {
    const pull = new Pull({
      // ZMQ_LINGER (default -1: close waits forever for unsent messages). A PULL sends nothing;
      // 0 makes close() drop whatever is still queued for reading, at once.
      linger: 0,
      // ZMQ_RCVHWM (default 1000 messages): messages queued from each connected peer before that
      // peer's PUSH is made to wait. Bounds memory (16 × chunk per peer) yet keeps several
      // chunks in flight, which is all the pipeline needs.
      receiveHighWaterMark: HIGH_WATER_MARK,
      // ZMQ_MAXMSGSIZE (default -1: no limit): a peer sending a larger frame is disconnected. No
      // legitimate frame exceeds one chunk, so a stray client cannot make us allocate more.
      maxMessageSize: args.maxPayloadBytes + 1024,
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
    return new ZmqTransport(args, pull, `tcp://${adv.includes(':') ? `[${adv}]` : adv}:${port}`);
  }

  get connected(): boolean {
    return this.push !== undefined;
  }

  /** Connects the send socket to the right neighbour's endpoint, `peers[(rank + 1) mod world]`. */
  connect(peers: readonly string[]): void {
    if (this.closed) throw new AllReduceError('ring: closed');
    if (this.push) throw new AllReduceError('ring: already connected');
    if (peers.length !== this.world) throw new AllReduceError(`ring: ${peers.length} endpoints for a world of ${this.world}`);
    const rightEndpoint = peers[(this.rank + 1) % this.world];
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

  /** Closes both sockets; idempotent. A receive in progress rejects. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.push?.close();
    this.pull.close();
  }

  send(slot: Slot, payload: Uint8Array): void {
    const header = this.headers.pack(slot, this.rank, payload.byteLength);
    const push = this.push!;
    this.sendChain = this.sendChain.then(async () => {
      if (this.sendError) return;
      try {
        await push.send([header, payload]);
        this.stats.bytesSent += header.length + payload.byteLength;
        this.stats.messagesSent++;
        this.stats.messages++;
      } catch (e) {
        const code = (e as { code?: string }).code;
        this.sendError =
          code === 'EAGAIN'
            ? new AllReduceTimeoutError(this.rank, (this.rank + 1) % this.world, 'send', slot.seq, PHASES[slot.phase], slot.step, slot.chunk, this.timeoutMs)
            : e instanceof Error
              ? e
              : new AllReduceError(String(e));
      }
    });
  }

  async flush(): Promise<void> {
    await this.sendChain;
    if (this.sendError) throw this.sendError;
  }

  /**
   * Waits for the expected message from the left neighbour and returns its payload (aligned for
   * a typed view). Anything else that arrives meanwhile is dropped and counted. Waits at most
   * timeoutMs in all, however many rogue messages arrive.
   */
  async receive(slot: Slot, payloadBytes: number): Promise<Uint8Array> {
    const from = (this.rank - 1 + this.world) % this.world;
    const pull = this.pull;
    const deadline = performance.now() + this.timeoutMs;
    for (;;) {
      if (this.sendError) throw this.sendError;
      const left = deadline - performance.now();
      if (left <= 0) throw this.timeout(slot, from);
      // ZMQ_RCVTIMEO (default -1): receive() rejects with EAGAIN after this many ms.
      pull.receiveTimeout = Math.max(1, Math.ceil(left));
      let frames: Buffer[];
      try {
        frames = await pull.receive();
      } catch (e) {
        // Closing the socket also rejects a pending receive (with EAGAIN): say what happened.
        if (this.closed) throw new AllReduceError('ring: closed during a collective');
        if ((e as { code?: string }).code === 'EAGAIN') throw this.timeout(slot, from);
        throw e;
      }
      const payload = this.accept(frames, slot, from, payloadBytes);
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
  private accept(frames: Buffer[], exp: Slot, from: number, payloadBytes: number): Buffer | undefined {
    if (frames.length !== 2) return undefined;
    return this.headers.accepts(frames[0], frames[1].length, exp, from, payloadBytes) ? frames[1] : undefined;
  }

  private timeout(exp: Slot, from: number): AllReduceTimeoutError {
    return new AllReduceTimeoutError(this.rank, from, 'receive', exp.seq, PHASES[exp.phase], exp.step, exp.chunk, this.timeoutMs);
  }
}
