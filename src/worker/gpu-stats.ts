/**
 * GPU utilisation and memory of this worker's GPU, sampled from nvidia-smi every few seconds off
 * the step path. Where there is no nvidia-smi (or no GPU backend) nothing is reported, so the
 * metrics are absent rather than zero.
 */
import { execFile } from 'node:child_process';

/** One reading. */
export interface GpuReading {
  /** 0..1 */
  utilization: number;
  memoryBytes: number;
}

/** Parses `nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits` (first line; MiB). */
export function parseNvidiaSmi(text: string): GpuReading | undefined {
  const line = text.split('\n').find((l) => l.trim() !== '');
  if (!line) return undefined;
  const [util, mem] = line.split(',').map((s) => Number(s.trim()));
  if (!Number.isFinite(util) || !Number.isFinite(mem)) return undefined;
  return { utilization: util / 100, memoryBytes: mem * 1024 * 1024 };
}

export class GpuSampler {
  latest: GpuReading | undefined;
  private timer: NodeJS.Timeout | undefined;

  /** Starts sampling GPU `index` (as seen by this process) every `intervalMs`. */
  start(index = 0, intervalMs = 5000): void {
    const sample = () =>
      execFile('nvidia-smi', ['--query-gpu=utilization.gpu,memory.used', '--format=csv,noheader,nounits', '-i', String(index)], { timeout: 4000 }, (err, out) => {
        if (err) {
          // No nvidia-smi: stop asking; the metrics stay absent.
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') this.stop();
          return;
        }
        this.latest = parseNvidiaSmi(out);
      });
    sample();
    this.timer = setInterval(sample, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
