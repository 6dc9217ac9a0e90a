/** A stable hash of a flat config record: sha256 of its JSON with sorted keys. */
import { createHash } from 'node:crypto';

export function fingerprint(fields: Record<string, unknown>): string {
  const sorted = Object.fromEntries(Object.keys(fields).sort().map((k) => [k, fields[k]]));
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex');
}

/** The fields whose values differ between two records, as "name: a ≠ b" strings. */
export function describeDifferences(ours: Record<string, unknown>, theirs: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(ours), ...Object.keys(theirs)]);
  return [...keys].sort().filter((k) => JSON.stringify(ours[k]) !== JSON.stringify(theirs[k])).map((k) => `${k}: coordinator ${JSON.stringify(ours[k])} ≠ worker ${JSON.stringify(theirs[k])}`);
}
