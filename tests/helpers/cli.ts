/** Runs the project's CLIs as real child processes. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Entry files of the npm scripts, relative to the repository root. */
const ENTRY: Record<string, string> = {
  train: 'src/cli/train.ts',
  sample: 'src/cli/sample.ts',
  cluster: 'cluster/launch.ts',
  coordinator: 'src/coordinator/main.ts',
  worker: 'src/worker/main.ts',
  bench: 'src/bench/main.ts',
  eval: 'src/cli/eval.ts',
  'train-classifier': 'src/cli/train-classifier.ts',
  report: 'src/cli/report.ts',
};

/** Options of `runCli`. */
export interface RunCliOptions {
  timeoutMs?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Called with each chunk of stderr as it arrives (to react to what the process prints). */
  onStderr?: (chunk: string, child: ChildProcess) => void;
}

/** Runs an npm script's entry (train, sample, cluster, coordinator, worker) with tsx; resolves when it exits (rejects after `timeoutMs`). */
export function runCli(name: string, args: string[], opts: RunCliOptions = {}): Promise<CliResult> {
  // Tests run side by side: a coordinator's metrics endpoint takes a free port unless a test picks one.
  if ((name === 'cluster' || name === 'coordinator') && !args.includes('--metrics-port')) args = [...args, '--metrics-port', '0'];
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', join(ROOT, ENTRY[name] ?? `src/cli/${name}.ts`), ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, FORCE_COLOR: '0', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      opts.onStderr?.(String(d), child);
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} ${args.join(' ')} timed out after ${opts.timeoutMs} ms\n${stderr.slice(-2000)}`));
    }, opts.timeoutMs ?? 300_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** A fresh temp directory removed after the test. */
export async function tempDir(t: { teardown: (fn: () => Promise<void>) => void }, prefix = 'gan-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
