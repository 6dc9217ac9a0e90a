/**
 * The benchmark's child processes: each measurement runs in a fresh Node process (tsx), talks to
 * the parent in lines (`endpoint …`, `result <JSON>`) and is killed when it outlives its deadline.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** A running child: its first `endpoint` line, its `result` line, and a way to write to it. */
export interface BenchChild {
  endpoint: Promise<string>;
  result: Promise<unknown>;
  tell(line: string): void;
  kill(): void;
}

/** Thrown when a child fails; `unavailable` when it exited with 2 (a backend not loadable here). */
export class ChildError extends Error {
  constructor(message: string, readonly unavailable = false) {
    super(message);
  }
}

/**
 * Starts `src/bench/<script>` with one JSON argument, inside network namespace `netns` when given
 * (a "host" of src/bench/netns.ts). The child must print its result within `timeoutMs`, else it is
 * killed and `result` rejects naming the script.
 */
export function startChild(script: string, args: unknown, timeoutMs: number, env: NodeJS.ProcessEnv = {}, netns?: string): BenchChild {
  const file = fileURLToPath(new URL(`./${script}`, import.meta.url));
  const argv = ['--import', 'tsx', file, JSON.stringify(args)];
  // `ip netns exec` execs the command in place, so killing this child kills the node process.
  const [command, commandArgs] = netns === undefined ? [process.execPath, argv] : ['ip', ['netns', 'exec', netns, process.execPath, ...argv]];
  const child: ChildProcess = spawn(command, commandArgs, {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  let err = '';
  let endpointSeen: ((e: string) => void) | undefined;
  const endpoint = new Promise<string>((resolve) => (endpointSeen = resolve));
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    const m = /^endpoint (\S+)$/m.exec(out);
    if (m) endpointSeen?.(m[1]);
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const result = new Promise<unknown>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new ChildError(`${script} did not finish within ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const m = /^result (.*)$/m.exec(out);
      if (code === 0 && m) return resolve(JSON.parse(m[1]));
      const why = err.trim().split('\n').filter((l) => !/nodedir|^npm warn/i.test(l)).pop() ?? `exit ${code ?? signal}`;
      reject(new ChildError(`${script}: ${why}`, code === 2));
    });
  });
  // A child that dies before printing its endpoint must not leave a waiter hanging.
  void result.catch(() => endpointSeen?.(''));
  return {
    endpoint,
    result,
    tell: (line) => child.stdin!.write(`${line}\n`),
    kill: () => child.kill('SIGKILL'),
  };
}
