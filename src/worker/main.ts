/** `npm run worker -- --coordinator tcp://HOST:PORT [--token …] [training flags]`: one worker process. */
import { hostname } from 'node:os';
import { runCli } from '../cli/main.js';
import { selectBackend } from '../shared/backend/select.js';
import type { DataPlane } from '../shared/allreduce/ring.js';
import { COLLECTIVE_FLAGS, FlagError, TRAIN_FLAGS, trainConfigFrom, WORKER_FLAGS } from '../shared/config.js';
import { checkPathFlags } from '../shared/path-flags.js';
import { resolveToken } from '../shared/protocol/auth.js';
import { loadCurveKeys } from '../shared/protocol/curve.js';
import { RELAY_WINDOW_MS, StopSignals } from '../shared/run/stop-signals.js';
import { runWorker, WorkerExit } from './worker.js';

// A stop signal to a worker is a stop of the run: `scancel` and node shutdowns signal every process
// of a Slurm job, `srun` relays, a user may signal one worker. The worker forwards the first request
// to the coordinator, which checkpoints at the next step boundary and stops everyone; dying here
// would lose the work since the last checkpoint. A second request, clearly later, exits at once as
// the signal's default would. Workers the launcher spawned (GAN_LAUNCHED) share the terminal's
// process group with it: the launcher's coordinator hears the same signals and deals with a
// second one itself, so they only forward.
const launched = process.env.GAN_LAUNCHED === '1';
const stopController = new AbortController();
const stops: StopSignals = new StopSignals({
  onStop: (sig) => {
    // A launched worker's coordinator heard the same signal and says so itself.
    if (!launched) process.stderr.write(`[${process.env.GAN_WORKER_TAG ?? `worker ${process.pid}`}] ${sig}: asking the coordinator to checkpoint and stop the run (a second signal, ${RELAY_WINDOW_MS / 1000} s or more later, exits at once)\n`);
    stopController.abort(sig);
  },
  onStopNow: (sig) => {
    if (launched) return;
    stops.dispose();
    process.kill(process.pid, sig);
  },
});

const FLAGS = [...WORKER_FLAGS, ...COLLECTIVE_FLAGS, ...TRAIN_FLAGS.filter((f) => !WORKER_FLAGS.some((w) => w.name === f.name))];

await runCli('npm run worker --', FLAGS, async (flags) => {
  checkPathFlags(flags, { 'curve-keys': 'file-or-create', 'token-file': 'file-or-create' });
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
      dataPlane: flags['data-plane'] as DataPlane,
      collectiveTimeoutMs: (flags['collective-timeout'] as number) * 1000,
      curve: flags['curve-keys'] === undefined ? undefined : loadCurveKeys(flags['curve-keys'] as string, false),
      coordinatorTimeoutMs: (flags['coordinator-timeout'] as number) * 1000,
      stop: stopController.signal,
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
