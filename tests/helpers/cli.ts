/** Runs the project's CLIs as real child processes. */
import { execSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';

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
  /** `runCli` only: run under `ulimit -n` this many file descriptors (soft and hard), as a small machine or a hostile client leaves it. */
  fileLimit?: number;
}

/** Runs an npm script's entry (train, sample, cluster, coordinator, worker) with tsx; resolves when it exits (rejects after `timeoutMs`). */
export function runCli(name: string, args: string[], opts: RunCliOptions = {}): Promise<CliResult> {
  args = withFreeMetricsPort(name, args);
  const report = join(tmpdir(), `gan-cli-report-${process.pid}-${++reports}.json`);
  const argv = [process.execPath, ...reportFlags(report), '--import=tsx', join(ROOT, ENTRY[name] ?? `src/cli/${name}.ts`), ...args];
  // bash sets the limit, then exec's node in its place: the PID (signals, reports) stays node's.
  const limited = opts.fileLimit === undefined ? argv : ['bash', '-c', `ulimit -Sn ${opts.fileLimit} && ulimit -Hn ${opts.fileLimit} && exec "$@"`, 'bash', ...argv];
  const child = spawn(limited[0], limited.slice(1), {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, FORCE_COLOR: '0', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return collect(child, `${name} ${args.join(' ')}`, opts, async () => {
    const where = await hungAt(child, report);
    child.kill('SIGKILL');
    return where;
  });
}

let reports = 0;

// A child that outlives its test's timeout is asked, before it is killed, for Node's diagnostic
// report (SIGUSR2 with these flags; no other effect), so a hang in CI says where it hung.
function reportFlags(file: string): string[] {
  return ['--report-on-signal', '--report-signal=SIGUSR2', `--report-directory=${dirname(file)}`, `--report-filename=${basename(file)}`];
}

/** Where a hung child is: its JavaScript stack and each thread's kernel state, from Node's report and /proc. */
async function hungAt(child: ChildProcess, report: string): Promise<string> {
  let threads = '';
  try {
    threads = execSync(`ps -L -o tid,stat,wchan:24,pcpu,comm -p ${child.pid}`, { encoding: 'utf8' });
  } catch { /* gone already */ }
  child.kill('SIGUSR2');
  // The report appears before it is complete: read until it parses (5 s at most).
  let stack = '(no diagnostic report within 5 s: the main thread does not reach a safe point, e.g. it is inside native code)';
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 100));
    try {
      const r = JSON.parse(await readFile(report, 'utf8')) as { javascriptStack?: { message?: string; stack?: string[] } };
      const frames = (r.javascriptStack?.stack ?? []).filter((f) => f.trim() && !f.includes('No stack'));
      stack = frames.length ? [r.javascriptStack?.message ?? '', ...frames.slice(0, 15)].join('\n') : '(none: the event loop is idle, waiting on I/O, a timer or a promise)';
      await rm(report, { force: true });
      break;
    } catch { /* not there or not complete yet */ }
  }
  return `threads:\n${threads}JavaScript stack:\n${stack}`;
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
  // Zombies do not count: they have exited, and only wait for a PID 1 that may be slow to reap
  // them (a container's init; CI saw two defunct esbuild helpers there).
  const leftAtExit = new Promise<string>((r) => child.once('exit', async () => {
    for (let i = 0; i < 10 && livingInGroup(child.pid!); i++) await new Promise((w) => setTimeout(w, 100));
    r(livingInGroup(child.pid!));
  }));
  const result = await collect(child, `npm run ${name} -- ${args.join(' ')}`, opts, async () => {
    signalGroup(child, 'SIGKILL');
    return '';
  });
  return { ...result, leftInGroup: await leftAtExit };
}

/** The processes of group `pgid` that have not exited (zombies left out), as `ps` lists them; '' for none. */
export function livingInGroup(pgid: number): string {
  let out: string;
  try {
    out = execSync(`ps -o pid,ppid,stat,cmd -g ${pgid}`, { encoding: 'utf8' });
  } catch {
    return ''; // ps exits 1 when the group is empty
  }
  const [header, ...rows] = out.trimEnd().split('\n');
  const living = rows.filter((row) => !/^\s*\d+\s+\d+\s+Z/.test(row));
  return living.length ? [header, ...living].join('\n') + '\n' : '';
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

/** Resolves with what `child` printed once it exits; after the timeout (default 300 s), `kill` ends it and says where it was. */
function collect(child: ChildProcess, what: string, opts: RunCliOptions, kill: () => Promise<string>): Promise<CliResult> {
  const timeoutMs = opts.timeoutMs ?? 300_000;
  return new Promise((resolvePromise, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => {
      stderr += d;
      opts.onStderr?.(String(d), child);
    });
    const timer = setTimeout(async () => {
      const where = await kill().catch((err) => `(could not say where: ${(err as Error).message})`);
      reject(new Error(`${what} timed out after ${timeoutMs} ms\n${stderr.slice(-2000)}\n${where}`));
    }, timeoutMs);
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
