/**
 * `npm run cluster -- --gpus N | --workers N [training flags]`: the local convenience launcher. It
 * runs the coordinator in this process and spawns one worker process per GPU (worker i with
 * CUDA_VISIBLE_DEVICES=i), or N CPU workers, handing them a per-run secret through the environment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { runCli } from '../src/cli/main.js';
import { describeError } from '../src/shared/describe-error.js';
import { visibleGpuCount } from '../src/shared/backend/select.js';
import { COLLECTIVE_FLAGS, COORDINATOR_FLAGS, FlagError, flagsFromTrainConfig, givenFlags, LAUNCHER_FLAGS, TRAIN_FLAGS, trainConfigFrom, type FlagValues } from '../src/shared/config.js';
import { planResume } from '../src/shared/run/resume.js';
import { checkPathFlags } from '../src/shared/path-flags.js';
import { batchSplitProblem } from '../src/shared/run/batch-split.js';
import { classifierReady, ClassifierError, DEFAULT_CLASSIFIER_DIR } from '../src/shared/eval/classifier-files.js';
import { resolve } from 'node:path';
import { newToken, TOKEN_ENV } from '../src/shared/protocol/auth.js';
import type { Coordinator } from '../src/coordinator/coordinator.js';
import { coordinatorArgsFrom, runCoordinator } from '../src/coordinator/run.js';

const WORKER_MAIN = fileURLToPath(new URL('../src/worker/main.ts', import.meta.url));

/** Why no GPU worker can run here, or undefined when `gpus` GPU workers can. */
function gpuUnavailable(gpus: number): string | undefined {
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node-gpu');
  } catch {
    return '@tensorflow/tfjs-node-gpu is not installed';
  }
  const seen = visibleGpuCount();
  if (seen < gpus) return `nvidia-smi sees ${seen} GPU(s), ${gpus} asked for`;
  return undefined;
}

/** Resolves when `c` has exited, killing it after `graceMs`. */
function exitOrKill(c: ChildProcess, graceMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    // No pid: the spawn itself failed (EMFILE, ENOMEM…), and no 'exit' will ever come.
    if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return resolve();
    const timer = setTimeout(() => c.kill('SIGKILL'), graceMs);
    c.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The training and collective flags, as argv for a worker. */
function workerArgv(flags: FlagValues): string[] {
  const argv: string[] = [];
  for (const spec of [...TRAIN_FLAGS, ...COLLECTIVE_FLAGS]) {
    const v = flags[spec.name];
    if (v === undefined || spec.name === 'progress' || spec.name === 'run-dir' || spec.name === 'resume') continue;
    // A boolean flag takes no value (parseArgs refuses --flag=false).
    if (spec.type === 'bool') {
      if (v === true) argv.push(`--${spec.name}`);
      continue;
    }
    argv.push(`--${spec.name}=${String(v)}`);
  }
  return argv;
}

await runCli('npm run cluster --', [...LAUNCHER_FLAGS, ...COORDINATOR_FLAGS, ...COLLECTIVE_FLAGS, ...TRAIN_FLAGS], async (flags) => {
  const gpus = flags.gpus as number | undefined;
  const cpuWorkers = flags.workers as number | undefined;
  if ((gpus === undefined) === (cpuWorkers === undefined)) throw new FlagError('give exactly one of --gpus N (one worker per GPU) or --workers N (CPU workers)');
  const world = (gpus ?? cpuWorkers)!;
  checkPathFlags(flags, { classifier: 'dir', 'curve-keys': 'file-or-create' });
  const given = trainConfigFrom(flags);
  // A resumed run takes its training config from the checkpoint; the workers get that config too.
  const resume = given.resume ? await planResume(given, givenFlags(flags)) : undefined;
  const config = resume ? resume.config : given;
  const split = batchSplitProblem(config.batchSize, world, resume !== undefined);
  if (split) throw new FlagError(split);
  if (config.evalEvery !== undefined) {
    // Workers load the classifier but never train it (that would stall the run for minutes).
    const dir = resolve(config.classifier ?? DEFAULT_CLASSIFIER_DIR);
    if (!(await classifierReady(dir))) throw new ClassifierError(`--eval-every: no usable classifier in ${dir}; build it first with npm run train-classifier${config.classifier ? ` -- --out ${config.classifier}` : ''}`);
  }
  let backend = config.backend;
  let gpuMode = false;
  if (gpus !== undefined && backend === 'webgpu') {
    // Worker i uses the i-th adapter Dawn lists (GAN_WEBGPU_ADAPTER=i; see src/shared/backend/webgpu.ts).
    gpuMode = true;
  } else if (gpus !== undefined) {
    const why = backend === 'auto' || backend === 'tfjs-node-gpu' ? gpuUnavailable(gpus) : `--backend ${backend} asked for`;
    if (why === undefined) {
      gpuMode = true;
      backend = 'tfjs-node-gpu';
    } else {
      process.stderr.write(`no GPU backend loads here (${why}); running ${world} workers on the CPU backend (wasm)\n`);
      if (backend === 'auto' || backend === 'tfjs-node-gpu') backend = 'wasm';
    }
  }
  const token = newToken();
  const children: ChildProcess[] = [];
  let finished = false;
  const argv = workerArgv({ ...flags, ...flagsFromTrainConfig(config), backend });
  const plan = resume && { ...resume, config: { ...resume.config, backend } };
  const spawnWorker = (i: number, size: number, endpoint: string, coordinator: Coordinator) => {
    // GAN_WORKERS_ON_HOST: the workers sharing this host's cores, so that each takes its share of
    // BLAS threads (src/shared/backend/blas.ts).
    const env: NodeJS.ProcessEnv = { ...process.env, [TOKEN_ENV]: token, GAN_WORKER_TAG: `w${i}`, GAN_LAUNCHED: '1', GAN_WORKERS_ON_HOST: String(size) };
    if (gpuMode && backend === 'webgpu') env.GAN_WEBGPU_ADAPTER = String(i);
    else if (gpuMode) env.CUDA_VISIBLE_DEVICES = String(i);
    const child = spawn(process.execPath, ['--import=tsx', WORKER_MAIN, '--coordinator', endpoint, '--rank', String(i), '--bind', flags.bind as string, ...argv], {
      env,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const generation = coordinator.generation + 1; // the assembly this worker is spawned for
    child.on('exit', (code, signal) => {
      // Only a worker still loading dies of a stop signal (a loaded one forwards it): a Ctrl-C at launch.
      if (!finished && !retiring.has(child) && (signal === 'SIGINT' || signal === 'SIGTERM' || signal === 'SIGHUP')) coordinator.workerKilledByStop(i, signal);
      if (!finished && !retiring.has(child) && (code !== 0 || signal)) coordinator.workerExited(i, generation, `worker ${i} (pid ${child.pid}) exited ${signal ? `on ${signal}` : `with code ${code}`}`);
    });
    // A failed spawn (out of descriptors or memory) is an 'error' event, which unhandled would end
    // the launcher and the run with it: it is a lost worker like any other (restarts apply).
    child.on('error', (err) => {
      if (!finished && !retiring.has(child)) coordinator.workerExited(i, generation, `worker ${i} could not be started: ${describeError(err)}`);
    });
    children.push(child);
  };
  let endpointSeen = '';
  const retiring = new WeakSet<ChildProcess>();
  // Whatever ends the run, an error included, no worker outlives the launcher.
  const reapWorkers = () => {
    finished = true;
    return Promise.all(children.map((c) => exitOrKill(c, 5_000)));
  };
  const outcome = await runCoordinator(
    {
      ...coordinatorArgsFrom(flags, { ...config, backend }, Buffer.from(token), world, plan),
      // After a lost worker: the others were told to stop; make sure all are gone, then start a fresh set.
      onRecover: async (coordinator, size) => {
        const old = children.splice(0);
        old.forEach((c) => retiring.add(c));
        await Promise.all(old.map((c) => exitOrKill(c, 5_000)));
        for (let i = 0; i < size; i++) spawnWorker(i, size, endpointSeen, coordinator);
      },
    },
    (endpoint, coordinator) => {
      endpointSeen = endpoint;
      for (let i = 0; i < world; i++) spawnWorker(i, world, endpoint, coordinator);
    },
  ).catch(async (err: unknown) => {
    await reapWorkers();
    throw err;
  });
  // Workers exit on the coordinator's stop; make sure none is left behind.
  await reapWorkers();
  return outcome.failed ? 1 : 0;
});
