/**
 * Test helper process: writes checkpoints of a DCGAN replica into argv[2] in a loop, printing
 * "wrote <path>" after each, until killed. Used to SIGKILL a process in the middle of a write.
 */
import { selectBackend } from '../../src/shared/backend/select.js';
import { writeCheckpoint } from '../../src/shared/checkpoint/load.js';
import { parseFlags, TRAIN_FLAGS, trainConfigFrom } from '../../src/shared/config.js';
import { Replica } from '../../src/shared/replica.js';
import { checkpointPayload } from '../../src/shared/run/snapshot.js';

await selectBackend('wasm');
const config = trainConfigFrom(parseFlags(['--model', 'dcgan'], TRAIN_FLAGS));
const replica = new Replica({ model: 'dcgan', latent: 100, seed: 1, adam: { lr: 2e-4, beta1: 0.5, beta2: 0.999 } });
for (let step = 1; ; step++) {
  const path = await writeCheckpoint(checkpointPayload(replica, config, { epoch: 0, step, globalStep: step }, 'wasm'), { dir: process.argv[2], keep: 2 });
  process.stdout.write(`wrote ${path}\n`);
}
