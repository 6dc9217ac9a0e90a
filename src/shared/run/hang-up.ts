/**
 * Exiting with the run's own status after its terminal hung up (a closed terminal window, a dropped
 * SSH connection).
 *
 * At exit Node restores the terminal settings it saw at start-up on each stdio descriptor that was a
 * terminal (ResetStdio). On a hung-up terminal that tcsetattr fails with EIO, and Node 20 treats the
 * failure as a broken invariant and aborts (nodejs/node#51519; later Node lines ignore it since
 * nodejs/node#58200): a run that stopped cleanly after SIGHUP and wrote its checkpoint ended on
 * SIGABRT, with a core dump where core files are enabled.
 *
 * Node skips a descriptor that the program has reopened (another file behind the same number). So,
 * at exit, each stdio descriptor that was a terminal at start and is not one any more (isatty fails
 * once the terminal hung up) is pointed at /dev/null with dup2, through koffi (the FFI package the
 * project already ships for OpenBLAS). dup2 replaces the descriptor atomically: nothing else can be
 * given that number in between. Best effort: where koffi or libc does not load, Node aborts as before
 * (after the checkpoint; nothing is lost).
 */
import { closeSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isatty } from 'node:tty';

const STDIO = [0, 1, 2];
let installed = false;

/** Installs the exit hook once; records which stdio descriptors are terminals now. */
export function exitCleanlyAfterHangUp(): void {
  if (installed) return;
  installed = true;
  const wasTerminal = STDIO.filter((fd) => isatty(fd));
  if (wasTerminal.length === 0) return;
  process.once('exit', () => {
    const hungUp = wasTerminal.filter((fd) => !isatty(fd));
    if (hungUp.length) pointAtDevNull(hungUp);
  });
}

function pointAtDevNull(fds: number[]): void {
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const libc = koffi.load(process.platform === 'darwin' ? 'libSystem.B.dylib' : 'libc.so.6');
    const dup2 = libc.func('int dup2(int oldfd, int newfd)') as (from: number, to: number) => number;
    const devNull = openSync('/dev/null', 'r+');
    for (const fd of fds) dup2(devNull, fd);
    closeSync(devNull);
  } catch { /* best effort: see the header */ }
}
