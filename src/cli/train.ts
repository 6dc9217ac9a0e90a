/** `npm run train`: train one GAN in this process. */
import { selectBackend } from '../shared/backend/select.js';
import { givenFlags, TRAIN_FLAGS, trainConfigFrom } from '../shared/config.js';
import { checkPathFlags } from '../shared/path-flags.js';
import { planResume } from '../shared/run/resume.js';
import { StopSignals, stopNotice } from '../shared/run/stop-signals.js';
import { train } from '../shared/run/trainer.js';
import { runCli } from './main.js';

await runCli('npm run train --', TRAIN_FLAGS, async (flags) => {
  checkPathFlags(flags, { classifier: 'dir' });
  const config = trainConfigFrom(flags);
  const resume = config.resume ? await planResume(config, givenFlags(flags)) : undefined;
  const backend = await selectBackend(config.backend, { allowSoftwareAdapter: config.allowSoftwareAdapter, blas: config.blas });
  const stops = new StopSignals({
    onStop: (sig) => process.stderr.write(`\n${stopNotice(sig)}\n`),
    onStopNow: (sig) => {
      process.stderr.write(`\n${sig} again: exiting now without a checkpoint\n`);
      process.exit(130);
    },
  });
  const result = await train({ config, backend, resume, shouldStop: () => stops.requested }).finally(() => stops.dispose());
  process.stderr.write(`${result.stopped ? 'stopped' : 'done'}: ${result.stepsDone} steps; run in ${result.runDir}; last checkpoint ${result.lastCheckpoint ?? 'none'}\n`);
  process.stderr.write(`sample it: npm run sample -- --ckpt latest --run-dir ${result.runDir}\n`);
});
