/**
 * The ring's transport over plain TCP (node:net), used whenever CurveZMQ is off; with CurveZMQ the
 * ring runs on zmq-transport.ts. Same `Transport` contract, same header and MACs (header.ts), same
 * timeouts.
 *
 * Why a second transport: the ring is bandwidth-bound, and over ZeroMQ every byte crosses an extra
 * thread (libzmq's I/O thread) and an extra copy on each side before JavaScript sees it. Measured on
 * the 2-core CI machine, 9.4 MB all-reduced between 2 processes: see the "all-reduce" table of
 * `npm run bench -- --sections allreduce` (docs) for both transports beside a plain TCP stream.
 * Here the kernel copies straight between the socket and the buffers JavaScript adds into, on the
 * main thread that would otherwise wait, and sends go out of the caller's own memory (libuv writes
 * a Buffer without copying it).
 *
 * Topology: rank r listens on one TCP port (its endpoint, `tcp://host:port`, told to the peers by
 * the coordinator) and connects one socket to rank (r + 1) mod world. A TCP connection is FIFO, so
 * every rank knows exactly which message comes next from its left neighbour.
 *
 * Wire format, per message:
 *   u32 LE  header bytes (≤ MAX_HEADER_BYTES, else the connection is cut)
 *   u32 LE  payload bytes (≤ maxPayloadBytes, else the connection is cut)
 *   header  msgpack map, header.ts (run, seq, phase, step, chunk, from, n, mac)
 *   payload raw little-endian float32 (or IEEE half with compression 'fp16', or raw bytes for
 *           broadcast). Floats never go in the header.
 * A message whose header does not decode, whose mac is wrong, or whose fields are not exactly the
 * ones expected next (run, seq, phase, step, chunk, from, size) is dropped and counted in
 * stats.rejected, never handed to the collective; the receive goes on waiting for the expected one.
 * Every accepted connection is read (any of them may be the left neighbour's, and a neighbour that
 * reconnects is a new connection); what each may queue is bounded (HIGH_WATER_MARK messages, then
 * its socket is paused: TCP's own flow control), and so is the number of connections.
 *
 * Threat model (as with ZeroMQ without CURVE): the header MAC stops a *blind* injector — anything
 * that can reach a worker's port but cannot read the ring's traffic (a stray client, a scanner, a
 * restarted worker of an old run). Without the secret it cannot produce a header that is accepted,
 * so its payload never reaches a gradient, and a header names exactly one (run, collective, step,
 * chunk, sender, size), so it cannot be replayed into another slot. Hashing every payload byte
 * would stop no one that the header mac does not already stop, and it is not cheap: measured on
 * the 2-core CI machine, node's HMAC-SHA256 runs at 1.7 GB/s (2.7 ms for 4.7 MB), more than half
 * of the 2-rank all-reduce's link bound, while a header mac costs about 3 µs per message. An
 * attacker who *can* read or alter traffic could splice a new payload under a valid header; on
 * untrusted networks use CurveZMQ (--curve-keys), which encrypts and authenticates every frame.
 *
 * Failure: every receive waits at most `timeoutMs` for the expected message (rogue messages and
 * connections do not extend the wait); connecting, and every send's hand-over to the kernel, wait
 * at most `timeoutMs` too. A send connection that breaks fails the next wait at once, naming the
 * right neighbour.
 */
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { HeaderCodec, MAX_HEADER_BYTES } from './header.js';
import { AllReduceError, AllReduceTimeoutError, PHASES, type RingStats, type Slot, type WireTransport } from './transport.js';

export interface TcpTransportArgs {
  run?: string;
  secret?: Buffer;
  bindHost?: string;
  advertiseHost?: string;
  timeoutMs: number;
  maxPayloadBytes: number;
}

/** Messages one connection may have waiting to be read before its socket is paused. */
const HIGH_WATER_MARK = 16;
/** Connections the receive port holds at once; more are refused (a neighbour needs one). */
const MAX_CONNECTIONS = 32;
/** How long close() lets queued bytes leave before the send socket is destroyed, ms. */
const CLOSE_LINGER_MS = 1000;
/** Pause between connection attempts while the right neighbour is not listening yet, ms. */
const RECONNECT_MS = 50;
const PREFIX_BYTES = 8;

interface Inbound {
  header: Buffer;
  payload: Buffer;
  conn: Connection;
}

/** One accepted connection: cuts its byte stream into messages. */
class Connection {
  queued = 0;
  private prefix = Buffer.alloc(PREFIX_BYTES);
  private have = 0;
  private state: 'prefix' | 'header' | 'payload' = 'prefix';
  private header = Buffer.alloc(0);
  private payload = Buffer.alloc(0);

  constructor(
    readonly socket: Socket,
    private readonly maxPayloadBytes: number,
    private readonly deliver: (m: Inbound) => void,
    private readonly reject: () => void,
  ) {
    socket.on('data', (d: Buffer) => this.consume(d));
  }

  /** The queue took one of our messages off: read on if we were paused. */
  taken(): void {
    this.queued--;
    if (this.queued < HIGH_WATER_MARK && this.socket.isPaused()) this.socket.resume();
  }

  private consume(d: Buffer): void {
    let at = 0;
    while (at < d.length) {
      if (this.state === 'prefix') {
        const n = Math.min(PREFIX_BYTES - this.have, d.length - at);
        d.copy(this.prefix, this.have, at, at + n);
        this.have += n;
        at += n;
        if (this.have < PREFIX_BYTES) return;
        const hb = this.prefix.readUInt32LE(0);
        const pb = this.prefix.readUInt32LE(4);
        if (hb > MAX_HEADER_BYTES || pb > this.maxPayloadBytes) {
          // Not a ring peer (or a broken one): nothing it sends can be framed any more.
          this.reject();
          this.socket.destroy();
          return;
        }
        this.header = Buffer.allocUnsafe(hb);
        // A fresh ArrayBuffer per payload: offset 0 (4-byte aligned for a Float32Array view), and
        // the receiver keeps it (the collective adds into it and forwards it as it is).
        this.payload = Buffer.allocUnsafeSlow(pb);
        this.have = 0;
        this.state = 'header';
      }
      if (this.state === 'header') {
        const n = Math.min(this.header.length - this.have, d.length - at);
        d.copy(this.header, this.have, at, at + n);
        this.have += n;
        at += n;
        if (this.have < this.header.length) return;
        this.have = 0;
        this.state = 'payload';
      }
      if (this.state === 'payload') {
        const n = Math.min(this.payload.length - this.have, d.length - at);
        d.copy(this.payload, this.have, at, at + n);
        this.have += n;
        at += n;
        if (this.have < this.payload.length) return;
        this.have = 0;
        this.state = 'prefix';
        this.queued++;
        if (this.queued >= HIGH_WATER_MARK) this.socket.pause();
        this.deliver({ header: this.header, payload: this.payload, conn: this });
      }
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

export class TcpTransport implements WireTransport {
  rank = 0;
  world = 1;
  readonly endpoint: string;
  readonly stats: RingStats = { bytesSent: 0, bytesReceived: 0, messagesSent: 0, messagesReceived: 0, messages: 0, rejected: 0, collectives: 0, lastDurationMs: 0 };
  closed = false;

  private readonly headers: HeaderCodec;
  private readonly timeoutMs: number;
  private readonly connections = new Set<Connection>();
  private readonly inbox: Inbound[] = [];
  private wake?: () => void;
  private out?: Socket;
  private outReady?: Promise<Socket>;
  private sendChain: Promise<void> = Promise.resolve();
  private sendError?: Error;
  /** Sends handed to the socket whose bytes are not yet all in the kernel. */
  private unwritten = 0;
  private written?: () => void;
  private lastSent?: Slot;
  /**
   * Why the send connection ended, if it did while nothing of ours was in flight: not a failure
   * yet (a right neighbour that finished the last collective may exit), but the next send fails.
   */
  private rightLost?: Error;

  private constructor(
    args: TcpTransportArgs,
    private readonly server: Server,
    endpoint: string,
  ) {
    this.headers = new HeaderCodec(args.run ?? '', args.secret);
    this.timeoutMs = args.timeoutMs;
    this.endpoint = endpoint;
    server.on('connection', (socket) => {
      if (this.closed) return void socket.destroy();
      socket.setNoDelay(true);
      const conn = new Connection(
        socket,
        args.maxPayloadBytes,
        (m) => {
          this.inbox.push(m);
          this.wake?.();
        },
        () => this.stats.rejected++,
      );
      this.connections.add(conn);
      socket.on('close', () => this.connections.delete(conn));
      socket.on('error', () => undefined); // a peer's reset: the close above cleans up
    });
  }

  /** Listens on a free port of args.bindHost. */
  static async bind(args: TcpTransportArgs): Promise<TcpTransport> {
    const server = createServer();
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
    return this.outReady !== undefined;
  }

  /** Starts connecting to the right neighbour (retried until timeoutMs while it refuses). */
  connect(rightEndpoint: string): void {
    if (this.closed) throw new AllReduceError('ring: closed');
    if (this.outReady) throw new AllReduceError('ring: already connected');
    const { host, port } = parseTcpEndpoint(rightEndpoint);
    const deadline = performance.now() + this.timeoutMs;
    const right = () => (this.rank + 1) % this.world;
    this.outReady = new Promise<Socket>((resolve, reject) => {
      const attempt = () => {
        if (this.closed) return reject(new AllReduceError('ring: closed'));
        const socket = netConnect({ host, port, noDelay: true });
        socket.once('connect', () => {
          socket.off('error', retry);
          socket.on('error', (e) => this.lostRight(new AllReduceError(`ring rank ${this.rank}: the connection to rank ${right()} failed (${(e as NodeJS.ErrnoException).code ?? e.message})`)));
          socket.on('close', () => this.lostRight(new AllReduceError(`ring rank ${this.rank}: the connection to rank ${right()} closed`)));
          this.out = socket;
          resolve(socket);
        });
        const retry = (e: Error) => {
          socket.destroy();
          if (performance.now() + RECONNECT_MS >= deadline) reject(new AllReduceError(`ring rank ${this.rank}: could not connect to rank ${right()} at ${rightEndpoint} within ${this.timeoutMs} ms (${(e as NodeJS.ErrnoException).code ?? e.message})`));
          else setTimeout(attempt, RECONNECT_MS);
        };
        socket.once('error', retry);
      };
      attempt();
    });
    // The failure surfaces through the next send or flush; keep it from being "unhandled" meanwhile.
    this.outReady.catch((e: Error) => this.failSend(e));
  }

  /** Closes the port, every connection and (after its queued bytes left, at most 1 s) the send socket. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.server.close();
    for (const c of this.connections) c.socket.destroy();
    const out = this.out;
    if (out) {
      out.removeAllListeners('close');
      out.end();
      setTimeout(() => out.destroy(), CLOSE_LINGER_MS).unref();
    }
    this.wake?.();
  }

  send(slot: Slot, payload: Uint8Array): void {
    const header = this.headers.pack(slot, this.rank, payload.byteLength);
    const prefix = Buffer.allocUnsafe(PREFIX_BYTES);
    prefix.writeUInt32LE(header.length, 0);
    prefix.writeUInt32LE(payload.byteLength, 4);
    this.sendChain = this.sendChain.then(async () => {
      if (this.rightLost) this.failSend(this.rightLost);
      if (this.sendError) return;
      let socket: Socket;
      try {
        socket = await this.outReady!;
      } catch {
        return; // failSend has the reason
      }
      // cork/uncork: the three writes leave as one writev; the payload is written from the
      // caller's memory (no copy), which the Transport contract leaves to us until flush().
      this.unwritten++;
      this.lastSent = slot;
      socket.cork();
      socket.write(prefix);
      socket.write(header);
      socket.write(payload, () => {
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
    if (this.unwritten === 0) return;
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
    if (this.sendError) throw this.sendError;
  }

  /**
   * Waits for the expected message from the left neighbour and returns its payload. Anything else
   * that arrives meanwhile is dropped and counted. Waits at most timeoutMs in all.
   */
  async receive(slot: Slot, payloadBytes: number): Promise<Uint8Array> {
    const from = (this.rank - 1 + this.world) % this.world;
    const deadline = performance.now() + this.timeoutMs;
    for (;;) {
      if (this.sendError) throw this.sendError;
      if (this.closed) throw new AllReduceError('ring: closed during a collective');
      const m = this.inbox.shift();
      if (m) {
        m.conn.taken();
        if (this.headers.accepts(m.header, m.payload.length, slot, from, payloadBytes)) {
          this.stats.bytesReceived += PREFIX_BYTES + m.header.length + m.payload.length;
          this.stats.messagesReceived++;
          this.stats.messages++;
          return m.payload;
        }
        this.stats.rejected++;
        continue;
      }
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
}
