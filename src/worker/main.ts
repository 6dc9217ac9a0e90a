/** `npm run worker -- --coordinator tcp://HOST:PORT [--token …] [training flags]`: one worker process. */
import { hostname } from 'node:os';
import { runCli } from '../cli/main.js';
import { selectBackend } from '../shared/backend/select.js';
import { COLLECTIVE_FLAGS, FlagError, TRAIN_FLAGS, trainConfigFrom, WORKER_FLAGS } from '../shared/config.js';
import { resolveToken } from '../shared/protocol/auth.js';
import { loadCurveKeys } from '../shared/protocol/curve.js';
import { runWorker, WorkerExit } from './worker.js';

// Workers the launcher spawned share the terminal's process group, so Ctrl-C reaches them too; the
// coordinator already turns it into a checkpoint and an orderly stop, so they leave it to it.
if (process.env.GAN_LAUNCHED === '1') {
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => undefined);
}

const FLAGS = [...WORKER_FLAGS, ...COLLECTIVE_FLAGS, ...TRAIN_FLAGS.filter((f) => !WORKER_FLAGS.some((w) => w.name === f.name))];

await runCli('npm run worker --', FLAGS, async (flags) => {
  const coordinator = flags.coordinator as string | undefined;
  if (!coordinator) throw new FlagError('--coordinator tcp://HOST:PORT is required');
  if (!/^tcp:\/\/[^:/]+:\d+$/.test(coordinator)) throw new FlagError(`--coordinator must look like tcp://HOST:PORT, got '${coordinator}'`);
  const token = resolveToken(flags.token as string | undefined, flags['token-file'] as string | undefined);
  const config = trainConfigFrom(flags);
  const backend = await selectBackend(config.backend, { allowSoftwareAdapter: config.allowSoftwareAdapter, blas: config.blas });
  const rankTag = process.env.GAN_WORKER_TAG ?? `worker ${process.pid}`;
  const log = (l: string) => process.stderr.write(`[${rankTag}] ${l}\n`);
  log(`backend: ${backend.label} (${backend.reason})`);
  if (backend.blas) log(`blas: ${backend.blas.reason}`);
  const device = backend.adapter
    ? `webgpu ${process.env.GAN_WEBGPU_ADAPTER ?? 0}: ${backend.adapter.name}`
    : process.env.CUDA_VISIBLE_DEVICES !== undefined && backend.name === 'tfjs-node-gpu' ? `GPU ${process.env.CUDA_VISIBLE_DEVICES}` : `cpu (${hostname()})`;
  try {
    await runWorker({
      coordinator, token, config, backend, device, log,
      rank: flags.rank as number,
      bindHost: flags.bind as string,
      compression: flags['grad-compression'] as 'none' | 'fp16',
      collectiveTimeoutMs: (flags['collective-timeout'] as number) * 1000,
      curve: flags['curve-keys'] === undefined ? undefined : loadCurveKeys(flags['curve-keys'] as string, false),
      coordinatorTimeoutMs: (flags['coordinator-timeout'] as number) * 1000,
    });
  } catch (err) {
    if (err instanceof WorkerExit) {
      log(`error: ${err.message}`);
      return err.code;
    }
    throw err;
  }
  return 0;
});
