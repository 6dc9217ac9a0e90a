/**
 * The ring's transport between ranks of one host: shared memory instead of sockets, as NCCL's
 * shared-memory transport. Same `Transport` contract as tcp-transport.ts, so schedule.ts (the
 * order of additions, the verdict, the sharded update) is unchanged and a ring over shared memory
 * gives the very bits a TCP ring gives.
 *
 * Layout (shm-region.ts): each rank owns one *inbound* region, a file in /dev/shm created O_EXCL
 * at bind (before the rank is known), that its left neighbour writes and it reads: control words
 * and a byte ring of records.
 * The left neighbour maps the region at connect, checks the MAC (it is the region of a rank of
 * this run) and unlinks the name at once: from then on the memory lives exactly as long as the two
 * mappings, so no segment outlives a crash. A region nobody opened is unlinked by its owner at
 * close, and one left by a killed process before that (its pid dead) by the next bind on the host.
 *
 * Copies: a send copies the payload into the ring (the one copy a wire needs); receive hands out a
 * view of the ring itself, which the schedule adds into in place and either releases or forwards
 * (a forward copies it into the next ring and releases it). The tail advances over the released
 * prefix of records; the writer waits for space when the ring is full (TCP's flow control).
 *
 * Waiting: a reader with nothing to read, or a writer with no room, spins for SPIN_US and then
 * waits on the region's doorbell word with a futex on libuv's thread pool (shm-memory.ts): no core
 * is held. Each wait is bounded by the transport's timeout (AllReduceTimeoutError naming the rank
 * waited on) and cut into slices in which a dead peer (its pid gone) or a closed link is seen,
 * failing the collective with AllReduceError naming the peer, as a broken TCP connection does.
 *
 * Threat model: both processes belong to the same user on the same host (mode 0600, O_EXCL,
 * O_NOFOLLOW); anyone who can open the file can already read the worker's memory. The MAC does not
 * defend against that user: it makes sure a rank writes only into a region made by a rank of its
 * own run (not a stale one, nor another run's). Bytes that cross hosts never travel here.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { SharedMapping, SHM_DIR } from './shm-memory.js';
import {
  align64, DATA_OFFSET, ENDPOINT, HEADER_BYTES, hostKey, KIND_MESSAGE, KIND_WRAP, Link, MAC_OFFSET_BYTES, macOf, MAGIC, PID_NAMESPACE, PREFIX, ringCapacity, sweepStaleRegions, alive,
  W_CAPACITY, W_CLOSED, W_DATA_BELL, W_HEAD, W_MAGIC, W_OWNER_PID, W_OWNER_PIDNS, W_SPACE_BELL, W_TAIL, W_WRITER_PID, W_WRITER_PIDNS, type RingRecord,
} from './shm-region.js';

export { endpointHostKey, hostKey, ringCapacity, sweepStaleRegions } from './shm-region.js';
import { AllReduceError, AllReduceTimeoutError, emptyRingStats, PHASES, type RingStats, type Slot, type WireTransport } from './transport.js';

/**
 * How long a waiter spins before it sleeps on the futex, µs: a thread-pool hop costs ~40 µs, and the
 * neighbour's next chunk is usually closer than that. Measured (9.4 MB, N = 2, bench all-reduce child,
 * idle 2-core machine): 200 µs 3.1-4.2 ms against 4.9-5.3 ms at 30 µs; 0.2 MB 0.20-0.29 against 0.38-0.69.
 */
const SPIN_US = 200;

export interface ShmTransportArgs {
  /** Address the ring's sockets bind (part of the host key). Default 127.0.0.1. */
  bindHost?: string;
  /** Secret of the run: the region's name is MACed with it. */
  secret?: Buffer;
  timeoutMs: number;
  /** Largest payload of one message, bytes. */
  maxPayloadBytes: number;
}

export class ShmTransport implements WireTransport {
  rank = 0;
  world = 2;
  readonly flushMeansSent = true;
  readonly stats: RingStats = emptyRingStats();
  /** This rank's inbound region's name: what the left neighbour opens (told to it by the coordinator). */
  readonly endpoint: string;

  private inbound: Link;
  private outbound?: Link;
  private readonly timeoutMs: number;
  private closed = false;
  private failure?: Error;
  private unlinked = false;
  // Reader side.
  private cursor = 0;
  private readonly records: RingRecord[] = [];
  private readonly views = new Map<Uint8Array, RingRecord>();
  private tail = 0;
  // Writer side.
  private pos = 0;
  private readonly queue: { slot: Slot; payload: Uint8Array }[] = [];
  private pumping = false;
  private flushers: { resolve: () => void; reject: (e: Error) => void }[] = [];
  /** Waits in flight on the thread pool; the mappings are unmapped only when none is. */
  private waits = 0;

  private constructor(
    name: string,
    private readonly args: ShmTransportArgs,
  ) {
    this.endpoint = `shm://${name}/${hostKey(args.bindHost ?? '127.0.0.1')}`;
    this.timeoutMs = args.timeoutMs;
    const cap = ringCapacity(args.maxPayloadBytes);
    const map = SharedMapping.create(join(SHM_DIR, name), DATA_OFFSET + cap);
    const w = map.words;
    w[W_OWNER_PID] = process.pid;
    w[W_OWNER_PIDNS] = PID_NAMESPACE;
    w[W_CAPACITY] = cap;
    new Uint8Array(map.bytes).set(macOf(args.secret, name), MAC_OFFSET_BYTES);
    Atomics.store(w, W_MAGIC, MAGIC);
    this.inbound = new Link(map);
  }

  /** Creates this rank's inbound region (and first removes regions dead processes left). */
  static bind(args: ShmTransportArgs): ShmTransport {
    sweepStaleRegions();
    return new ShmTransport(`${PREFIX}${process.pid}-${randomBytes(8).toString('hex')}`, args);
  }

  get connected(): boolean {
    return this.outbound !== undefined;
  }

  /** Maps the right neighbour's inbound region (its endpoint, peers[rank + 1]): every link of this ring is shared memory. */
  connect(peers: readonly string[]): void {
    this.openRight(peers[(this.rank + 1) % this.world] ?? '');
  }

  /**
   * Maps the right neighbour's inbound region, given its endpoint (`shm://name/hostkey`), checks
   * that a rank of this run made it, and unlinks its name.
   */
  openRight(endpoint: string): void {
    if (this.closed) throw new AllReduceError('shm ring: closed');
    const right = (this.rank + 1) % this.world;
    const m = ENDPOINT.exec(endpoint);
    if (!m) throw new AllReduceError(`shm ring rank ${this.rank}: rank ${right}'s endpoint ${JSON.stringify(endpoint)} is not a shared-memory region`, right);
    const path = join(SHM_DIR, m[1]);
    let map: SharedMapping;
    try {
      map = SharedMapping.open(path, DATA_OFFSET);
    } catch (e) {
      throw new AllReduceError(`shm ring rank ${this.rank}: cannot open rank ${right}'s region ${path} (${(e as Error).message}); is it on another host or in another /dev/shm? use --data-plane tcp`, right);
    }
    const cap = map.words[W_CAPACITY];
    const ok = Atomics.load(map.words, W_MAGIC) === MAGIC && cap === ringCapacity(this.args.maxPayloadBytes)
      && timingSafeEqual(Buffer.from(map.bytes, MAC_OFFSET_BYTES, 16), macOf(this.args.secret, m[1]));
    map.unmap();
    if (!ok) throw new AllReduceError(`shm ring rank ${this.rank}: ${path} is not a region of this run (magic, size or MAC differ)`, right);
    const full = SharedMapping.open(path, DATA_OFFSET + cap);
    Atomics.store(full.words, W_WRITER_PIDNS, PID_NAMESPACE);
    Atomics.store(full.words, W_WRITER_PID, process.pid);
    try {
      unlinkSync(path); // both mappings hold the memory now; no name is left to outlive a crash
    } catch {
      // the owner closed meanwhile; the first wait on the link will say so
    }
    this.outbound = new Link(full);
  }

  /**
   * Called with each payload that was not a view of this transport's own ring, once its bytes are
   * copied into the right neighbour's ring (host-transport.ts gives a socket's buffer back to its pool).
   */
  afterCopy?: (payload: Uint8Array) => void;

  /** True when `payload` is a view of this transport's inbound ring, not yet released. */
  owns(payload: Uint8Array): boolean {
    return this.views.has(payload);
  }

  send(slot: Slot, payload: Uint8Array): void {
    if (this.closed || this.failure) return;
    this.queue.push({ slot, payload });
    this.pump();
    if (this.queue.length > 0 && this.views.has(payload)) {
      // A chunk of our ring forwarded while the right neighbour's ring is full: move it to the heap
      // and free its room now. Otherwise two neighbours whose rings are full of chunks queued for
      // each other would wait on each other forever (N = 2, a segment larger than the ring).
      const copy = Buffer.allocUnsafeSlow(payload.byteLength);
      copy.set(payload);
      this.queue[this.queue.length - 1].payload = copy;
      this.release(payload);
    }
  }

  async receive(slot: Slot, bytes: number): Promise<Uint8Array> {
    const left = (this.rank - 1 + this.world) % this.world;
    const link = this.inbound;
    const deadline = performance.now() + this.timeoutMs;
    for (;;) {
      this.check();
      const head = Atomics.load(link.w, W_HEAD);
      if (((head - this.cursor) | 0) > 0) {
        const off = this.cursor & (link.cap - 1);
        const h = new Int32Array(link.map.bytes, DATA_OFFSET + off, 8);
        if (h[0] === KIND_WRAP) {
          this.records.push({ end: this.cursor + link.cap - off, released: true });
          this.cursor += link.cap - off;
          continue;
        }
        const len = h[1];
        const rec: RingRecord = { end: this.cursor + align64(HEADER_BYTES + len), released: false };
        this.cursor = rec.end;
        this.records.push(rec);
        if (h[0] !== KIND_MESSAGE || h[2] !== slot.seq || h[3] !== slot.phase || h[4] !== slot.step || h[5] !== slot.chunk || h[6] !== slot.n || len !== bytes) {
          this.stats.rejected++;
          throw this.fail(new AllReduceError(`shm ring rank ${this.rank}: rank ${left} wrote ${h[0] === KIND_MESSAGE ? `seq ${h[2]} ${PHASES[h[3]] ?? h[3]} step ${h[4]} chunk ${h[5]} (${len} bytes)` : `a record of kind ${h[0]}`} where seq ${slot.seq} ${PHASES[slot.phase]} step ${slot.step} chunk ${slot.chunk} (${bytes} bytes) was due`, left));
        }
        const view = new Uint8Array(link.map.bytes, DATA_OFFSET + off + HEADER_BYTES, len);
        this.views.set(view, rec);
        this.stats.messagesReceived++;
        this.stats.messages++;
        this.stats.bytesReceived += HEADER_BYTES + len;
        return view;
      }
      if (link.peerClosed()) throw this.fail(new AllReduceError(`shm ring rank ${this.rank}: rank ${left} closed its link`, left));
      const bell = Atomics.load(link.w, W_DATA_BELL);
      if (((Atomics.load(link.w, W_HEAD) - this.cursor) | 0) > 0) continue;
      if (await this.spin(() => ((Atomics.load(link.w, W_HEAD) - this.cursor) | 0) > 0)) continue;
      const left_ms = deadline - performance.now();
      if (left_ms <= 0) {
        throw this.fail(new AllReduceTimeoutError(this.rank, left, 'receive', slot.seq, PHASES[slot.phase], slot.step, slot.chunk, this.timeoutMs));
      }
      if (link.w[W_WRITER_PIDNS] === PID_NAMESPACE) this.checkAlive(link.w[W_WRITER_PID], left);
      await this.sleep(link, W_DATA_BELL, bell, left_ms);
    }
  }

  release(payload: Uint8Array): void {
    const rec = this.views.get(payload);
    if (!rec) return;
    this.views.delete(payload);
    rec.released = true;
    let moved = false;
    while (this.records.length > 0 && this.records[0].released) {
      this.tail = this.records.shift()!.end;
      moved = true;
    }
    if (moved && !this.closed) {
      const w = this.inbound.w;
      Atomics.store(w, W_TAIL, this.tail | 0);
      Atomics.add(w, W_SPACE_BELL, 1);
      this.inbound.map.wake(W_SPACE_BELL);
    }
  }

  flush(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.flushers.push({ resolve, reject }));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const link of [this.inbound, this.outbound]) {
      if (!link) continue;
      Atomics.store(link.w, W_CLOSED, 1);
      Atomics.add(link.w, W_DATA_BELL, 1);
      Atomics.add(link.w, W_SPACE_BELL, 1);
      link.map.wake(W_DATA_BELL);
      link.map.wake(W_SPACE_BELL);
    }
    this.unlinkInbound();
    this.failFlushers(new AllReduceError('shm ring: closed'));
    this.views.clear();
    this.unmapWhenIdle();
  }

  // ---------------------------------------------------------------------------------------------

  /** Copies queued messages into the right neighbour's ring while there is room; waits for room otherwise. */
  private pump(): void {
    const link = this.outbound;
    if (!link || this.pumping) return;
    let wrote = false;
    while (this.queue.length > 0) {
      const { slot, payload } = this.queue[0];
      const size = align64(HEADER_BYTES + payload.byteLength);
      const off = this.pos & (link.cap - 1);
      const waste = off + size > link.cap ? link.cap - off : 0;
      const used = (this.pos - Atomics.load(link.w, W_TAIL)) | 0;
      if (link.cap - used < waste + size) {
        if (wrote) this.publish(link);
        wrote = false;
        void this.waitForRoom(link, slot, waste + size);
        return;
      }
      if (waste > 0) {
        new Int32Array(link.map.bytes, DATA_OFFSET + off, 8)[0] = KIND_WRAP;
        this.pos += waste;
      }
      const at = this.pos & (link.cap - 1);
      const h = new Int32Array(link.map.bytes, DATA_OFFSET + at, 8);
      h[0] = KIND_MESSAGE;
      h[1] = payload.byteLength;
      h[2] = slot.seq;
      h[3] = slot.phase;
      h[4] = slot.step;
      h[5] = slot.chunk;
      h[6] = slot.n;
      link.u8.set(payload, DATA_OFFSET + at + HEADER_BYTES);
      this.pos += size;
      Atomics.store(link.w, W_HEAD, this.pos | 0);
      this.queue.shift();
      if (this.views.has(payload)) this.release(payload); // a forwarded chunk of our own ring: its room is free now
      else this.afterCopy?.(payload);
      this.stats.messagesSent++;
      this.stats.messages++;
      this.stats.bytesSent += HEADER_BYTES + payload.byteLength;
      wrote = true;
    }
    if (wrote) this.publish(link);
    const done = this.flushers;
    this.flushers = [];
    for (const f of done) f.resolve();
  }

  private publish(link: Link): void {
    Atomics.add(link.w, W_DATA_BELL, 1);
    link.map.wake(W_DATA_BELL);
  }

  private async waitForRoom(link: Link, slot: Slot, need: number): Promise<void> {
    const right = (this.rank + 1) % this.world;
    this.pumping = true;
    const deadline = performance.now() + this.timeoutMs;
    const room = () => link.cap - ((this.pos - Atomics.load(link.w, W_TAIL)) | 0) >= need;
    try {
      for (;;) {
        this.check();
        if (room()) break;
        if (link.peerClosed()) throw new AllReduceError(`shm ring rank ${this.rank}: rank ${right} closed its link`, right);
        const bell = Atomics.load(link.w, W_SPACE_BELL);
        if (room() || (await this.spin(room))) break;
        const left_ms = deadline - performance.now();
        if (left_ms <= 0) throw new AllReduceTimeoutError(this.rank, right, 'send', slot.seq, PHASES[slot.phase], slot.step, slot.chunk, this.timeoutMs);
        if (link.w[W_OWNER_PIDNS] === PID_NAMESPACE) this.checkAlive(link.w[W_OWNER_PID], right);
        await this.sleep(link, W_SPACE_BELL, bell, left_ms);
      }
    } catch (e) {
      this.pumping = false;
      this.failFlushers(this.fail(e as Error));
      return;
    }
    this.pumping = false;
    this.pump();
  }

  /** Spins up to SPIN_US for `ready`, yielding nothing (the data is usually microseconds away). */
  private async spin(ready: () => boolean): Promise<boolean> {
    const until = performance.now() + SPIN_US / 1000;
    while (performance.now() < until) if (ready()) return true;
    return false;
  }

  private async sleep(link: Link, word: number, value: number, ms: number): Promise<void> {
    this.waits++;
    try {
      await link.map.waitWhile(word, value, ms);
    } finally {
      this.waits--;
      if (this.closed) this.unmapWhenIdle();
    }
  }

  private checkAlive(pid: number, peer: number): void {
    if (pid > 0 && !alive(pid)) throw this.fail(new AllReduceError(`shm ring rank ${this.rank}: rank ${peer} (pid ${pid}) is gone`, peer));
  }

  private check(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new AllReduceError('shm ring: closed');
  }

  private fail(e: Error): Error {
    this.failure ??= e;
    return e;
  }

  private failFlushers(e: Error): void {
    const f = this.flushers;
    this.flushers = [];
    for (const x of f) x.reject(e);
  }

  /** Removes this rank's region's name (no left neighbour will open it: the link from it is a socket). */
  unlinkInbound(): void {
    if (this.unlinked) return;
    this.unlinked = true;
    try {
      unlinkSync(this.inbound.map.path);
    } catch {
      // already unlinked by the left neighbour
    }
  }

  private unmapWhenIdle(): void {
    if (this.waits > 0) return;
    this.inbound.map.unmap();
    this.outbound?.map.unmap();
  }
}
