/**
 * What the collectives (schedule.ts) need of the wire, and nothing more: a FIFO pipe to the right
 * neighbour and one from the left, addressed by message slots. The ZeroMQ implementation is
 * zmq-transport.ts; tests use an in-memory one (tests/helpers/memory-transport.ts).
 */

/** Where a message belongs: exactly one slot per message of a collective. */
export interface Slot {
  /** The collective's number on this ring (0, 1, 2, …; every rank advances alike). */
  seq: number;
  /** RS, AG, BC or FL. */
  phase: number;
  /** The step within the phase (broadcast: the sender's distance from the root). */
  step: number;
  /** The chunk's index within its segment (broadcast: within the buffer). */
  chunk: number;
  /** Elements in the payload (floats for all-reduce, bytes for broadcast). */
  n: number;
}

export const RS = 0;
export const AG = 1;
export const BC = 2;
/** The sharded step's verdicts (schedule.ts, agree): one byte per message. */
export const FL = 3;
export type RingPhase = 'reduce-scatter' | 'all-gather' | 'broadcast' | 'verdict';
export const PHASES: RingPhase[] = ['reduce-scatter', 'all-gather', 'broadcast', 'verdict'];

export interface Transport {
  readonly rank: number;
  readonly world: number;
  /**
   * True when, once flush() resolves, the transport reads no payload handed to send() any more
   * (TCP: the bytes are in the kernel). False when it may still read them later (ZeroMQ sends a
   * Buffer without copying it, from its own I/O thread): then a caller's buffer may be sent as it
   * is only where causality shows it is not written before the neighbour has received it.
   */
  readonly flushMeansSent: boolean;
  /**
   * Queues `payload` for the right neighbour (rank + 1) under `slot` and returns at once; messages
   * leave in the order queued. The transport owns `payload` from now on: the caller must not write
   * it again (ZeroMQ sends it without a copy, some time later). schedule.ts hands over a view of
   * the caller's buffer only where it can show that nothing writes those bytes before the
   * neighbour has received them.
   */
  send(slot: Slot, payload: Uint8Array): void;
  /**
   * The payload of the message `slot` from the left neighbour (rank − 1), exactly `bytes` long,
   * 4-byte aligned, and the caller's to keep or change. Anything else that arrives meanwhile is
   * dropped. Rejects with AllReduceTimeoutError after the transport's timeout, or AllReduceError.
   */
  receive(slot: Slot, bytes: number): Promise<Uint8Array>;
  /** Resolves when every queued send has been handed to the wire; rejects with the first send failure. */
  flush(): Promise<void>;
  /**
   * Gives back a payload `receive` returned that the caller will neither send nor touch again, so
   * the transport may reuse its memory (optional: without it the payload is garbage).
   */
  release?(payload: Uint8Array): void;
  /**
   * A buffer of `bytes` to fill and hand to `send`, from memory the transport reuses (optional:
   * without it the caller allocates).
   */
  allocate?(bytes: number): Uint8Array;
}

/** Counters of one ring instance's traffic. */
export interface RingStats {
  /** Bytes handed to the wire (headers, framing and payloads). */
  bytesSent: number;
  /** Bytes of accepted messages (headers, framing and payloads). */
  bytesReceived: number;
  messagesSent: number;
  messagesReceived: number;
  /** messagesSent + messagesReceived. */
  messages: number;
  /** Messages dropped: undecodable, bad mac, not the expected one, or cut off as oversized. */
  rejected: number;
  /** Collectives started (the next collective's seq). */
  collectives: number;
  /** Wall time of the last completed collective, ms. */
  lastDurationMs: number;
}

/** Counters at zero. */
export function emptyRingStats(): RingStats {
  return { bytesSent: 0, bytesReceived: 0, messagesSent: 0, messagesReceived: 0, messages: 0, rejected: 0, collectives: 0, lastDurationMs: 0 };
}

/** A transport over a real wire: bound before the rank is known, then connected to the right neighbour. */
export interface WireTransport extends Transport {
  rank: number;
  world: number;
  /** `tcp://host:port` of this rank's receive side. */
  readonly endpoint: string;
  readonly stats: RingStats;
  readonly connected: boolean;
  /** Joins the ring: `peers[k]` is rank k's endpoint (each transport picks the neighbours it needs). */
  connect(peers: readonly string[]): void;
  /** Closes everything; idempotent. A receive in progress rejects. */
  close(): void;
}

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
  constructor(
    message: string,
    /** The neighbour whose connection closed, failed or sent garbage, when one is to blame. */
    readonly peer?: number,
  ) {
    super(message);
  }
}
