/** `npm run train-classifier`: train the evaluation's MNIST classifier and save it where eval looks. */
import { resolve } from 'node:path';
import { selectBackend, type BackendName } from '../shared/backend/select.js';
import { CLASSIFIER_FLAGS } from '../shared/config.js';
import { buildClassifierLocked, DEFAULT_CLASSIFIER_DIR } from '../shared/eval/classifier-store.js';
import { runCli } from './main.js';

await runCli('npm run train-classifier --', CLASSIFIER_FLAGS, async (flags) => {
  const backend = await selectBackend(flags.backend as BackendName);
  const dir = resolve((flags.out as string | undefined) ?? DEFAULT_CLASSIFIER_DIR);
  await buildClassifierLocked({
    dir, epochs: flags.epochs as number, batchSize: flags['batch-size'] as number, seed: flags.seed as number, data: flags.data as string | undefined, backend: backend.name,
    log: (l) => process.stderr.write(l + '\n'),
  });
});
