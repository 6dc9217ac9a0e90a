/**
 * `npm run parity`: does our training learn as fast, epoch by epoch, as the same GAN in PyTorch?
 *
 * For each seed both sides train the same model with the same hyperparameters (batch 128, Adam
 * 2e-4, β 0.5/0.999) on the same images, side by side, and every --eval-every epochs each side's
 * generator draws --n images in inference mode. Both are scored by the same pinned classifier
 * (FID, MNIST score, digit shares): ours by its in-training evaluation (metrics.jsonl), PyTorch's
 * samples (.npy, src/bench/peer/pytorch_train.py) by the same `evaluateImages` that
 * `npm run eval -- --images` uses. Needs a python3 with torch (Debian: python3-torch).
 *
 * The PyTorch side's initialisation and BatchNorm settings are flags (--torch-init, --torch-bn), so
 * a gap can be traced to them; our side takes extra training flags (--ours-flags).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NO_TORCH, torchPython } from '../bench/peer.js';
import { selectBackend } from '../shared/backend/select.js';
import { commaList, FlagError, PARITY_FLAGS, parseFlags, TRAIN_FLAGS } from '../shared/config.js';
import { resolveSplitFiles } from '../shared/data/mnist.js';
import { DEFAULT_CLASSIFIER_DIR, loadClassifier } from '../shared/eval/classifier-store.js';
import { evaluateImages } from '../shared/eval/evaluate.js';
import { writeFileAtomic } from '../shared/fsutil.js';
import { loadImageSet } from '../shared/images/image-set.js';
import { readRun } from '../shared/report/run-data.js';
import { checkPathFlags } from '../shared/path-flags.js';
import { runCli } from './main.js';

/** One side's score after one epoch of one seed. */
interface Score {
  fid: number;
  score: number;
  /** The smallest share of a digit among the images over its share among the test images. */
  minShareRatio: number;
}

type Side = 'ours' | 'torch';

/** A side that prints nothing for this long is taken as hung and stopped. */
const SILENCE_MS = 60 * 60_000;

class ParityError extends Error {}

/** Set by a SIGINT or SIGTERM: the sides are told to stop and no table is made. */
let stopSignal: string | undefined;

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

await runCli('npm run parity --', PARITY_FLAGS, async (flags) => {
  const log = (l: string) => process.stderr.write(l + '\n');
  if (flags.out === undefined) throw new FlagError('--out is required: a directory for both sides\' runs');
  checkPathFlags(flags, { out: 'dir', json: 'file' });
  const out = resolve(flags.out as string);
  if (existsSync(out) && (await readdir(out)).length) throw new FlagError(`--out ${out} is not empty: choose a new directory`);
  const seeds = commaList(flags.seeds, '--seeds').map((s) => {
    if (!/^\d+$/.test(s)) throw new FlagError(`--seeds: ${JSON.stringify(s)} is not a non-negative integer`);
    return Number(s);
  });
  const sides = commaList(flags.sides, '--sides').map((s) => {
    if (s !== 'ours' && s !== 'torch') throw new FlagError(`--sides: ${JSON.stringify(s)} is neither ours nor torch`);
    return s as Side;
  });
  const model = flags.model as 'mlp' | 'dcgan';
  const epochs = flags.epochs as number;
  const every = flags['eval-every'] as number;
  const n = flags.n as number;
  const limit = flags.limit as number | undefined;
  const threads = String(flags.threads as number);
  const oursFlags = (flags['ours-flags'] as string).split(/\s+/).filter(Boolean);
  const evalEpochs = Array.from({ length: epochs }, (_, i) => i + 1).filter((e) => e % every === 0 || e === epochs);
  const python = sides.includes('torch') ? await torchPython() : '';
  if (sides.includes('torch') && !python) throw new ParityError(NO_TORCH);

  // Our side's flags are checked as npm run train will read them (with what parity adds) before
  // --out is made: a bad one used to fail that side only after --out was created, leaving it empty.
  try {
    parseFlags(['--model', model, '--epochs', String(epochs), '--seed', '0', '--eval-every', String(every), '--eval-n', String(n), '--run-dir', join(out, 'ours'), '--progress', 'lines', '--checkpoint-every', String(epochs), ...(limit ? ['--limit', String(limit)] : []), ...oursFlags], TRAIN_FLAGS);
  } catch (err) {
    throw new FlagError(`--ours-flags '${oursFlags.join(' ')}': ${(err as Error).message}`);
  }
  await selectBackend('auto');
  const classifier = await loadClassifier(DEFAULT_CLASSIFIER_DIR);
  await mkdir(out, { recursive: true });
  const realShares = classifier.reference.test.shares;
  const env = { ...process.env, OPENBLAS_NUM_THREADS: threads, OMP_NUM_THREADS: threads };
  const scores: Record<Side, Map<number, Score>[]> = { ours: [], torch: [] };
  const seconds: Record<Side, number[]> = { ours: [], torch: [] };
  log(`parity: ${model}, ${epochs} epoch(s), seeds ${seeds.join(', ')}, ${n} images per score at epochs ${evalEpochs.join(', ')}${limit ? `, first ${limit} images` : ''}${sides.includes('ours') && oursFlags.length ? `; ours with ${oursFlags.join(' ')}` : ''}${sides.includes('torch') ? `; PyTorch init ${flags['torch-init']}, BatchNorm ${flags['torch-bn']}` : ''}`);

  for (const seed of seeds) {
    const runs: Promise<void>[] = [];
    const t0 = performance.now();
    if (sides.includes('ours')) {
      const runDir = join(out, `ours-seed-${seed}`);
      const args = ['--import', 'tsx', join(ROOT, 'src/cli/train.ts'), '--model', model, '--epochs', String(epochs), '--seed', String(seed), '--eval-every', String(every), '--eval-n', String(n), '--run-dir', runDir, '--progress', 'lines', '--checkpoint-every', String(epochs), ...(limit ? ['--limit', String(limit)] : []), ...oursFlags];
      runs.push(
        runSide(`ours seed ${seed}`, spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] }), log).then(async () => {
          scores.ours.push(await oursScores(runDir, realShares));
          seconds.ours.push((performance.now() - t0) / 1000);
        }),
      );
    }
    if (sides.includes('torch')) {
      const dir = join(out, `torch-seed-${seed}`);
      const bn = flags['torch-bn'] === 'keras' ? ['--bn-momentum', '0.01', '--bn-eps', '1e-3'] : [];
      const args = [join(ROOT, 'src/bench/peer/pytorch_train.py'), '--model', model, '--images', resolveSplitFiles('train').images, '--epochs', String(epochs), '--save-epochs', evalEpochs.join(','), '--n', String(n), '--seed', String(seed), '--threads', threads, '--init', flags['torch-init'] as string, ...bn, '--out', dir, ...(limit ? ['--limit', String(limit)] : [])];
      runs.push(
        runSide(`torch seed ${seed}`, spawn(python, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] }), log).then(async () => {
          seconds.torch.push((performance.now() - t0) / 1000);
          const byEpoch = new Map<number, Score>();
          for (const epoch of evalEpochs) {
            const set = await loadImageSet(join(dir, `epoch-${epoch}.npy`));
            const r = await evaluateImages(classifier, set.images, set.count);
            byEpoch.set(epoch, { fid: r.fid, score: r.score, minShareRatio: minRatio(r.coverage.shares, realShares) });
          }
          scores.torch.push(byEpoch);
        }),
      );
    }
    const settled = await Promise.allSettled(runs);
    if (stopSignal) throw new ParityError(`stopped by ${stopSignal}: what both sides wrote so far is in ${out}`);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
  }

  const table = evalEpochs.map((epoch) => {
    const row: Record<string, unknown> = { epoch };
    for (const side of sides) {
      const per = scores[side].map((m) => m.get(epoch)!);
      row[side] = { fid: per.map((s) => s.fid), score: per.map((s) => s.score), minShareRatio: per.map((s) => s.minShareRatio), meanFid: mean(per.map((s) => s.fid)) };
    }
    return row;
  });
  const f1 = (x: number) => x.toFixed(1);
  const f2 = (x: number) => x.toFixed(2);
  const cells = (side: Side, r: Record<string, unknown>) => {
    const v = r[side] as { fid: number[]; score: number[]; minShareRatio: number[]; meanFid: number };
    return [`${f1(v.meanFid)} (${v.fid.map(f1).join(' / ')})`, v.score.map(f2).join(' / '), v.minShareRatio.map(f2).join(' / ')];
  };
  const header = ['epoch', ...sides.flatMap((s) => [`${s} FID mean (per seed)`, `${s} score`, `${s} min share ratio`]), ...(sides.length === 2 ? ['ours / torch FID'] : [])];
  process.stdout.write(`| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|\n`);
  for (const r of table) {
    const ratio = sides.length === 2 ? [f2((r.ours as { meanFid: number }).meanFid / (r.torch as { meanFid: number }).meanFid)] : [];
    process.stdout.write(`| ${[String(r.epoch), ...sides.flatMap((s) => cells(s, r)), ...ratio].join(' | ')} |\n`);
  }
  for (const side of sides) process.stdout.write(`${side}: ${seconds[side].map((s) => `${s.toFixed(0)} s`).join(', ')} per seed (both sides training at once)\n`);
  if (flags.json) {
    const settings = { model, epochs, seeds, n, limit: limit ?? null, evalEpochs, torchInit: flags['torch-init'], torchBn: flags['torch-bn'], oursFlags, threads: Number(threads), classifier: classifier.meta.sha256 };
    await writeFileAtomic(resolve(flags.json as string), JSON.stringify({ settings, table, seconds }, null, 2) + '\n');
  }
});

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function minRatio(shares: number[], realShares: number[]): number {
  return Math.min(...shares.map((s, k) => s / realShares[k]!));
}

/** Our side's scores, from the run's eval lines (read as the run report reads them). */
async function oursScores(runDir: string, realShares: number[]): Promise<Map<number, Score>> {
  const { evals } = await readRun(runDir);
  return new Map(evals.map((l) => [l.epoch, { fid: l.fid, score: l.score, minShareRatio: minRatio(l.shares, realShares) }]));
}

/** Relays a side's output, prefixed; resolves when it exits 0, rejects with its last line otherwise or after SILENCE_MS without output. */
function runSide(name: string, child: ChildProcess, log: (l: string) => void): Promise<void> {
  let last = '';
  let timer: NodeJS.Timeout;
  let hung = false;
  const quiet = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      hung = true;
      child.kill('SIGTERM');
    }, SILENCE_MS);
  };
  quiet();
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      quiet();
      if (line.trim()) last = line;
      log(`[${name}] ${line}`);
    });
  }
  const stop = (signal: string) => {
    stopSignal = signal;
    child.kill('SIGTERM');
  };
  process.once('SIGINT', stop).once('SIGTERM', stop);
  return new Promise((resolvePromise, reject) => {
    child.once('error', (err) => reject(new ParityError(`${name}: could not start: ${err.message}`)));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      process.off('SIGINT', stop).off('SIGTERM', stop);
      if (code === 0) resolvePromise();
      else if (hung) reject(new ParityError(`${name} printed nothing for ${SILENCE_MS / 60_000} min and was stopped: ${last}`));
      else reject(new ParityError(`${name} ${signal ? `stopped by ${signal}` : `exited ${code}`}: ${last}`));
    });
  });
}
