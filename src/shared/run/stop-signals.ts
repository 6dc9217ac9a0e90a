/**
 * How a user, a scheduler or a supervisor asks a run to stop, and how one request is told from two.
 *
 * The first SIGINT, SIGTERM or SIGHUP asks for an orderly stop: finish the current step, write a
 * checkpoint, exit 0. SIGHUP is a closed terminal or a dropped SSH connection: the run must not die
 * with it (losing up to --checkpoint-every epochs). After a hang-up the terminal is gone and every
 * write to it fails (EIO; EPIPE for a closed pipe): Node raises that as an 'error' event on
 * process.stdout/stderr, which unhandled ends the process, so output errors are ignored here
 * (the lines are lost, the run is not). npm itself does not handle SIGHUP: `npm run` exits at once
 * on it (signal 1) while the node process it started goes on, checkpoints and exits 0 (hang-up.ts:
 * without Node 20 aborting at exit on the hung-up terminal).
 * The same request usually arrives more than once within milliseconds:
 * - Ctrl-C in a terminal signals the whole foreground process group, and `npm run` relays the signal
 *   to its child again (npm's run-script forwards SIGINT and SIGTERM): two deliveries ~5 ms apart;
 * - `scancel`, `docker stop` of a shell entrypoint and systemd's default KillMode signal every process
 *   of the job, and a parent relays what it got;
 * - while a synchronous step blocks the event loop, every delivery waits and all run back to back.
 * So deliveries within `RELAY_WINDOW_MS` of the first count as that first request; only one clearly
 * later is a second request, which stops at once without a checkpoint (the user insisting). A later
 * SIGHUP never is: a hang-up is no one insisting (the shell and the kernel both send one when a
 * terminal goes, and a stop already under way must still write its checkpoint).
 *
 * The npm scripts start node with `exec node --import tsx …`, not through tsx's CLI: that CLI waits
 * 30 ms for its child to acknowledge a signal, sends it again, and SIGKILLs the child 30 ms later;
 * a wasm step blocks the event loop for 0.1–4 s, so every stop became a kill without a checkpoint.
 * `exec` also takes the `sh -c` between npm and node out of the tree: a SIGTERM to npm alone killed
 * that shell and orphaned the run, which never heard the signal.
 */

import { exitCleanlyAfterHangUp } from './hang-up.js';

/** Deliveries this close to the first are relays of the same request. */
export const RELAY_WINDOW_MS = 1000;

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** What to do on the first request and on a later, second one. */
export interface StopSignalHandlers {
  /** The first request: stop at the next step boundary with a checkpoint. */
  onStop(signal: NodeJS.Signals): void;
  /** A second request, more than the relay window after the first: stop at once. */
  onStopNow(signal: NodeJS.Signals): void;
}

/** Output to a terminal that hung up or a pipe that closed: dropped (see the header). */
function ignoreOutputErrors(): void {
  for (const stream of [process.stdout, process.stderr]) if (!stream.listeners('error').includes(ignore)) stream.on('error', ignore);
}
function ignore(): void {}

/** Listens for SIGINT/SIGTERM/SIGHUP until `dispose`; `requested` turns true on the first delivery. */
export class StopSignals {
  private firstAt: number | undefined;
  private now = false;
  private readonly listener = (signal: NodeJS.Signals) => this.deliver(signal, performance.now());

  constructor(private readonly handlers: StopSignalHandlers, private readonly windowMs = RELAY_WINDOW_MS) {
    for (const s of SIGNALS) process.on(s, this.listener);
    ignoreOutputErrors();
    exitCleanlyAfterHangUp();
  }

  /** True once a stop was asked for. */
  get requested(): boolean {
    return this.firstAt !== undefined;
  }

  /** One delivery at time `at` (ms, performance.now()); public so tests can drive the timing. */
  deliver(signal: NodeJS.Signals, at: number): void {
    if (this.firstAt === undefined) {
      this.firstAt = at;
      this.handlers.onStop(signal);
    } else if (at - this.firstAt > this.windowMs && !this.now && signal !== 'SIGHUP') {
      this.now = true;
      this.handlers.onStopNow(signal);
    }
  }

  dispose(): void {
    for (const s of SIGNALS) process.off(s, this.listener);
  }
}

/** The line printed on the first request. */
export function stopNotice(signal: NodeJS.Signals): string {
  return `${signal}: finishing the current step and writing a checkpoint (a second signal, ${RELAY_WINDOW_MS / 1000} s or more later, stops at once)`;
}
