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
  /** The GPU's index on its host and its UUID, as nvidia-smi (and NVIDIA's DCGM exporter) name it; absent when not printed. */
  index?: number;
  uuid?: string;
}

/** The fields asked of nvidia-smi, in this order. */
export const NVIDIA_SMI_QUERY = 'utilization.gpu,memory.used,index,uuid';

/**
 * Parses `nvidia-smi --query-gpu=utilization.gpu,memory.used[,index,uuid] --format=csv,noheader,nounits`
 * (first line; MiB). Index and UUID are optional so the two-field form still parses.
 */
export function parseNvidiaSmi(text: string): GpuReading | undefined {
  const line = text.split('\n').find((l) => l.trim() !== '');
  if (!line) return undefined;
  const fields = line.split(',').map((s) => s.trim());
  const [util, mem] = fields.slice(0, 2).map(Number);
  if (!Number.isFinite(util) || !Number.isFinite(mem)) return undefined;
  const index = fields[2] !== undefined && /^\d+$/.test(fields[2]) ? Number(fields[2]) : undefined;
  const uuid = fields[3] !== undefined && /^GPU-[0-9a-fA-F-]+$/.test(fields[3]) ? fields[3] : undefined;
  return { utilization: util / 100, memoryBytes: mem * 1024 * 1024, ...(index !== undefined ? { index } : {}), ...(uuid ? { uuid } : {}) };
}

export class GpuSampler {
  latest: GpuReading | undefined;
  private timer: NodeJS.Timeout | undefined;

  /** Starts sampling GPU `index` (as seen by this process) every `intervalMs`. */
  start(index = 0, intervalMs = 5000): void {
    const sample = () =>
      execFile('nvidia-smi', [`--query-gpu=${NVIDIA_SMI_QUERY}`, '--format=csv,noheader,nounits', '-i', String(index)], { timeout: 4000 }, (err, out) => {
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
