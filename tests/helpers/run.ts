/** Reading a finished run's results in tests. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The bytes of the latest checkpoint's weights and optimizer state: equal bytes, equal training state. */
export async function finalState(run: string): Promise<Buffer> {
  const latest = (await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim();
  const dir = join(run, 'checkpoints', latest);
  return Buffer.concat(await Promise.all(['generator/weights.bin', 'discriminator/weights.bin', 'optimizer.bin'].map((f) => readFile(join(dir, f)))));
}

/** How long after epoch 1's summary line the stop tests signal a 6-step-per-epoch run: most often during epoch 2. */
export const SEND_AFTER_MS = 1000;
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
