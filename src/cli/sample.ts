/** `npm run sample`: draw a grid of digits from a checkpoint's generator (one digit, or a row per digit, for a conditional model). */
import { dirname, join } from 'node:path';
import { selectBackend, type BackendName } from '../shared/backend/select.js';
import { readCheckpoint } from '../shared/checkpoint/load.js';
import { resolveCheckpoint } from '../shared/checkpoint/store.js';
import { FlagError, givenFlags, SAMPLE_FLAGS } from '../shared/config.js';
import { writeFileAtomic } from '../shared/fsutil.js';
import { DIGIT_GRID_COLUMNS, digitRowLabels, LABEL_CLASSES, repeatPerRow } from '../shared/models/conditional.js';
import { generateWith, generatorClasses } from '../shared/models/labels.js';
import { encodeGridPng } from '../shared/pool/tasks.js';
import { Rng } from '../shared/rng.js';
import { checkPathFlags } from '../shared/path-flags.js';
import { runCli } from './main.js';

await runCli('npm run sample --', SAMPLE_FLAGS, async (flags) => {
  checkPathFlags(flags, { out: 'file' });
  await selectBackend(flags.backend as BackendName, { allowSoftwareAdapter: flags['allow-software-adapter'] === true });
  const dir = await resolveCheckpoint(flags.ckpt as string, flags['run-dir'] as string | undefined);
  const ckpt = await readCheckpoint(dir);
  const latent = ckpt.state.latent;
  const model = (ckpt.state.config as { model?: string }).model ?? 'unknown';
  const digit = flags.digit as number | undefined;
  const conditional = generatorClasses(ckpt.generator, latent) > 0;
  if (digit !== undefined && !conditional) throw new FlagError(`--digit ${digit}: ${dir} holds an unconditional model (${model}), which cannot be asked for a digit; train --model cmlp or cdcgan`);
  const noise = (count: number) => Rng.stream(flags.seed as number, 'sample').fillNormal(new Float32Array(count * latent));
  let n = flags.n as number;
  let z: Float32Array;
  let labels: Uint8Array | undefined;
  let gridCols: number | undefined;
  if (!conditional) z = noise(n);
  else if (digit !== undefined) {
    z = noise(n);
    labels = new Uint8Array(n).fill(digit);
  } else {
    // One row per digit; column c draws the same z as every digit.
    gridCols = givenFlags(flags).has('n') ? Math.ceil(n / LABEL_CLASSES) : DIGIT_GRID_COLUMNS;
    n = LABEL_CLASSES * gridCols;
    z = repeatPerRow(noise(gridCols), gridCols, latent);
    labels = digitRowLabels(gridCols);
  }
  const images = await generateWith(ckpt.generator, z, n, latent, labels);
  const png = encodeGridPng({ images, count: n, rows: 28, cols: 28, scale: flags.scale as number, ...(gridCols ? { gridCols } : {}) });
  const out = (flags.out as string | undefined) ?? join(dirname(dir), 'samples.png');
  await writeFileAtomic(out, png);
  const what = digit !== undefined ? ` of digit ${digit}` : conditional ? `, one row of ${gridCols} per digit 0-9,` : '';
  process.stderr.write(`wrote ${n} samples${what} from ${dir} (epoch ${ckpt.state.epoch}, step ${ckpt.state.globalStep}) to ${out}\n`);
});
