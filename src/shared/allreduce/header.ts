/**
 * The ring's message header, the same for every transport (tcp-transport.ts, zmq-transport.ts):
 * a msgpack map {run, seq, phase, step, chunk, from, n, mac}, what each field means, its MAC, and
 * the one check that decides whether a message is exactly the expected one. The threat model the
 * MAC answers is described in tcp-transport.ts.
 *
 *   run    string, the run id; messages of another run are dropped
 *   seq    the collective's number on this instance (0, 1, 2, …; every rank advances alike)
 *   phase  0 reduce-scatter, 1 all-gather, 2 broadcast, 3 the sharded step's verdicts
 *   step   the step within the phase (broadcast: the sender's distance from the root)
 *   chunk  the chunk's index within its segment (broadcast: within the buffer)
 *   from   the sender's rank
 *   n      elements in the payload (floats for all-reduce, bytes for broadcast)
 *   mac    16 bytes, HMAC-SHA256(secret, JSON [run, seq, phase, step, chunk, from, n, payload
 *          bytes]) truncated; absent when no secret is configured
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Packr } from 'msgpackr';
import type { Slot } from './transport.js';

/** A header frame longer than this is dropped without being decoded. */
export const MAX_HEADER_BYTES = 512;
const MAC_BYTES = 16;

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

/** Packs and checks headers for one ring instance (its run id and secret). */
export class HeaderCodec {
  private readonly packr = new Packr({ useRecords: false, mapsAsObjects: true });

  constructor(
    private readonly run: string,
    private readonly secret?: Buffer,
  ) {}

  /** The header of message `slot` sent by rank `from` with a payload of `payloadBytes`. */
  pack(slot: Slot, from: number, payloadBytes: number): Buffer {
    const h: Header = { run: this.run, seq: slot.seq, phase: slot.phase, step: slot.step, chunk: slot.chunk, from, n: slot.n };
    if (this.secret) h.mac = this.macOf(slot, from, payloadBytes);
    return this.packr.pack(h);
  }

  /**
   * Whether `header` (with a payload of `payloadBytes`) is exactly message `exp` from rank `from`
   * of this run, its mac right when a secret is set. Never throws on any bytes.
   */
  accepts(header: Uint8Array, payloadBytes: number, exp: Slot, from: number, expectedPayloadBytes: number): boolean {
    if (header.length > MAX_HEADER_BYTES || payloadBytes !== expectedPayloadBytes) return false;
    let h: unknown;
    try {
      h = this.packr.unpack(header);
    } catch {
      return false;
    }
    if (typeof h !== 'object' || h === null) return false;
    const m = h as Partial<Header>;
    if (m.run !== this.run || m.seq !== exp.seq || m.phase !== exp.phase || m.step !== exp.step || m.chunk !== exp.chunk || m.from !== from || m.n !== exp.n) return false;
    if (this.secret) {
      if (!(m.mac instanceof Uint8Array) || m.mac.length !== MAC_BYTES) return false;
      if (!timingSafeEqual(this.macOf(exp, from, payloadBytes), m.mac)) return false;
    }
    return true;
  }

  private macOf(s: Slot, from: number, payloadBytes: number): Buffer {
    const canonical = JSON.stringify([this.run, s.seq, s.phase, s.step, s.chunk, from, s.n, payloadBytes]);
    return createHmac('sha256', this.secret!).update(canonical).digest().subarray(0, MAC_BYTES);
  }
}
