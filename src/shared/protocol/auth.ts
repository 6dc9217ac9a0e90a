/** Secrets for the control plane: per-run random secrets for local workers, tokens for remote ones. */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

/** Environment variable through which the launcher hands the per-run secret to local workers. */
export const TOKEN_ENV = 'GAN_CLUSTER_TOKEN';

/** A fresh random secret (hex, 32 bytes of entropy). */
export function newToken(): string {
  return randomBytes(32).toString('hex');
}

/** Thrown for a missing or unreadable token; one line. */
export class TokenError extends Error {}

/**
 * The token from `--token`, else `--token-file`, else the environment. Tokens shorter than 16
 * characters are refused: the mac is only as strong as the secret.
 */
export function resolveToken(flag?: string, file?: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  let token = flag;
  if (token === undefined && file !== undefined) {
    try {
      token = readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new TokenError(`--token-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  token ??= env[TOKEN_ENV];
  if (token === undefined || token === '') throw new TokenError(`no token: pass --token, --token-file or set ${TOKEN_ENV} (the coordinator prints where its token is)`);
  if (token.length < MIN_TOKEN_CHARS) throw new TokenError(`the token must be at least ${MIN_TOKEN_CHARS} characters`);
  return Buffer.from(token, 'utf8');
}

/** The shortest token accepted. */
const MIN_TOKEN_CHARS = 16;

/**
 * The coordinator's token file: read when it exists, created with a fresh token (mode 0600) only
 * when it does not. A file that exists but cannot be used (unreadable, empty, too short) is refused,
 * never replaced: worker hosts may hold a copy of it.
 */
export function tokenFromFileOrCreate(file: string): { token: Buffer; created: boolean } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new TokenError(`--token-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    const token = newToken();
    try {
      // 'wx': never overwrite a file that appeared in the meantime.
      writeFileSync(file, token + '\n', { mode: 0o600, flag: 'wx' });
    } catch (err) {
      throw new TokenError(`--token-file ${file}: cannot create it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    return { token: Buffer.from(token, 'utf8'), created: true };
  }
  const token = text.trim();
  if (token.length < MIN_TOKEN_CHARS) {
    throw new TokenError(`--token-file ${file} holds ${token.length === 0 ? 'no token' : `a token of ${token.length} characters`}; it must be at least ${MIN_TOKEN_CHARS} (the file is left as it is: fix it, or remove it to have a fresh one written)`);
  }
  return { token: Buffer.from(token, 'utf8'), created: false };
}
