/** `npm run report`: one self-contained HTML page about a run (curves, evaluations, samples, config). */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, type BackendName } from '../shared/backend/select.js';
import { readCheckpoint } from '../shared/checkpoint/load.js';
import { resolveCheckpoint } from '../shared/checkpoint/store.js';
import { FlagError, REPORT_FLAGS } from '../shared/config.js';
import { writeFileAtomic } from '../shared/fsutil.js';
import { encodeGridPng } from '../shared/pool/tasks.js';
import { evalLabels } from '../shared/models/conditional.js';
import { generateWith, generatorClasses } from '../shared/models/labels.js';
import { reportHtml, type ReportHtmlArgs } from '../shared/report/html.js';
import { readRun } from '../shared/report/run-data.js';
import { Rng } from '../shared/rng.js';
import { checkPathFlags } from '../shared/path-flags.js';
import { runCli } from './main.js';

await runCli('npm run report --', REPORT_FLAGS, async (flags) => {
  const root = flags.run as string | undefined;
  if (!root) throw new FlagError('--run DIR is required (a run directory, e.g. runs/<stamp>-mlp)');
  checkPathFlags(flags, { out: 'file' });
  const run = await readRun(root);
  const args: ReportHtmlArgs = { run };
  const ckptDir = await resolveCheckpoint('latest', root).catch(() => undefined);
  if (ckptDir) {
    await selectBackend(flags.backend as BackendName);
    const ckpt = await readCheckpoint(ckptDir);
    const latent = ckpt.state.latent;
    const z = Rng.stream(0, 'sample').fillNormal(new Float32Array(25 * latent));
    // A conditional generator draws digit i mod 10 for image i (0-9, 0-9, 0-4 in reading order).
    const labels = generatorClasses(ckpt.generator, latent) > 0 ? evalLabels(25) : undefined;
    const images = labels
      ? await generateWith(ckpt.generator, z, 25, latent, labels)
      : tf.tidy(() => (ckpt.generator.predict(tf.tensor(z, [25, latent])) as tf.Tensor).dataSync() as Float32Array).slice();
    args.finalGrid = { png: encodeGridPng({ images, count: 25, rows: 28, cols: 28 }), checkpoint: ckptDir, epoch: ckpt.state.epoch };
  } else args.finalGridNote = 'This run has no complete checkpoint, so there is no final grid.';
  const out = (flags.out as string | undefined) ?? join(root, 'report.html');
  await writeFileAtomic(out, await reportHtml(args));
  process.stderr.write(`wrote ${out}: ${run.steps.length} step lines, ${run.evals.length} evaluations, ${run.samples.length} sample grids${args.finalGrid ? ', final 5×5 grid' : ''}\n`);
});
