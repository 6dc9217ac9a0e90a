/**
 * The global batch is split evenly over the workers, so the worker count must divide it. What to do
 * about a count that does not depends on whether the batch may change: a fresh run can pick another
 * --batch-size, a resumed run keeps its batch (its config comes from the checkpoint), so only the
 * worker count can change: advising "a multiple of 3" there, then refusing the changed --batch-size,
 * sent users in a circle.
 */

/** Worker counts (1…maxWorkers) that divide `batch`, as "1, 2, 4 or 8" (the 12 nearest `world` when there are more). */
export function dividingWorkerCounts(batch: number, world: number, maxWorkers = 1024): string {
  const all: number[] = [];
  for (let w = 1; w <= Math.min(batch, maxWorkers); w++) if (batch % w === 0) all.push(w);
  const shown = all.length <= 12 ? all : [...all].sort((a, b) => Math.abs(a - world) - Math.abs(b - world)).slice(0, 12).sort((a, b) => a - b);
  return shown.length === 1 ? String(shown[0]) : `${shown.slice(0, -1).join(', ')} or ${shown.at(-1)}`;
}

/** One line saying why `world` workers cannot split `batch`, and what to change; undefined when they can. */
export function batchSplitProblem(batch: number, world: number, resumed: boolean): string | undefined {
  if (batch % world === 0) return undefined;
  const what = `--batch-size ${batch} (the global batch) is not divisible by the ${world} workers`;
  const counts = dividingWorkerCounts(batch, world);
  if (resumed) return `${what}, and a resumed run keeps its batch: use ${counts} workers (the divisors of ${batch})`;
  const lower = batch - (batch % world);
  const multiples = [lower, lower + world].filter((b) => b > 0).join(' or ');
  return `${what}: pick a --batch-size that is a multiple of ${world} (e.g. ${multiples}), or use ${counts} workers`;
}
