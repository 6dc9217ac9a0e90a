/**
 * CurveZMQ for multi-host clusters: one cluster keypair (z85 strings), kept in a file that every
 * host of the run holds, like the token. The coordinator's control socket and every worker's ring
 * socket are CURVE servers with the cluster secret key; clients connect with a fresh keypair of
 * their own and the cluster public key. There is no ZAP allow-list, so the "public" key is itself a
 * secret: whoever has the file can connect (and still needs the token to be acted on).
 */
import { plainReason } from '../path-flags.js';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as zmq from 'zeromq';

/** The cluster keypair. */
export interface CurveKeys {
  publicKey: string;
  secretKey: string;
}

/** Thrown for an unreadable or malformed key file; one line. */
export class CurveKeyError extends Error {}

/** Reads the keypair from `file`, or (when `create`) writes a fresh one there with mode 0600. */
export function loadCurveKeys(file: string, create: boolean): CurveKeys {
  if (!existsSync(file)) {
    if (!create) throw new CurveKeyError(`--curve-keys ${file}: no such file (copy the coordinator's key file to this host)`);
    const keys = zmq.curveKeyPair();
    try {
      writeFileSync(file, JSON.stringify(keys) + '\n', { mode: 0o600, flag: 'wx' });
    } catch (err) {
      throw new CurveKeyError(`--curve-keys ${file}: cannot create the key file (${plainReason(err)})`);
    }
    return keys;
  }
  let keys: Partial<CurveKeys>;
  try {
    keys = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CurveKeyError(`--curve-keys ${file}: not a key file (${(err as Error).message.split('\n')[0]})`);
  }
  const z85 = /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;
  if (!keys.publicKey || !keys.secretKey || !z85.test(keys.publicKey) || !z85.test(keys.secretKey)) {
    throw new CurveKeyError(`--curve-keys ${file}: expected {"publicKey","secretKey"} as 40-character z85 strings`);
  }
  return keys as CurveKeys;
}

/** Makes `socket` a CURVE server with the cluster secret key (before bind). */
export function curveServer(socket: zmq.Socket, keys: CurveKeys): void {
  socket.curveServer = true;
  socket.curveSecretKey = keys.secretKey;
}

/** Makes `socket` a CURVE client of a cluster server (before connect). */
export function curveClient(socket: zmq.Socket, keys: CurveKeys): void {
  const mine = zmq.curveKeyPair();
  socket.curvePublicKey = mine.publicKey;
  socket.curveSecretKey = mine.secretKey;
  socket.curveServerKey = keys.publicKey;
}
