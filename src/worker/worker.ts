/**
 * One worker of a cluster: joins the coordinator, joins the ring, receives rank 0's state, then
 * runs the steps it is told to run with a Replica whose gradient reducer is the ring all-reduce.
 * Rank 0 also serialises checkpoints and generates sample images for the coordinator.
 */
import { hostname } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import * as zmq from 'zeromq';
import type { BackendChoice } from '../shared/backend/select.js';
import { deserializeModel, serializeCheckpoint } from '../shared/checkpoint/serialize.js';
import { CHECKPOINT_FILES, unpackOptimizer, type CheckpointState } from '../shared/checkpoint/format.js';
import { configFingerprintFields, type TrainConfig } from '../shared/config.js';
import { loadMnist } from '../shared/data/mnist.js';
import { batchIndices, epochPermutation, gatherBatch, shardSize } from '../shared/data/schedule.js';
import { curveClient, type CurveKeys } from '../shared/protocol/curve.js';
import { fingerprint } from '../shared/protocol/fingerprint.js';
import { Inbox, receiveLoop, SendQueue, type ReceiveStats } from '../shared/protocol/channel.js';
import { encodeMessage } from '../shared/protocol/codec.js';
import { PROTOCOL_VERSION, type ToWorker, type Welcome } from '../shared/protocol/messages.js';
import { summarize } from '../shared/models/index.js';
import { Replica, replicaArgsOf } from '../shared/replica.js';
import { checkpointPayload } from '../shared/run/snapshot.js';
import { releaseMemory } from '../shared/release-memory.js';
import { fixedLabels, fixedNoise } from '../shared/run/trainer.js';
import { DEFAULT_CLASSIFIER_DIR, loadClassifier } from '../shared/eval/classifier-store.js';
import { evaluateGenerator, type GeneratorEvaluatorArgs } from '../shared/eval/evaluate.js';
import { resolve } from 'node:path';
import { VERSION } from '../shared/version.js';
import { reportOfStep } from '../shared/run/step-report.js';
import { GpuSampler } from './gpu-stats.js';
import { webGpuMemory } from '../shared/backend/webgpu.js';

/** The webgpu backend's device memory from tf.memory(), as report fields (none on other backends). */
function deviceMemory(): { deviceMemoryBytes?: number; deviceMemoryAllocatedBytes?: number } {
  const m = webGpuMemory();
  return m ? { deviceMemoryBytes: m.usedBytes, deviceMemoryAllocatedBytes: m.allocatedBytes } : {};
}
import type { DataPlane } from '../shared/allreduce/ring.js';
import { openRing, type Ring } from './ring-link.js';
import { AllReduceError, AllReduceTimeoutError } from '../shared/allreduce/transport.js';
import { describeError } from '../shared/describe-error.js';

/** Everything a worker needs. */
export interface WorkerArgs {
  /** tcp://HOST:PORT of the coordinator's control socket. */
  coordinator: string;
  token: Buffer;
  config: TrainConfig;
  backend: BackendChoice;
  /** Requested rank, -1 for any. */
  rank: number;
  /** Host the data socket binds to. */
  bindHost: string;
  compression: 'none' | 'fp16';
  /** --data-plane: shared memory between ranks of one host, sockets, or both (ring.ts DataPlane). */
  dataPlane: DataPlane;
  collectiveTimeoutMs: number;
  /** Exit when the coordinator has been silent this long (it sends a heartbeat every second). */
  coordinatorTimeoutMs: number;
  /** CurveZMQ cluster keypair: the control connection and the ring are encrypted. */
  curve?: CurveKeys;
  /**
   * Aborted when this process was asked to stop (reason: the signal's name). The worker forwards it
   * to the coordinator as a `stop-request` once admitted; the run stops there, with a checkpoint.
   */
  stop?: AbortSignal;
  /** Device description for the hello. */
  device: string;
  log: (line: string) => void;
}

/** Thrown when the worker must stop; the message is one line for the user. */
export class WorkerExit extends Error {
  constructor(message: string, readonly code: number) {
    super(message);
  }
}

const HEARTBEAT_MS = 1000;
const WATCHDOG_MS = 500;

/** Runs the worker until the coordinator says stop (resolves) or something fails (rejects with WorkerExit). */
export async function runWorker(args: WorkerArgs): Promise<void> {
  const { config } = args;
  // sendTimeout: a DEALER with no live connection (coordinator gone, CURVE handshake refused)
  // blocks send() forever; with it, a send waits at most the coordinator timeout, then rejects.
  const dealer = new zmq.Dealer({ linger: 1000, sendHighWaterMark: 0, receiveHighWaterMark: 0, sendTimeout: args.coordinatorTimeoutMs });
  const sendQ = new SendQueue(dealer);
  const inbox = new Inbox<{ msg: ToWorker; raw: Buffer[] }>();
  const stats: ReceiveStats = { received: 0, rejected: 0 };
  let lastHeard = Date.now();
  let ring: Ring | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  const gpu = new GpuSampler();
  let watchdog: NodeJS.Timeout | undefined;
  const send = (msg: Parameters<typeof encodeMessage>[0], raw: Uint8Array[] = []) => sendQ.send(encodeMessage(msg, args.token, raw));

  try {
    let welcomed = false;
    const refusedConnection = `the coordinator at ${args.coordinator} closed the connection before answering (CurveZMQ keys missing or wrong?)`;
    let disconnected = false;
    dealer.events.on('disconnect', () => {
      disconnected = true;
      inbox.fail(new WorkerExit(welcomed ? `lost the connection to the coordinator at ${args.coordinator}` : refusedConnection, 3));
    });
    if (args.curve) curveClient(dealer, args.curve);
    dealer.connect(args.coordinator);
    void receiveLoop<ToWorker>(dealer, args.token, 0, ({ msg, raw }) => {
      lastHeard = Date.now();
      if (msg.t === 'hb') return;
      // A stop must not wait behind a collective that can no longer finish (a peer died):
      // closing the ring makes any pending all-reduce fail at once.
      if (msg.t === 'stop') ring?.close();
      inbox.push({ msg, raw });
    }, stats).catch((err) => inbox.fail(err as Error));

    ring = await openRing({ bindHost: args.bindHost, secret: args.token, timeoutMs: args.collectiveTimeoutMs, compression: args.compression, curve: args.curve, dataPlane: args.dataPlane });
    const fields = configFingerprintFields(config, args.compression);
    const hello = send({
      t: 'hello', protocol: PROTOCOL_VERSION, rank: args.rank, device: args.device, backend: args.backend.label, version: VERSION,
      ...(args.backend.blas ? { blas: args.backend.blas.reason } : {}),
      ...(args.backend.adapter ? { adapterName: args.backend.adapter.name, adapterVendor: args.backend.adapter.vendor, adapterType: args.backend.adapter.type } : {}),
      configHash: fingerprint(fields), config: fields, dataEndpoint: ring.endpoint, host: hostname(), pid: process.pid,
    });
    await hello.catch((err) => {
      if (disconnected) throw new WorkerExit(refusedConnection, 3);
      throw new WorkerExit(`could not reach the coordinator at ${args.coordinator} within ${args.coordinatorTimeoutMs / 1000} s (${(err as Error).message.split('\n')[0]}); is it running, and are the CurveZMQ keys right?`, 3);
    });
    const first = await inbox.next(args.coordinatorTimeoutMs, `answer from the coordinator at ${args.coordinator} (is it running, and is the token right?)`).catch((err) => {
      throw new WorkerExit((err as Error).message, 3);
    });
    if (first.msg.t === 'refuse') throw new WorkerExit(`the coordinator refused this worker: ${first.msg.reason}`, 2);
    if (first.msg.t !== 'welcome') throw new WorkerExit(`unexpected '${first.msg.t}' from the coordinator before welcome`, 3);
    const welcome: Welcome = first.msg;
    welcomed = true;
    const { rank, world } = welcome;
    args.log(`joined as rank ${rank} of ${world} (run ${welcome.runId})`);

    heartbeat = setInterval(() => void send({ t: 'hb' }).catch(() => undefined), HEARTBEAT_MS);
    // A stop asked of this process (before or after joining) is the run's to carry out: rank 0
    // must serialise the checkpoint, so the coordinator stops everyone at a step boundary.
    const forwardStop = () => void send({ t: 'stop-request', rank, signal: String(args.stop!.reason) }).catch(() => undefined);
    if (args.stop?.aborted) forwardStop();
    else args.stop?.addEventListener('abort', forwardStop, { once: true });
    let lastTick = Date.now();
    watchdog = setInterval(() => {
      const now = Date.now();
      // A late tick means a long synchronous step blocked the event loop: heartbeats that arrived
      // meanwhile are still queued, so judge at the next tick, after they have been read.
      const blocked = now - lastTick > 2 * WATCHDOG_MS;
      lastTick = now;
      const silent = now - lastHeard;
      if (!blocked && silent > args.coordinatorTimeoutMs) inbox.fail(new WorkerExit(`the coordinator has been silent for ${(silent / 1000).toFixed(1)} s; exiting`, 3));
    }, WATCHDOG_MS);

    const data = await loadMnist({ dir: config.data, split: 'train', limit: config.limit });
    const local = shardSize(config.batchSize, world);
    const replica = await Replica.create(replicaArgsOf(config));
    if (rank === 0) args.log(summarize(replica.gan));
    // Only rank 0 evaluates (--eval-every); it loads the classifier now, not at the first evaluation.
    let evaluator: GeneratorEvaluatorArgs | undefined;
    if (rank === 0 && config.evalEvery !== undefined) {
      const classifier = await loadClassifier(resolve(config.classifier ?? DEFAULT_CLASSIFIER_DIR)).catch((err) => {
        throw new WorkerExit((err as Error).message, 2);
      });
      evaluator = { classifier, n: config.evalN, latent: config.latent, seed: config.seed };
    }
    await ring.join(rank, world, welcome.peers).catch((err) => {
      throw new WorkerExit((err as Error).message, 2);
    });
    if (world > 1) args.log(`data plane: ${ring.links}`);
    if (welcome.restore && rank === 0) {
      const m = await inbox.next(120_000, 'the checkpoint to resume from').catch((err) => {
        throw new WorkerExit((err as Error).message, 3);
      });
      if (m.msg.t !== 'restore') throw new WorkerExit(`expected the checkpoint to resume from, got '${m.msg.t}'`, 3);
      await restoreFromFrames(replica, m.msg.files, m.raw);
      args.log('restored the checkpoint; broadcasting it to the other replicas');
    }
    // Rank 0's weights and optimizer state are the run's: broadcast them so every replica starts equal.
    const state = replica.exportState();
    await ring.broadcast(state, 0);
    if (rank !== 0) replica.importState(state);
    await send({ t: 'ready', rank, weightsHash: replica.weightsHash() });

    const batch = new Float32Array(local * 28 * 28);
    const labels = new Uint8Array(local);
    // CUDA_VISIBLE_DEVICES=i leaves this process one GPU, index 0 from its point of view.
    if (args.backend.name === 'tfjs-node-gpu') gpu.start(0);
    // ZeRO stage 1: each rank updates its segment of the parameters and holds Adam's moments for it only.
    const reducer = ring.sharded();
    for (;;) {
      // No timer of its own: the watchdog ends this wait when the heartbeats stop. While rank 0
      // evaluates or serialises a checkpoint (a DCGAN eval on wasm outlasts --coordinator-timeout),
      // the others have nothing to do but must not give up.
      const { msg } = await inbox.next(Infinity, 'command from the coordinator').catch((err) => {
        throw err instanceof WorkerExit ? err : new WorkerExit((err as Error).message, 3);
      });
      switch (msg.t) {
        case 'run': {
          // Steps back to back; a report per step goes out without waiting for the coordinator.
          const perm = epochPermutation(config.seed, msg.epoch, data.count);
          const stopQueued = () => inbox.has((m) => m.msg.t === 'stop');
          for (let step = msg.from; step < msg.to; step++) {
            const tData = performance.now();
            gatherBatch(data, batchIndices(perm, step, config.batchSize, rank, world), batch, labels);
            const dataMs = performance.now() - tData;
            const sentBefore = ring.bytesSent;
            let s;
            try {
              s = await replica.trainStep(batch, local, { epoch: msg.epoch, step, rank, world }, reducer, labels);
            } catch (err) {
              // A stop closes the ring under a collective in flight (recovery from a lost peer):
              // the stop, queued next, is what happened, not this error.
              if (stopQueued()) break;
              throw err;
            }
            const done = msg.globalStep + (step - msg.from) + 1;
            const hash = done % welcome.hashEvery === 0 || (msg.hashLast && step + 1 === msg.to);
            const memory = tf.memory();
            await send({
              t: 'report', rank, epoch: msg.epoch, step, ...reportOfStep(s, dataMs),
              reducedBytes: ring.bytesSent - sentBefore, memoryBytes: memory.numBytes, numTensors: memory.numTensors, rssBytes: process.memoryUsage.rss(),
              ...(gpu.latest ? { gpuUtilization: gpu.latest.utilization, gpuMemoryBytes: gpu.latest.memoryBytes, ...(gpu.latest.index !== undefined ? { gpuIndex: gpu.latest.index } : {}), ...(gpu.latest.uuid ? { gpuUuid: gpu.latest.uuid } : {}) } : {}),
              ...deviceMemory(),
              ...(hash ? { weightsHash: replica.weightsHash() } : {}),
            });
            // A stop (or a lost coordinator) ends the run of steps at once: the ring is closed, and
            // the next collective would fail anyway.
            if (inbox.failed || stopQueued()) break;
          }
          break;
        }
        case 'sample': {
          const images = await replica.generate(fixedNoise(config), msg.count, fixedLabels(config));
          await send({ t: 'samples', epoch: msg.epoch, count: msg.count }, [new Uint8Array(images.buffer, images.byteOffset, images.byteLength)]);
          break;
        }
        case 'eval': {
          if (!evaluator) throw new WorkerExit('asked to evaluate, but this worker has no classifier (is it rank 0, started with --eval-every?)', 3);
          const { result, seconds } = await evaluateGenerator({ ...evaluator, n: msg.count }, replica.gan.generator);
          await send({ t: 'eval-done', epoch: msg.epoch, result, seconds });
          break;
        }
        case 'checkpoint': {
          // Every rank is asked: the Adam moments are sharded, and each rank's segment must reach rank 0.
          await replica.gatherOptimizerStates(reducer);
          if (rank === 0) {
            const { files } = await serializeCheckpoint(checkpointPayload(replica, config, msg, args.backend.label));
            await send({ t: 'checkpoint-data', files: [...CHECKPOINT_FILES], epoch: msg.epoch, globalStep: msg.globalStep }, CHECKPOINT_FILES.map((f) => files[f]));
          }
          replica.dropGatheredStates();
          releaseMemory();
          break;
        }
        case 'stop':
          args.log(`stopping: ${msg.reason}`);
          return;
        case 'refuse':
          throw new WorkerExit(`the coordinator refused this worker: ${msg.reason}`, 2);
        default:
          break; // a late welcome or anything else harmless: ignore
      }
    }
  } catch (err) {
    if (err instanceof WorkerExit) throw err;
    // Tell the coordinator why, so it can report it instead of waiting for a timeout.
    const peer = err instanceof AllReduceError || err instanceof AllReduceTimeoutError ? err.peer : undefined;
    await Promise.race([send({ t: 'error', rank: args.rank, message: describeError(err), ...(peer === undefined ? {} : { peer }) }), new Promise((r) => setTimeout(r, 500))]).catch(() => undefined);
    throw err;
  } finally {
    clearInterval(heartbeat);
    clearInterval(watchdog);
    gpu.stop();
    ring?.close();
    dealer.close();
    if (stats.rejected) args.log(`dropped ${stats.rejected} unauthenticated or malformed control messages (last: ${stats.lastRejection})`);
  }
}

/** Loads checkpoint files received from the coordinator into `replica`. */
async function restoreFromFrames(replica: Replica, names: string[], raw: Buffer[]): Promise<void> {
  const file = (name: string) => {
    const i = names.indexOf(name);
    if (i < 0 || !raw[i]) throw new WorkerExit(`the checkpoint sent for resuming lacks ${name}`, 3);
    return new Uint8Array(raw[i]);
  };
  const text = (name: string) => new TextDecoder().decode(file(name));
  const state = JSON.parse(text('state.json')) as CheckpointState;
  const generator = await deserializeModel(text('generator/model.json'), file('generator/weights.bin'), 'checkpoint generator');
  const discriminator = await deserializeModel(text('discriminator/model.json'), file('discriminator/weights.bin'), 'checkpoint discriminator');
  try {
    await replica.restore({ generator, discriminator, optimizer: unpackOptimizer(file('optimizer.bin'), state) });
  } finally {
    generator.dispose();
    discriminator.dispose();
  }
}
