/**
 * The run's own file writes (metrics.jsonl appends, checkpoint and sample files) outlast a moment
 * without file descriptors. EMFILE (this process at its limit) and ENFILE (the system at its) are
 * transient by nature: something else holds descriptors (a client flooding a port, a burst of
 * sockets) and gives them back. Ending a run over one failed open() loses everything since the last
 * checkpoint (issue 31: a flood ended a run before its first one), so an open that fails for want of
 * a descriptor is retried with backoff for a bounded time, then fails as before with the real error.
 *
 * Only operations whose failure with these codes means "nothing happened yet" may be wrapped: an
 * open (nothing created on EMFILE), a whole appendFile or read (EMFILE only comes from their open).
 * Cost: none unless it fails; then at most `budgetMs` of waiting (default 60 s: longer than the
 * metrics server's idle timeouts, after which a flood's connections are gone).
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** Errors that say "no descriptor free now", not "this cannot be done". */
const SHORTAGE = new Set(['EMFILE', 'ENFILE']);

export function isDescriptorShortage(err: unknown): boolean {
  return SHORTAGE.has((err as NodeJS.ErrnoException | undefined)?.code ?? '');
}

/** How long a failing operation is retried, and the first and longest pause between tries. */
export interface RetryBudget {
  budgetMs: number;
  firstPauseMs: number;
  maxPauseMs: number;
}

export const DESCRIPTOR_RETRY: RetryBudget = { budgetMs: 60_000, firstPauseMs: 10, maxPauseMs: 1_000 };

/** Runs `op`, again after a pause while it fails for want of a descriptor, for `budget.budgetMs` at most. */
export async function withDescriptorRetry<T>(op: () => Promise<T>, budget: RetryBudget = DESCRIPTOR_RETRY): Promise<T> {
  const start = Date.now();
  let pause = budget.firstPauseMs;
  for (;;) {
    try {
      return await op();
    } catch (err) {
      if (!isDescriptorShortage(err) || Date.now() - start + pause > budget.budgetMs) throw err;
      await sleep(pause);
      pause = Math.min(budget.maxPauseMs, pause * 2);
    }
  }
}
