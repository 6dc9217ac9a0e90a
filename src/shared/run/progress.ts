/**
 * Progress output for long training: a live line on a TTY (redrawn at most a few times a second),
 * periodic plain lines otherwise (logs, CI), and one summary line per epoch in both modes.
 */

/** Running means of one reporting window. */
export interface ProgressStats {
  lossD: number;
  lossG: number;
  dReal: number;
  dFake: number;
  imagesPerSec: number;
}

/** Options of `Progress`. */
export interface ProgressArgs {
  mode: 'auto' | 'tty' | 'lines' | 'off';
  epochs: number;
  stepsPerEpoch: number;
  /** Where lines go (default process.stderr). */
  stream?: NodeJS.WriteStream;
  /** Seconds between plain lines in 'lines' mode (default 10). */
  lineIntervalSec?: number;
}

/** h:mm:ss (or m:ss under an hour). */
export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '?';
  const s = Math.round(sec);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export class Progress {
  private readonly mode: 'tty' | 'lines' | 'off';
  private readonly stream: NodeJS.WriteStream;
  private readonly started = performance.now();
  private lastDraw = 0;
  private liveShown = false;
  /** Total steps done at construction (a resumed run), so the ETA counts only this session's pace. */
  private readonly baseSteps: number;

  constructor(private readonly args: ProgressArgs, doneSteps = 0) {
    this.stream = args.stream ?? process.stderr;
    this.mode = args.mode === 'auto' ? (this.stream.isTTY ? 'tty' : 'lines') : args.mode;
    this.baseSteps = doneSteps;
  }

  private line(epoch: number, step: number, s: ProgressStats): string {
    const elapsed = (performance.now() - this.started) / 1000;
    const total = this.args.epochs * this.args.stepsPerEpoch;
    const done = epoch * this.args.stepsPerEpoch + step;
    const rate = (done - this.baseSteps) / Math.max(elapsed, 1e-9);
    const runEta = rate > 0 ? (total - done) / rate : NaN;
    const epochEta = rate > 0 ? (this.args.stepsPerEpoch - step) / rate : NaN;
    const f = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : String(x));
    return (
      `epoch ${epoch + 1}/${this.args.epochs} step ${step}/${this.args.stepsPerEpoch} | ${s.imagesPerSec.toFixed(0)} img/s` +
      ` | D ${f(s.lossD)} G ${f(s.lossG)} | D(x) ${f(s.dReal, 2)} D(G(z)) ${f(s.dFake, 2)}` +
      ` | ${formatDuration(elapsed)} elapsed, ETA epoch ${formatDuration(epochEta)}, run ${formatDuration(runEta)}`
    );
  }

  /** Called after each step with the window's means; draws when due. */
  update(epoch: number, step: number, s: ProgressStats): void {
    if (this.mode === 'off') return;
    const now = performance.now();
    const interval = this.mode === 'tty' ? 250 : (this.args.lineIntervalSec ?? 10) * 1000;
    if (now - this.lastDraw < interval) return;
    this.lastDraw = now;
    const text = this.line(epoch, step, s);
    if (this.mode === 'tty') {
      const width = this.stream.columns ?? 160;
      this.stream.write(`\r\x1b[2K${text.slice(0, width - 1)}`);
      this.liveShown = true;
    } else {
      this.stream.write(text + '\n');
    }
  }

  /** Prints a line that stays (epoch summary, checkpoint notice), clearing the live line first. */
  log(text: string): void {
    if (this.mode === 'off') return;
    if (this.liveShown) {
      this.stream.write('\r\x1b[2K');
      this.liveShown = false;
    }
    this.stream.write(text + '\n');
  }
}
