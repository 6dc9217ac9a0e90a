/**
 * The run directory: config.json, metrics.jsonl, samples/, loss.svg, checkpoints/.
 * A run never writes into a directory that already holds another run's files (run-claim.ts takes
 * one for a run, fresh or resumed, and locks it).
 */
import { existsSync } from 'node:fs';
import { appendFile, open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { withDescriptorRetry } from '../fd-retry.js';
import { makeDirs, writeFileAtomic } from '../fsutil.js';

/** Thrown when the run directory can't be used; one line. */
export class RunDirError extends Error {}

/** Default run directory name: runs/<UTC timestamp>-<model>. */
export function defaultRunDir(model: string, now = new Date()): string {
  const ts = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return join('runs', `${ts}-${model}`);
}

/** Paths inside a run directory. */
export interface RunPaths {
  root: string;
  config: string;
  metrics: string;
  samples: string;
  lossPlot: string;
  checkpoints: string;
}

export function runPaths(root: string): RunPaths {
  return {
    root,
    config: join(root, 'config.json'),
    metrics: join(root, 'metrics.jsonl'),
    samples: join(root, 'samples'),
    lossPlot: join(root, 'loss.svg'),
    checkpoints: join(root, 'checkpoints'),
  };
}

/**
 * The newest sample grid of a run (samples/epoch-NNNN.png with the highest N), or undefined before
 * the first one. Grids are written atomically, so a grid read here is never half written.
 */
export async function readLatestSampleGrid(paths: RunPaths): Promise<Buffer | undefined> {
  const grids = (await readdir(paths.samples).catch(() => [] as string[])).filter((n) => /^epoch-\d+\.png$/.test(n)).sort();
  const last = grids.at(-1);
  return last === undefined ? undefined : readFile(join(paths.samples, last)).catch(() => undefined);
}

/** Opens the directory of a run being resumed (it must hold a run: config.json and checkpoints/). */
export async function openRunDir(root: string): Promise<RunPaths> {
  const paths = runPaths(root);
  if (!existsSync(paths.config) || !existsSync(paths.checkpoints)) throw new RunDirError(`${root}: not a run directory (no config.json or checkpoints/)`);
  await makeDirs(paths.samples);
  // A checkpoint write cut short by a crash leaves its temporary directory; it was never complete.
  for (const n of await readdir(paths.checkpoints)) if (n.startsWith('.tmp-')) await rm(join(paths.checkpoints, n), { recursive: true, force: true });
  return paths;
}

/** Writes config.json atomically. */
export async function writeRunConfig(paths: RunPaths, config: object): Promise<void> {
  await writeFileAtomic(paths.config, JSON.stringify(config, null, 2) + '\n');
}

/** Appends JSON lines to metrics.jsonl; each line is flushed with the append. */
export class MetricsLog {
  constructor(private readonly path: string) {}

  async append(record: object): Promise<void> {
    const line = JSON.stringify(record) + '\n';
    // EMFILE comes from the open before anything is written, so a retry cannot double a line.
    await withDescriptorRetry(() => appendFile(this.path, line));
  }

  /** Makes sure metrics.jsonl exists (empty) so readers can tail it from the start. */
  async init(): Promise<void> {
    const fh = await open(this.path, 'a');
    await fh.close();
  }
}
