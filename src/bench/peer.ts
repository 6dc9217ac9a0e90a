/**
 * The PyTorch peer (src/bench/peer/pytorch_gan.py) run in the same bench run, when Debian's
 * python3-torch is installed: one process with 1 and with 2 BLAS threads.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { summarize, type Summary } from './stats.js';

const run = promisify(execFile);

/** The peer's figures, or why there are none. */
export type PeerResult =
  | { available: false; reason: string }
  | { available: true; torch: string; rows: { threads: number; model: string; stepMs: Summary }[] };

export async function runPeer(quick: boolean): Promise<PeerResult> {
  const script = fileURLToPath(new URL('./peer/pytorch_gan.py', import.meta.url));
  // Debian's torch lives under the system python, which a pyenv or venv python3 on PATH hides.
  let python = '';
  for (const candidate of [process.env.BENCH_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean) as string[]) {
    try {
      await run(candidate, ['-c', 'import torch'], { timeout: 60_000 });
      python = candidate;
      break;
    } catch {
      // try the next one
    }
  }
  if (!python) return { available: false, reason: 'no python3 with torch found (Debian: apt-get install python3-torch libopenblas0-pthread; or set BENCH_PYTHON)' };
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
