/** Summaries of repeated measurements: medians, with min and max beside them. */

/** Median, min and max of a set of measurements, and how many there were. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) throw new RangeError('summarize: no values');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1], n: s.length };
}

/** `f` applied to a summary's median, min and max (for a monotonic f, e.g. a rate from a time). */
export function mapSummary(s: Summary, f: (x: number) => number): Summary {
  const [a, b] = [f(s.min), f(s.max)];
  return { median: f(s.median), min: Math.min(a, b), max: Math.max(a, b), n: s.n };
}
