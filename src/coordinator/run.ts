/** Running a coordinator with signal handling and one-line failure reports; shared by the launcher and `npm run coordinator`. */
import type { FlagValues, TrainConfig } from '../shared/config.js';
import { loadCurveKeys } from '../shared/protocol/curve.js';
import type { ResumePlan } from '../shared/run/resume.js';
import { StopSignals, stopNotice } from '../shared/run/stop-signals.js';
import type { TrainResult } from '../shared/run/trainer.js';
import { ClusterError, Coordinator, type CoordinatorArgs } from './coordinator.js';
import { readMetricsToken } from './metrics/bearer.js';

/** CoordinatorArgs from parsed flags. */
export function coordinatorArgsFrom(flags: FlagValues, config: TrainConfig, token: Buffer, world: number, resume?: ResumePlan): Omit<CoordinatorArgs, 'shouldStop' | 'onRecover'> {
  return {
    config: resume ? resume.config : config,
    resume,
    world,
    token,
    bindHost: flags.bind as string,
    port: flags.port as number,
    compression: flags['grad-compression'] as 'none' | 'fp16',
    workerTimeoutMs: (flags['worker-timeout'] as number) * 1000,
    joinTimeoutMs: (flags['join-timeout'] as number) * 1000,
    hashEvery: flags['hash-every'] as number,
    maxRestarts: flags['max-restarts'] as number,
    elastic: flags.elastic as boolean,
    snapshotIntervalSec: flags['snapshot-interval'] as number,
    metricsBind: flags['metrics-bind'] as string,
    metricsPort: flags['metrics-port'] as number,
    metricsToken: flags['metrics-token-file'] === undefined ? undefined : readMetricsToken(flags['metrics-token-file'] as string),
    lingerSec: flags.linger as number,
    curve: flags['curve-keys'] === undefined ? undefined : loadCurveKeys(flags['curve-keys'] as string, true),
    log: (l) => process.stderr.write(`[coordinator] ${l}\n`),
  };
}

/** What `runCoordinator` hands back. */
export interface CoordinatorOutcome {
  result?: TrainResult;
  failed: boolean;
}

/**
 * Binds, calls `onListening` (where the launcher spawns its workers), runs the training, and
 * turns failures into one line. A stop request (stop-signals.ts): checkpoint at the next step
 * boundary and stop; a second one, clearly later: stop at once.
 */
export async function runCoordinator(
  args: Omit<CoordinatorArgs, 'shouldStop' | 'onRecover'> & { onRecover?: (coordinator: Coordinator, world: number) => Promise<void> },
  onListening: (endpoint: string, coordinator: Coordinator) => void | Promise<void>,
): Promise<CoordinatorOutcome> {
  // Once the run is over, any stop request ends the metrics linger (coordinator.close) at once.
  let over = false;
  const endLinger = new AbortController();
  const stops: StopSignals = new StopSignals({
    onStop: (sig) => (over ? endLinger.abort() : process.stderr.write(`\n${stopNotice(sig)}\n`)),
    // A second request means "now": no linger either.
    onStopNow: (sig) => {
      endLinger.abort();
      if (!over) coordinator.fail(`${sig} again: stopping at once`);
    },
  });
  const coordinator: Coordinator = new Coordinator({
    ...args,
    shouldStop: () => stops.requested,
    onRecover: args.onRecover && ((world: number) => args.onRecover!(coordinator, world)),
  });
  try {
    const endpoint = await coordinator.bind();
    await onListening(endpoint, coordinator);
    const result = await coordinator.run();
    if (result.beforeFirstStep) {
      process.stderr.write(`stopped before the first step: nothing trained${result.lastCheckpoint ? `; ${result.runDir} is as it was (continue with --resume latest)` : `, nothing kept in ${result.runDir}`}\n`);
      return { result, failed: false };
    }
    process.stderr.write(`${result.stopped ? 'stopped' : 'done'}: ${result.stepsDone} steps; run in ${result.runDir}; last checkpoint ${result.lastCheckpoint ?? 'none'}\n`);
    process.stderr.write(`sample it: npm run sample -- --ckpt latest --run-dir ${result.runDir}\n`);
    return { result, failed: false };
  } catch (err) {
    if (!(err instanceof ClusterError)) throw err;
    process.stderr.write(`cluster: error: ${err.message}\n`);
    return { failed: true };
  } finally {
    over = true;
    try {
      await coordinator.close(undefined, endLinger.signal);
    } finally {
      stops.dispose();
    }
  }
}
