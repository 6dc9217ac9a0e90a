/**
 * An in-memory ring of `Transport`s for testing the collectives (src/shared/allreduce/schedule.ts)
 * without sockets: each rank's sends land, copied as a wire would copy them, in its right
 * neighbour's FIFO inbox. A receive takes the next message and fails loudly when it is not the one
 * expected (a schedule bug: over a real FIFO pipe the peer would be stuck or reject it), or when
 * none comes within `timeoutMs`.
 */
import { AllReduceTimeoutError, PHASES, type Slot, type Transport } from '../../src/shared/allreduce/transport.js';

interface Message {
  slot: Slot;
  from: number;
  payload: Uint8Array;
}

export class MemoryTransport implements Transport {
  /** send() copies at once. */
  readonly flushMeansSent = true;
  /** Every message this rank sent, in order. */
  readonly sent: { slot: Slot; bytes: number }[] = [];
  private readonly inbox: Message[] = [];
  private waiter?: () => void;
  private right!: MemoryTransport;

  private constructor(
    readonly rank: number,
    readonly world: number,
    private readonly timeoutMs: number,
  ) {}

  /** `world` transports wired in a ring. */
  static ring(world: number, timeoutMs = 5_000): MemoryTransport[] {
    const ts = Array.from({ length: world }, (_, r) => new MemoryTransport(r, world, timeoutMs));
    ts.forEach((t, r) => (t.right = ts[(r + 1) % world]));
    return ts;
  }

  send(slot: Slot, payload: Uint8Array): void {
    this.sent.push({ slot: { ...slot }, bytes: payload.byteLength });
    // An owned, aligned copy, as the receiving end of a socket gets.
    const copy = new Uint8Array(new ArrayBuffer(payload.byteLength));
    copy.set(payload);
    this.right.inbox.push({ slot: { ...slot }, from: this.rank, payload: copy });
    this.right.waiter?.();
  }

  async receive(slot: Slot, bytes: number): Promise<Uint8Array> {
    const deadline = Date.now() + this.timeoutMs;
    while (this.inbox.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new AllReduceTimeoutError(this.rank, (this.rank - 1 + this.world) % this.world, 'receive', slot.seq, PHASES[slot.phase], slot.step, slot.chunk, this.timeoutMs);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          this.waiter = undefined;
          resolve();
        };
      });
    }
    const m = this.inbox.shift()!;
    const want = JSON.stringify({ ...slot, from: (this.rank - 1 + this.world) % this.world, bytes });
    const got = JSON.stringify({ ...m.slot, from: m.from, bytes: m.payload.byteLength });
    if (want !== got) throw new Error(`rank ${this.rank}: expected ${want}, the pipe holds ${got}`);
    return m.payload;
  }

  async flush(): Promise<void> {}
}
