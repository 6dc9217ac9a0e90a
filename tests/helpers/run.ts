/** Reading a finished run's results in tests. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The bytes of the latest checkpoint's weights and optimizer state: equal bytes, equal training state. */
export async function finalState(run: string): Promise<Buffer> {
  const latest = (await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim();
  const dir = join(run, 'checkpoints', latest);
  return Buffer.concat(await Promise.all(['generator/weights.bin', 'discriminator/weights.bin', 'optimizer.bin'].map((f) => readFile(join(dir, f)))));
}

/**
 * How long after epoch 1's summary line the stop tests signal a 6-step-per-epoch run: during epoch
 * 2, or during epoch 1's end-of-epoch work on a slow machine (both match STOPPED_AROUND_EPOCH_2).
 * 150 ms, not 1 s: on an idle CI machine (2026-12-07) an epoch of these runs takes 0.3 s, so a
 * signal 1 s later arrived in epoch 3 or after the run had finished.
 */
export const SEND_AFTER_MS = 150;
/** A stop mid-epoch 2, or at an epoch's end when the signal came during the end-of-epoch work or the last step. */
export const STOPPED_AROUND_EPOCH_2 = /stop requested: saving a checkpoint (at epoch 2, step [1-5]|at the end of epoch [12])$/m;

/** The final checkpoint's generator and discriminator weights, as float32 arrays. */
export async function finalWeights(run: string): Promise<{ g: Float32Array; d: Float32Array }> {
  const latest = (await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim();
  const read = async (net: string) => {
    const b = await readFile(join(run, 'checkpoints', latest, net, 'weights.bin'));
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  };
  return { g: await read('generator'), d: await read('discriminator') };
}
