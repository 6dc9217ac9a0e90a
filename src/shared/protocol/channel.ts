/**
 * zeromq.js sockets allow one pending send and one pending receive at a time ("Socket is busy"),
 * so each socket gets one send queue and one receive loop. `Inbox` turns the loop's deliveries
 * into awaitable `next(timeout)` calls; every wait has a timeout.
 */
import type * as zmq from 'zeromq';
import { decodeMessage, ProtocolError } from './codec.js';
import type { Message } from './messages.js';

/** Thrown by `Inbox.next` when nothing arrives in time; names what was awaited. */
export class ReceiveTimeoutError extends Error {}

/** Serialises sends on one socket. */
export class SendQueue {
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly socket: zmq.Writable) {}

  /** Queues `frames`; resolves when zeromq has taken them. Errors reject this send only. */
  send(frames: (Buffer | Uint8Array)[]): Promise<void> {
    const next = this.tail.then(() => this.socket.send(frames));
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** Statistics of a receive loop: what was dropped and why. */
export interface ReceiveStats {
  received: number;
  rejected: number;
  lastRejection?: string;
}

/**
 * Reads `socket` until it closes, decoding each frame set with `secret`. Well-formed, authentic
 * messages go to `deliver`; anything else is dropped and counted. `envelope` is how many leading
 * frames are routing identity (1 for a ROUTER, 0 for a DEALER).
 */
export async function receiveLoop<T extends Message>(
  socket: zmq.Readable & { closed: boolean },
  secret: Buffer,
  envelope: 0 | 1,
  deliver: (m: { msg: T; raw: Buffer[]; identity?: Buffer }) => void,
  stats: ReceiveStats,
): Promise<void> {
  for (;;) {
    let frames: Buffer[];
    try {
      frames = await socket.receive();
    } catch (err) {
      if (socket.closed || (err as { code?: string }).code === 'EAGAIN') {
        if (socket.closed) return;
        continue;
      }
      throw err;
    }
    stats.received++;
    const identity = envelope ? frames[0] : undefined;
    try {
      const { msg, raw } = decodeMessage<T>(frames.slice(envelope), secret);
      deliver({ msg, raw, identity });
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      stats.rejected++;
      stats.lastRejection = err.message;
    }
  }
}

/** A queue of received messages with timed waits. */
export class Inbox<T> {
  private readonly items: T[] = [];
  private waiter: ((v: T) => void) | undefined;
  private failure: Error | undefined;
  private failWaiter: ((e: Error) => void) | undefined;

  push(item: T): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = this.failWaiter = undefined;
      w(item);
    } else this.items.push(item);
  }

  /** True once `fail` was called: every `next` rejects. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Whether an item matching `pred` is queued (a stop waiting behind a run of steps). */
  has(pred: (item: T) => boolean): boolean {
    return this.items.some(pred);
  }

  /** Drops everything queued (messages of a generation of workers that is gone). */
  drain(): void {
    this.items.length = 0;
  }

  /** Makes every pending and future `next` reject with `err` (socket gone, coordinator lost). */
  fail(err: Error): void {
    this.failure ??= err;
    if (this.failWaiter) {
      const f = this.failWaiter;
      this.waiter = this.failWaiter = undefined;
      f(err);
    }
  }

  /**
   * The next item, or a ReceiveTimeoutError naming `what` after `timeoutMs`. `Infinity` sets no
   * timer: the wait ends on an item or on `fail` (for waits a watchdog bounds).
   */
  next(timeoutMs: number, what: string): Promise<T> {
    if (this.items.length) return Promise.resolve(this.items.shift()!);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      const timer = Number.isFinite(timeoutMs) ? setTimeout(() => {
        this.waiter = this.failWaiter = undefined;
        reject(new ReceiveTimeoutError(`no ${what} within ${(timeoutMs / 1000).toFixed(1)} s`));
      }, timeoutMs) : undefined;
      this.waiter = (v) => {
        clearTimeout(timer);
        resolve(v);
      };
      this.failWaiter = (e) => {
        clearTimeout(timer);
        reject(e);
      };
    });
  }
}

