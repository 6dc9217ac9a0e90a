/**
 * How right the dashboard's ETA was, replayed over finished runs' metrics.jsonl.
 *
 * The dashboard's ETA (dashboards/gan-training.json, panel "ETA") is
 *   (gan_steps_planned − gan_global_step) / ((gan_global_step − gan_run_start_global_step) / (time() − gan_run_start_timestamp_seconds))
 * with the origin taken at the end of the first step after the process started, rolled back or
 * resumed. tests/metrics-prometheus.test.ts shows against a real Prometheus that the panel equals
 * this formula over the run's own metrics.jsonl (within one scrape); so the replay computes the
 * panel at any moment of a finished run and compares it with the time that really remained.
 *
 * A run is cut into invocations at its `resume` lines (each process plans its own last step: the
 * highest step it logged, so every invocation must have run to its end, as --resume after a
 * finished run does) and each invocation into segments at its `rollback` lines. A segment's
 * origin is its first logged step line (the panel's is the first step: the same with
 * --log-every 1, a few steps later otherwise). It is read at fractions of the time from its
 * origin to its invocation's last step, while it lasts (a segment a rollback cut short is read
 * only up to the rollback). Real remaining = the invocation's last step line's time − the moment.
 */
import { readFile } from 'node:fs/promises';
import { parseMetricsLines } from '../shared/report/run-data.js';
import { runPaths } from '../shared/run/run-dir.js';

export interface EtaReading {
  /** Fraction of the time from the segment's origin to its invocation's end at which it was read. */
  fraction: number;
  /** Seconds since the segment's origin. */
  afterS: number;
  globalStep: number;
  /** The panel's value at that moment, s. */
  etaS: number;
  /** The time that really remained to the invocation's last step, s. */
  realS: number;
  /** (eta − real) / real. */
  error: number;
}

export interface EtaSegment {
  run: string;
  /** What started the segment: the process starting, a rollback, a --resume. */
  kind: 'start' | 'rollback' | 'resume';
  originStep: number;
  plannedStep: number;
  /** Seconds from the origin to the invocation's last step. */
  spanS: number;
  readings: EtaReading[];
}

/** Where the replay reads each segment, as fractions of the time from its origin to its invocation's end. */
export const ETA_FRACTIONS = [0.02, 0.05, 0.1, 0.25, 0.5, 0.75];

interface Line {
  type?: unknown;
  globalStep?: unknown;
  time?: unknown;
}

/** The segments of one run's metrics.jsonl lines, each read at `fractions`. */
export function replayEta(run: string, lines: Line[], fractions = ETA_FRACTIONS): EtaSegment[] {
  // Invocations at resume lines; segments at rollback lines.
  type Seg = { kind: EtaSegment['kind']; steps: { g: number; t: number }[] };
  const invocations: Seg[][] = [];
  let current: Seg[] | undefined;
  for (const l of lines) {
    if (l.type === 'resume' || current === undefined) {
      current = [{ kind: l.type === 'resume' ? 'resume' : 'start', steps: [] }];
      invocations.push(current);
      if (l.type === 'resume') continue;
    }
    if (l.type === 'rollback') current.push({ kind: 'rollback', steps: [] });
    else if (l.type === 'step' && typeof l.globalStep === 'number' && typeof l.time === 'string') {
      current[current.length - 1].steps.push({ g: l.globalStep, t: Date.parse(l.time) / 1000 });
    }
  }
  const out: EtaSegment[] = [];
  for (const segs of invocations) {
    const all = segs.flatMap((s) => s.steps);
    if (all.length === 0) continue;
    const planned = Math.max(...all.map((s) => s.g));
    const end = all.filter((s) => s.g === planned).at(-1)!.t;
    for (const seg of segs) {
      if (seg.steps.length < 2) continue;
      const origin = seg.steps[0];
      const last = seg.steps.at(-1)!;
      const readings: EtaReading[] = [];
      for (const fraction of fractions) {
        const T = origin.t + fraction * (end - origin.t);
        if (T > last.t) break;
        // The position at T: the last step logged by then.
        let g = origin.g;
        for (const s of seg.steps) if (s.t <= T) g = s.g;
        if (g === origin.g) continue;
        const etaS = ((planned - g) * (T - origin.t)) / (g - origin.g);
        const realS = end - T;
        readings.push({ fraction, afterS: T - origin.t, globalStep: g, etaS, realS, error: (etaS - realS) / realS });
      }
      out.push({ run, kind: seg.kind, originStep: origin.g, plannedStep: planned, spanS: end - origin.t, readings });
    }
  }
  return out;
}

/** A run's metrics.jsonl as records (a torn last line is skipped); one-line error when there is none. */
export async function readMetricsLines(dir: string): Promise<Line[]> {
  const path = runPaths(dir).metrics;
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new Error(`--eta-runs: ${err.code === 'ENOENT' ? `${path} does not exist (not a run directory)` : `cannot read ${path} (${err.message})`}`);
  });
  const lines: Line[] = parseMetricsLines(text);
  if (!lines.some((l) => l.type === 'step')) throw new Error(`--eta-runs: ${path} has no step lines`);
  return lines;
}
