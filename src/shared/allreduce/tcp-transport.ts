/**
 * The ring's transport over plain TCP (node:net), used whenever CurveZMQ is off; with CurveZMQ the
 * ring runs on zmq-transport.ts. Same `Transport` contract, same header and MACs (header.ts), same
 * timeouts.
 *
 * Why a second transport: the ring is bandwidth-bound, and every copy of a byte costs as much as
 * sending it. Here a payload is copied twice, both times by the kernel: from the sender's own
 * buffer into the socket (libuv writes a Buffer without copying it), and from the socket straight
 * into the Buffer the collective adds into (the reading socket's `onread` hands the kernel that
 * very buffer, at the right offset). ZeroMQ adds its I/O thread and a copy on each side.
 * Measured: `npm run bench -- --sections allreduce` (docs/performance.md) times both transports
 * beside a plain TCP stream and gloo.
 *
 * Topology: rank r listens on one TCP port (its endpoint, `tcp://host:port`, told to the peers by
 * the coordinator). Rank r + 1 connects to it and *reads* from that connection; rank r writes to it.
 * So each rank reads only from the connection it made itself, to the address the coordinator gave
 * for its left neighbour: nothing else can put bytes in front of the collective. A TCP connection
 * is FIFO, so every rank knows exactly which message comes next.
 *
 * Hello: the connecting rank opens with one frame (u32 LE length, msgpack {hello: 1, run, from,
 * to, mac}) saying it is rank `from` of run `run` and wants rank `to`'s messages; mac =
 * HMAC-SHA256(secret, JSON ["hello", run, from, to]) truncated to 16 bytes (absent without a
 * secret). The listener writes only to a connection whose hello names this run, its right
 * neighbour and itself, with the right mac; anything else it reads on its port (a bad hello,
 * garbage, more than a hello) is counted in stats.rejected and the connection is cut. The number
 * of connections waiting for a hello is bounded.
 *
 * Wire format of a message, listener → connector:
 *   u32 LE  header bytes (≤ MAX_HEADER_BYTES)
 *   u32 LE  payload bytes (≤ maxPayloadBytes)
 *   header  msgpack map, header.ts (run, seq, phase, step, chunk, from, n, mac)
 *   payload raw little-endian float32 (or IEEE half with compression 'fp16', or raw bytes for
 *           broadcast). Floats never go in the header.
 * A message whose header does not decode, whose mac is wrong, or whose fields are not exactly the
 * ones expected next is dropped and counted in stats.rejected; a frame over the limits ends the
 * connection (nothing after it can be framed) and fails the collective.
 *
 * Threat model (as with ZeroMQ without CURVE): the MACs stop a *blind* attacker — anything that can
 * reach a worker's port but cannot read the ring's traffic (a stray client, a scanner, a restarted
 * worker of an old run). It cannot pass the hello, so it is never written to, and it cannot write
 * into a connection another rank made. Hashing every payload byte would stop no one that this does
 * not already stop, and it is not cheap: measured on the 2-core CI machine, node's HMAC-SHA256 runs
 * at 1.7 GB/s (2.7 ms for 4.7 MB), more than half of the 2-rank all-reduce's link bound, while a
 * header mac costs about 3 µs per message. An attacker who *can* read or alter traffic could
 * splice a new payload under a valid header; on untrusted networks use CurveZMQ (--curve-keys),
 * which encrypts and authenticates every frame.
 *
 * Failure: every receive waits at most `timeoutMs` for the expected message; connecting (retried
 * while the left neighbour does not listen yet), the right neighbour's hello, and every send's
 * hand-over to the kernel wait at most `timeoutMs` too. A connection that breaks fails the next
 * wait on it at once, naming the neighbour.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { Packr } from 'msgpackr';
import { HeaderCodec, MAX_HEADER_BYTES } from './header.js';
import { AllReduceError, AllReduceTimeoutError, emptyRingStats, PHASES, type RingStats, type Slot, type WireTransport } from './transport.js';

export interface TcpTransportArgs {
  run?: string;
  secret?: Buffer;
  bindHost?: string;
  advertiseHost?: string;
  timeoutMs: number;
  maxPayloadBytes: number;
}

/** Messages read ahead of the collective before the reading socket is paused (TCP's flow control then holds the sender). */
const HIGH_WATER_MARK = 16;
/** Connections the port holds at once while their hellos are read (a ring needs one). */
const MAX_CONNECTIONS = 32;
/** Largest hello frame, bytes. */
const MAX_HELLO_BYTES = 256;
const MAC_BYTES = 16;
/** How long close() lets queued bytes leave before the socket is destroyed, ms. */
const CLOSE_LINGER_MS = 1000;
/** Pause between connection attempts while the left neighbour is not listening yet, ms. */
const RECONNECT_MS = 50;
const PREFIX_BYTES = 8;
/** Payload buffers kept for reuse, per size. */
const POOL_PER_SIZE = 32;

interface Inbound {
  header: Buffer;
  payload: Buffer;
}

interface Hello {
  hello: number;
  run: string;
  from: number;
  to: number;
  mac?: Uint8Array;
}

/**
 * The reading end (the connection this rank made to its left neighbour): hands the kernel the
 * exact bytes still missing of the current prefix, header or payload, so every payload is read
 * straight into its own Buffer and a read never crosses into the next message.
 */
class MessageReader {
  private readonly prefix = Buffer.alloc(PREFIX_BYTES);
  private state: 'prefix' | 'header' | 'payload' = 'prefix';
  private have = 0;
  private header = Buffer.alloc(0);
  private payload: Buffer = Buffer.alloc(0);

  constructor(
    private readonly maxPayloadBytes: number,
    private readonly allocPayload: (bytes: number) => Buffer,
    private readonly deliver: (m: Inbound) => void,
    private readonly broken: (why: string) => void,
  ) {}

  /** Where the next read goes (onread.buffer). Never empty. */
  target(): Uint8Array {
    if (this.state === 'prefix') return this.prefix.subarray(this.have);
    if (this.state === 'header') return this.header.subarray(this.have);
    return this.payload.subarray(this.have);
  }

  /** `n` bytes arrived in target() (onread.callback). */
  read(n: number): void {
    this.have += n;
    if (this.state === 'prefix') {
      if (this.have < PREFIX_BYTES) return;
      const hb = this.prefix.readUInt32LE(0);
      const pb = this.prefix.readUInt32LE(4);
      if (hb > MAX_HEADER_BYTES || pb > this.maxPayloadBytes) return this.broken(`a frame of ${hb} + ${pb} bytes, over the limits`);
      this.header = Buffer.allocUnsafe(hb);
      // A Buffer of its own per payload (offset 0, aligned for a Float32Array view): the collective
      // keeps it, adds into it and forwards it as it is.
      this.payload = this.allocPayload(pb);
      this.have = 0;
      this.state = 'header';
    } else if (this.state === 'header') {
      if (this.have < this.header.length) return;
      this.have = 0;
      this.state = 'payload';
    } else if (this.have < this.payload.length) return;
    // Empty parts complete at once (a 0-byte payload; never a read of 0 bytes).
    if (this.state === 'header' && this.header.length === 0) this.state = 'payload';
    if (this.state === 'payload' && this.have === this.payload.length) {
      this.deliver({ header: this.header, payload: this.payload });
      this.have = 0;
      this.state = 'prefix';
    }
  }
}

/** `host` as an endpoint writes it (IPv6 in brackets). */
function endpointHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** host and port of `tcp://host:port` (IPv6 hosts in brackets). */
export function parseTcpEndpoint(endpoint: string): { host: string; port: number } {
  const m = /^tcp:\/\/(?:\[([^\]]+)\]|([^:/]+)):(\d+)$/.exec(endpoint);
  if (!m) throw new AllReduceError(`ring: not a tcp://host:port endpoint: ${JSON.stringify(endpoint)}`);
  return { host: m[1] ?? m[2], port: Number(m[3]) };
}

const codeOf = (e: Error) => (e as NodeJS.ErrnoException).code ?? e.message;

export class TcpTransport implements WireTransport {
  rank = 0;
  world = 1;
  /** flush() waits for every write's callback: the bytes are in the kernel. */
  readonly flushMeansSent = true;
  readonly endpoint: string;
  readonly stats: RingStats = emptyRingStats();
  closed = false;

  private readonly headers: HeaderCodec;
  private readonly helloPackr = new Packr({ useRecords: false, mapsAsObjects: true });
  private readonly run: string;
  private readonly secret?: Buffer;
  private readonly timeoutMs: number;
  private readonly maxPayloadBytes: number;
  /** Accepted connections whose hello has not been read or checked yet. */
  private readonly pending = new Map<Socket, Hello | undefined>();
  /** Set by connect(): from then on hellos are checked against this rank. */
  private connecting = false;

  // Receive side: the connection to the left neighbour.
  private left?: Socket;
  private readonly inbox: Inbound[] = [];
  private wake?: () => void;
  private receiveError?: Error;

  // Send side: the right neighbour's connection, once its hello checked out.
  private right?: Socket;
  private rightReady?: () => void;
  private sendChain: Promise<void> = Promise.resolve();
  private sendError?: Error;
  /** Sends handed to the socket whose bytes are not yet all in the kernel. */
  private unwritten = 0;
  private written?: () => void;
  private lastSent?: Slot;
  /** Why the right connection ended while nothing of ours was in flight: the next send fails. */
  private rightLost?: Error;
  /**
   * Payload buffers for reuse, by size. Every chunk of a collective is received into a Buffer and
   * then sent on or released, so the same few dozen buffers serve every step: allocating ~10 MB of
   * fresh external memory per all-reduce cost page faults on every page and a scavenge every few
   * steps ("external memory pressure" in --trace-gc, up to 4.6 ms each, measured here).
   */
  private readonly pool = new Map<number, Buffer[]>();
  private readonly fromPool = new WeakSet<Uint8Array>();

  private constructor(
    args: TcpTransportArgs,
    private readonly server: Server,
    endpoint: string,
  ) {
    this.run = args.run ?? '';
    this.secret = args.secret;
    this.headers = new HeaderCodec(this.run, args.secret);
    this.timeoutMs = args.timeoutMs;
    this.maxPayloadBytes = args.maxPayloadBytes;
    this.endpoint = endpoint;
    server.on('connection', (socket) => this.accepted(socket));
  }

  /** Listens on a free port of args.bindHost. */
  static async bind(args: TcpTransportArgs): Promise<TcpTransport> {
    const server = createServer({ noDelay: true });
    server.maxConnections = MAX_CONNECTIONS;
    const host = args.bindHost ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address === 'string') {
      server.close();
      throw new AllReduceError(`ring: could not read the bound address (${String(address)})`);
    }
    return new TcpTransport(args, server, `tcp://${endpointHost(args.advertiseHost ?? host)}:${address.port}`);
  }

  get connected(): boolean {
    return this.connecting;
  }

  /**
   * Connects to the left neighbour (retried while it is not listening yet, up to timeoutMs) and
   * says hello; from now on the right neighbour's hello is accepted on our port.
   */
  connect(peers: readonly string[]): void {
    if (this.closed) throw new AllReduceError('ring: closed');
    if (this.connecting) throw new AllReduceError('ring: already connected');
    if (peers.length !== this.world) throw new AllReduceError(`ring: ${peers.length} endpoints for a world of ${this.world}`);
    this.connecting = true;
    const leftRank = (this.rank - 1 + this.world) % this.world;
    const leftEndpoint = peers[leftRank];
    const { host, port } = parseTcpEndpoint(leftEndpoint);
    const deadline = performance.now() + this.timeoutMs;
    const reader = new MessageReader(
      this.maxPayloadBytes,
      (bytes) => this.allocPayload(bytes),
      (m) => {
        this.inbox.push(m);
        this.wake?.();
      },
      (why) => {
        this.stats.rejected++;
        this.failReceive(new AllReduceError(`ring rank ${this.rank}: rank ${leftRank} sent ${why}`, leftRank));
        this.left?.destroy();
      },
    );
    const attempt = () => {
      if (this.closed) return;
      const socket = netConnect({
        host,
        port,
        noDelay: true,
        onread: {
          buffer: () => reader.target(),
          // false pauses the socket: HIGH_WATER_MARK messages are waiting for the collective.
          callback: (n: number) => {
            reader.read(n);
            return this.inbox.length < HIGH_WATER_MARK;
          },
        },
      });
      const retry = (e: Error) => {
        socket.destroy();
        if (performance.now() + RECONNECT_MS >= deadline) this.failReceive(new AllReduceError(`ring rank ${this.rank}: could not connect to rank ${leftRank} at ${leftEndpoint} within ${this.timeoutMs} ms (${codeOf(e)})`, leftRank));
        else setTimeout(attempt, RECONNECT_MS);
      };
      socket.once('error', retry);
      socket.once('connect', () => {
        socket.off('error', retry);
        this.left = socket;
        socket.write(this.helloFrame(this.rank, leftRank));
        socket.on('error', (e) => this.failReceive(new AllReduceError(`ring rank ${this.rank}: the connection from rank ${leftRank} failed (${codeOf(e)})`, leftRank)));
        // A failure only for a receive that finds nothing left in the inbox (what came before the
        // close is still delivered): a neighbour that finished the last collective may exit.
        socket.on('close', () => this.failReceive(new AllReduceError(`ring rank ${this.rank}: the connection from rank ${leftRank} closed`, leftRank)));
      });
    };
    attempt();
    // Hellos that arrived before we knew our rank.
    for (const [socket, hello] of this.pending) if (hello) this.checkHello(socket, hello);
  }

  /** Closes the port and every connection (the send side after its queued bytes left, at most 1 s). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.server.close();
    for (const socket of this.pending.keys()) socket.destroy();
    this.left?.destroy();
    const right = this.right;
    if (right) {
      right.removeAllListeners('close');
      right.end();
      setTimeout(() => right.destroy(), CLOSE_LINGER_MS).unref();
    }
    this.wake?.();
    this.written?.();
    this.rightReady?.();
  }

  send(slot: Slot, payload: Uint8Array): void {
    const header = this.headers.pack(slot, this.rank, payload.byteLength);
    const prefix = Buffer.allocUnsafe(PREFIX_BYTES);
    prefix.writeUInt32LE(header.length, 0);
    prefix.writeUInt32LE(payload.byteLength, 4);
    this.sendChain = this.sendChain.then(async () => {
      if (this.rightLost) this.failSend(this.rightLost);
      if (this.sendError) return;
      const socket = this.right ?? (await this.rightConnection(slot));
      if (!socket) return; // failSend has the reason
      // cork/uncork: the three writes leave as one writev; the payload is written from the
      // caller's memory (no copy), which the Transport contract leaves to us until flush().
      this.unwritten++;
      this.lastSent = slot;
      socket.cork();
      socket.write(prefix);
      socket.write(header);
      socket.write(payload, () => {
        this.release(payload);
        if (--this.unwritten === 0) this.written?.();
      });
      socket.uncork();
      this.stats.bytesSent += PREFIX_BYTES + header.length + payload.byteLength;
      this.stats.messagesSent++;
      this.stats.messages++;
    });
  }

  /** Resolves when every queued send is in the kernel (so the caller may write its buffers again). */
  async flush(): Promise<void> {
    await this.sendChain;
    if (this.sendError) throw this.sendError;
    if (this.unwritten > 0 && !this.closed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          const s = this.lastSent!;
          this.failSend(new AllReduceTimeoutError(this.rank, (this.rank + 1) % this.world, 'send', s.seq, PHASES[s.phase], s.step, s.chunk, this.timeoutMs));
          resolve();
        }, this.timeoutMs);
        this.written = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.written = undefined;
    }
    if (this.sendError) throw this.sendError;
  }

  /**
   * Waits for the expected message from the left neighbour and returns its payload. A message that
   * is not the expected one is dropped and counted. Waits at most timeoutMs in all.
   */
  async receive(slot: Slot, payloadBytes: number): Promise<Uint8Array> {
    const from = (this.rank - 1 + this.world) % this.world;
    const deadline = performance.now() + this.timeoutMs;
    for (;;) {
      if (this.sendError) throw this.sendError;
      if (this.closed) throw new AllReduceError('ring: closed during a collective');
      const m = this.inbox.shift();
      if (m) {
        if (this.left?.isPaused() && this.inbox.length < HIGH_WATER_MARK) this.left.resume();
        if (this.headers.accepts(m.header, m.payload.length, slot, from, payloadBytes)) {
          this.stats.bytesReceived += PREFIX_BYTES + m.header.length + m.payload.length;
          this.stats.messagesReceived++;
          this.stats.messages++;
          return m.payload;
        }
        this.stats.rejected++;
        continue;
      }
      if (this.receiveError) throw this.receiveError;
      const left = deadline - performance.now();
      if (left <= 0) throw new AllReduceTimeoutError(this.rank, from, 'receive', slot.seq, PHASES[slot.phase], slot.step, slot.chunk, this.timeoutMs);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.ceil(left));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** Takes back a payload of ours (see Transport.release); other memory is ignored. */
  release(payload: Uint8Array): void {
    if (!this.fromPool.has(payload)) return;
    this.fromPool.delete(payload);
    const free = this.pool.get(payload.byteLength) ?? [];
    if (free.length < POOL_PER_SIZE) free.push(payload as Buffer);
    this.pool.set(payload.byteLength, free);
  }

  // ---------------------------------------------------------------------------------------------

  /** A pooled buffer to fill and send (see Transport.allocate). */
  allocate(bytes: number): Buffer {
    return this.allocPayload(bytes);
  }

  private allocPayload(bytes: number): Buffer {
    const b = this.pool.get(bytes)?.pop() ?? Buffer.allocUnsafeSlow(bytes);
    this.fromPool.add(b);
    return b;
  }

  private helloFrame(from: number, to: number): Buffer {
    const h: Hello = { hello: 1, run: this.run, from, to };
    if (this.secret) h.mac = this.helloMac(from, to);
    const body = this.helloPackr.pack(h);
    const frame = Buffer.allocUnsafe(4 + body.length);
    frame.writeUInt32LE(body.length, 0);
    body.copy(frame, 4);
    return frame;
  }

  private helloMac(from: number, to: number): Buffer {
    return createHmac('sha256', this.secret!).update(JSON.stringify(['hello', this.run, from, to])).digest().subarray(0, MAC_BYTES);
  }

  /** A connection on our port: read its hello (one frame), then nothing more may come. */
  private accepted(socket: Socket): void {
    if (this.closed) return void socket.destroy();
    this.pending.set(socket, undefined);
    let got = Buffer.alloc(0);
    const cut = () => {
      this.stats.rejected++;
      this.pending.delete(socket);
      socket.destroy();
    };
    // A connection that never says hello is cut after the timeout.
    const timer = setTimeout(() => this.pending.has(socket) && this.pending.get(socket) === undefined && cut(), this.timeoutMs);
    timer.unref();
    socket.on('error', () => undefined); // a reset: 'close' cleans up
    socket.on('close', () => {
      clearTimeout(timer);
      this.pending.delete(socket);
    });
    socket.on('data', (d: Buffer) => {
      // The right neighbour only reads once its hello is taken: anything more is a breach, ignored.
      if (socket === this.right) return void this.stats.rejected++;
      if (this.pending.get(socket) !== undefined) return cut(); // more than a hello
      got = Buffer.concat([got, d]);
      if (got.length < 4) return;
      const n = got.readUInt32LE(0);
      if (n > MAX_HELLO_BYTES || got.length > 4 + n) return cut();
      if (got.length < 4 + n) return;
      let hello: unknown;
      try {
        hello = this.helloPackr.unpack(got.subarray(4));
      } catch {
        return cut();
      }
      if (typeof hello !== 'object' || hello === null || (hello as Hello).hello !== 1) return cut();
      this.pending.set(socket, hello as Hello);
      clearTimeout(timer);
      if (this.connecting) this.checkHello(socket, hello as Hello);
    });
  }

  /** Takes `socket` as the right neighbour's connection if its hello is right; cuts it otherwise. */
  private checkHello(socket: Socket, h: Hello): void {
    const right = (this.rank + 1) % this.world;
    let ok = h.run === this.run && h.from === right && h.to === this.rank && this.right === undefined;
    if (ok && this.secret) ok = h.mac instanceof Uint8Array && h.mac.length === MAC_BYTES && timingSafeEqual(h.mac, this.helloMac(h.from, h.to));
    this.pending.delete(socket);
    if (!ok) {
      this.stats.rejected++;
      socket.destroy();
      return;
    }
    this.right = socket;
    socket.on('close', () => this.lostRight(new AllReduceError(`ring rank ${this.rank}: the connection to rank ${right} closed`, right)));
    socket.on('error', (e) => this.lostRight(new AllReduceError(`ring rank ${this.rank}: the connection to rank ${right} failed (${codeOf(e)})`, right)));
    this.rightReady?.();
  }

  /** Waits (at most timeoutMs) for the right neighbour's connection; undefined after a failure. */
  private async rightConnection(slot: Slot): Promise<Socket | undefined> {
    if (!this.right) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.timeoutMs);
        this.rightReady = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.rightReady = undefined;
    }
    if (this.closed) this.failSend(new AllReduceError('ring: closed during a collective'));
    else if (!this.right) this.failSend(new AllReduceTimeoutError(this.rank, (this.rank + 1) % this.world, 'send', slot.seq, PHASES[slot.phase], slot.step, slot.chunk, this.timeoutMs));
    return this.sendError ? undefined : this.right;
  }

  private lostRight(e: Error): void {
    if (this.unwritten > 0) this.failSend(e);
    else this.rightLost ??= e;
  }

  private failSend(e: Error): void {
    if (this.sendError || this.closed) return;
    this.sendError = e;
    this.wake?.();
    this.written?.();
  }

  private failReceive(e: Error): void {
    if (this.receiveError || this.closed) return;
    this.receiveError = e;
    this.wake?.();
  }
}
