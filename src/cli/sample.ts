/** `npm run sample`: draw a grid of digits from a checkpoint's generator. */
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, type BackendName } from '../shared/backend/select.js';
import { readCheckpoint } from '../shared/checkpoint/load.js';
import { resolveCheckpoint } from '../shared/checkpoint/store.js';
import { SAMPLE_FLAGS } from '../shared/config.js';
import { writeFileAtomic } from '../shared/fsutil.js';
import { encodeGridPng } from '../shared/pool/tasks.js';
import { Rng } from '../shared/rng.js';
import { runCli } from './main.js';

await runCli('npm run sample --', SAMPLE_FLAGS, async (flags) => {
  await selectBackend(flags.backend as BackendName, { allowSoftwareAdapter: flags['allow-software-adapter'] === true });
  const dir = await resolveCheckpoint(flags.ckpt as string, flags['run-dir'] as string | undefined);
  const ckpt = await readCheckpoint(dir);
  const n = flags.n as number;
  const latent = ckpt.state.latent;
  const z = Rng.stream(flags.seed as number, 'sample').fillNormal(new Float32Array(n * latent));
  // An asynchronous read: the only kind the webgpu backend can do in Node.
  const out_ = tf.tidy(() => ckpt.generator.predict(tf.tensor(z, [n, latent])) as tf.Tensor);
  const images = ((await out_.data()) as Float32Array).slice();
  out_.dispose();
  const png = encodeGridPng({ images, count: n, rows: 28, cols: 28, scale: flags.scale as number });
  const out = (flags.out as string | undefined) ?? join(dirname(dir), 'samples.png');
  await writeFileAtomic(out, png);
  process.stderr.write(`wrote ${n} samples from ${dir} (epoch ${ckpt.state.epoch}, step ${ckpt.state.globalStep}) to ${out}\n`);
});
