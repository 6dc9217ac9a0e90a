/**
 * The optional bearer token of `/metrics` (`--metrics-token-file`), for an endpoint bound beyond
 * localhost. Prometheus sends it with `authorization: {type: Bearer, credentials_file: FILE}`, read
 * from the same file, trimmed as Prometheus trims it.
 *
 * Threat model: anyone who reaches the port. A request without the right token gets a bare 401
 * (no metric, no hint of what was wrong) and its connection is closed, so a guesser holds no slot
 * of the connection cap (http-bounds.ts). The comparison is of SHA-256 digests with
 * `timingSafeEqual`: constant time in the token's bytes and in its length. `/healthz` and
 * `/samples/latest.png` stay open: probes and Grafana's image panel (loaded by the viewer's
 * browser) carry no token, and they tell a status and a picture, not the run's numbers.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { TokenError } from '../../shared/protocol/auth.js';

/** The shortest token accepted: a guessable one would protect nothing. */
const MIN_CHARS = 16;

/** The token in `file`, refused in one line when unreadable, shorter than 16 characters or not one printable word. */
export function readMetricsToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TokenError(`--metrics-token-file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const token = text.trim();
  if (token.length < MIN_CHARS) throw new TokenError(`--metrics-token-file ${file} holds ${token.length === 0 ? 'no token' : `a token of ${token.length} characters`}; it must be at least ${MIN_CHARS}`);
  // An HTTP header carries it: one word of visible ASCII, or Prometheus would send something else.
  if (!/^[\x21-\x7e]+$/.test(token)) throw new TokenError(`--metrics-token-file ${file}: the token must be one word of printable ASCII (no spaces, line breaks or other characters)`);
  return token;
}

/** A check of requests' `authorization: Bearer …` against `token`. */
export function bearerCheck(token: string): (req: IncomingMessage) => boolean {
  const want = createHash('sha256').update(token).digest();
  return (req) => {
    const m = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
    // Hash even when absent, so a missing header costs what a wrong one does.
    const got = createHash('sha256').update(m ? m[1] : '').digest();
    return timingSafeEqual(got, want) && m !== null;
  };
}
