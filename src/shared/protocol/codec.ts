/**
 * Framing and authentication of control messages.
 *
 * A message travels as frames [body, mac, ...raw]: body is the msgpack-encoded message, raw are
 * bulk byte frames (images, checkpoint files), mac = HMAC-SHA256(secret, body ‖ raw…) truncated to
 * 16 bytes. Locally spawned workers get a per-run random secret; remote ones a token. A frame set
 * that does not decode, fails its mac or is not a well-formed message is rejected (the caller drops
 * it and counts it) and is never acted on.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Packr } from 'msgpackr';
import { validateMessage, type Message } from './messages.js';

const MAC_BYTES = 16;
// Plain maps only: no records/structures extension, so any msgpack peer can speak the protocol.
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** Thrown by `decodeMessage`; the message says why, in one line. */
export class ProtocolError extends Error {}

function mac(secret: Buffer, body: Uint8Array, raw: readonly Uint8Array[]): Buffer {
  const h = createHmac('sha256', secret);
  h.update(body);
  for (const r of raw) {
    // Length-prefix each raw frame so frames can't be re-split without changing the mac.
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(BigInt(r.byteLength));
    h.update(len);
    h.update(r);
  }
  return h.digest().subarray(0, MAC_BYTES);
}

/** Encodes and signs a message with optional raw frames. */
export function encodeMessage(msg: Message, secret: Buffer, raw: readonly Uint8Array[] = []): Buffer[] {
  const body = packr.pack(msg);
  return [body, mac(secret, body, raw), ...raw.map((r) => Buffer.from(r.buffer, r.byteOffset, r.byteLength))];
}

/** Verifies, decodes and validates a frame set; throws ProtocolError when anything is off. */
export function decodeMessage<T extends Message = Message>(frames: readonly Buffer[], secret: Buffer): { msg: T; raw: Buffer[] } {
  if (frames.length < 2) throw new ProtocolError(`expected at least 2 frames, got ${frames.length}`);
  const [body, tag, ...raw] = frames;
  if (tag.byteLength !== MAC_BYTES) throw new ProtocolError('bad mac length');
  if (!timingSafeEqual(tag, mac(secret, body, raw))) throw new ProtocolError('mac mismatch (wrong token or altered message)');
  let msg: unknown;
  try {
    msg = packr.unpack(body);
  } catch (err) {
    throw new ProtocolError(`body is not msgpack (${(err as Error).message.split('\n')[0]})`);
  }
  const why = validateMessage(msg);
  if (why) throw new ProtocolError(why);
  return { msg: msg as T, raw };
}
