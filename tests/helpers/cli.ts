/** Runs the project's CLIs as real child processes. */
import { execSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** `runNpm` only: the processes of npm's group still there 1 s after npm exited (orphans), as `ps` lists them; '' for none. */
  leftInGroup?: string;
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
  demo: 'src/cli/demo.ts',
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
  args = withFreeMetricsPort(name, args);
  const child = spawn(process.execPath, ['--import=tsx', join(ROOT, ENTRY[name] ?? `src/cli/${name}.ts`), ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, FORCE_COLOR: '0', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return collect(child, `${name} ${args.join(' ')}`, opts, () => child.kill('SIGKILL'));
}

/**
 * Runs `npm run NAME -- ARGS` as a user does in a terminal: npm leads a process group of its own
 * (the terminal's foreground group), so a test can signal the whole group as Ctrl-C does, or npm
 * alone as a supervisor does. `child.pid` is npm's PID and the group's ID.
 */
export async function runNpm(name: string, args: string[], opts: RunCliOptions = {}): Promise<CliResult> {
  args = withFreeMetricsPort(name, args);
  const child = spawn('npm', ['run', '--silent', name, '--', ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, FORCE_COLOR: '0', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  // What is left of the group once npm has exited. A process's helpers (tsx's esbuild service) end on
  // their parent's closed pipe a few ms after it, so the group gets 1 s to empty before it counts.
  const leftAtExit = new Promise<string>((r) => child.once('exit', async () => {
    for (let i = 0; i < 10 && signalGroup(child, 0); i++) await new Promise((w) => setTimeout(w, 100));
    r(signalGroup(child, 0) ? execSync(`ps -o pid,ppid,stat,cmd -g ${child.pid}`, { encoding: 'utf8' }) : '');
  }));
  const result = await collect(child, `npm run ${name} -- ${args.join(' ')}`, opts, () => signalGroup(child, 'SIGKILL'));
  return { ...result, leftInGroup: await leftAtExit };
}

/** Sends `signal` to every process in `child`'s process group (a `runNpm` child leads one); false when none is left. */
export function signalGroup(child: ChildProcess, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-child.pid!, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

// Tests run side by side: a coordinator's metrics endpoint takes a free port unless a test picks one.
function withFreeMetricsPort(name: string, args: string[]): string[] {
  return (name === 'cluster' || name === 'coordinator') && !args.includes('--metrics-port') ? [...args, '--metrics-port', '0'] : args;
}

function collect(child: ChildProcess, what: string, opts: RunCliOptions, kill: () => void): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => {
      stderr += d;
      opts.onStderr?.(String(d), child);
    });
    const timer = setTimeout(() => {
      kill();
      reject(new Error(`${what} timed out after ${opts.timeoutMs} ms\n${stderr.slice(-2000)}`));
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
