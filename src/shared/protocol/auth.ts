/** Secrets for the control plane: per-run random secrets for local workers, tokens for remote ones. */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

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
  if (token.length < 16) throw new TokenError('the token must be at least 16 characters');
  return Buffer.from(token, 'utf8');
}
