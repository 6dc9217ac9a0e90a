/** Reading a finished run's results in tests. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The bytes of the latest checkpoint's weights and optimizer state: equal bytes, equal training state. */
export async function finalState(run: string): Promise<Buffer> {
  const latest = (await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim();
  const dir = join(run, 'checkpoints', latest);
  return Buffer.concat(await Promise.all(['generator/weights.bin', 'discriminator/weights.bin', 'optimizer.bin'].map((f) => readFile(join(dir, f)))));
}
