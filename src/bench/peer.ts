/**
 * The PyTorch peers run in the same bench run, when Debian's python3-torch is installed: the GAN
 * step (src/bench/peer/pytorch_gan.py, one process with 1 and with 2 BLAS threads) and the gloo
 * all-reduce (src/bench/peer/gloo_allreduce.py, one process per rank).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { summarize, type Summary } from './stats.js';
import { freeLocalPort } from '../shared/proc.js';

const run = promisify(execFile);

/** The peer's figures, or why there are none. */
export type PeerResult =
  | { available: false; reason: string }
  | { available: true; torch: string; rows: { threads: number; model: string; stepMs: Summary }[] };

export const NO_TORCH = 'no python3 with torch found (Debian: apt-get install python3-torch libopenblas0-pthread; or set BENCH_PYTHON)';

/** A python that imports torch, or '' (Debian's torch lives under the system python, which a pyenv or venv python3 on PATH hides). */
export async function torchPython(): Promise<string> {
  for (const candidate of [process.env.BENCH_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean) as string[]) {
    try {
      await run(candidate, ['-c', 'import torch.distributed'], { timeout: 60_000 });
      return candidate;
    } catch {
      // try the next one
    }
  }
  return '';
}

export async function runPeer(quick: boolean): Promise<PeerResult> {
  const script = fileURLToPath(new URL('./peer/pytorch_gan.py', import.meta.url));
  const python = await torchPython();
  if (!python) return { available: false, reason: NO_TORCH };
  const rows: { threads: number; model: string; stepMs: Summary }[] = [];
  let torch = '';
  for (const threads of [1, 2]) {
    const models = quick ? 'mlp' : 'mlp,dcgan';
    const { stdout } = await run(python, [script, '--threads', String(threads), '--models', models, ...(quick ? ['--repeats', '5'] : [])], {
      timeout: 15 * 60_000,
      // torch.set_num_threads does not reach OpenBLAS; its own variable does.
      env: { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) },
    });
    const r = JSON.parse(stdout.trim().split('\n').pop()!) as { torch: string; rows: { model: string; stepMs: number[] }[] };
    torch = r.torch;
    for (const x of r.rows) rows.push({ threads, model: x.model, stepMs: summarize(x.stepMs) });
  }
  return { available: true, torch, rows };
}

/** gloo's all-reduce figures, or why there are none. */
export type GlooResult = { available: false; reason: string } | { available: true; torch: string; rows: { world: number; bytes: number; timeMs: Summary }[] };

/**
 * gloo all-reduce (sum, then divided by N: a mean) of `sizes` bytes of float32 between `world`
 * processes; an iteration lasts as long as its slowest rank, as for the ring.
 */
export async function runGloo(worlds: number[], sizes: number[], warmup: number, repeats: number, timeoutMs: number): Promise<GlooResult> {
  const python = await torchPython();
  if (!python) return { available: false, reason: NO_TORCH };
  const script = fileURLToPath(new URL('./peer/gloo_allreduce.py', import.meta.url));
  const rows: { world: number; bytes: number; timeMs: Summary }[] = [];
  let torch = '';
  for (const world of worlds) {
    const port = await freeLocalPort();
    const ranks = await Promise.all(
      Array.from({ length: world }, (_, rank) =>
        run(python, [script, '--rank', String(rank), '--world', String(world), '--port', String(port), '--sizes', sizes.join(','), '--warmup', String(warmup), '--repeats', String(repeats), '--timeout', String(timeoutMs / 1000)], {
          timeout: 60_000 + sizes.length * (warmup + repeats) * timeoutMs,
          env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' },
        }).then(({ stdout }) => JSON.parse(stdout.trim().split('\n').pop()!) as { torch: string; times: number[][] }),
      ),
    );
    torch = ranks[0].torch;
    sizes.forEach((bytes, i) => rows.push({ world, bytes, timeMs: summarize(ranks[0].times[i].map((_, j) => Math.max(...ranks.map((r) => r.times[i][j])))) }));
  }
  return { available: true, torch, rows };
}
