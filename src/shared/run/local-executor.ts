/**
 * The step executor of `npm run train`: one replica in this process, nothing to reduce. It can
 * pause after any step, and yields one turn of the event loop per step so a signal's handler runs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { serializeCheckpoint } from '../checkpoint/serialize.js';
import type { TrainConfig } from '../config.js';
import type { MnistSplit } from '../data/mnist.js';
import { batchIndices, epochPermutation, gatherBatch } from '../data/schedule.js';
import { evaluateGenerator, type GeneratorEvaluatorArgs } from '../eval/evaluate.js';
import type { Replica } from '../replica.js';
import type { StepExecutor, StepRange } from './loop.js';
import { sampleGridCount } from './outputs.js';
import { checkpointPayload, type RunPosition } from './snapshot.js';
import { combineReports, reportOfStep, type StepRecord } from './step-report.js';

export interface LocalExecutorArgs {
  replica: Replica;
  data: MnistSplit;
  config: TrainConfig;
  /** The backend's label, written into checkpoints. */
  backend: string;
  /** The fixed noise of the sample grids, and their digits for a conditional model. */
  noise: Float32Array;
  noiseLabels?: Uint8Array;
  evaluator?: GeneratorEvaluatorArgs;
}

export class LocalExecutor implements StepExecutor {
  private readonly batch: Float32Array;
  private readonly labels: Uint8Array;

  constructor(private readonly a: LocalExecutorArgs) {
    this.batch = new Float32Array(a.config.batchSize * 28 * 28);
    this.labels = new Uint8Array(a.config.batchSize);
  }

  async run(range: StepRange, onStep: (r: StepRecord) => Promise<void>, pause: () => boolean): Promise<void> {
    const { replica, data, config } = this.a;
    const perm = epochPermutation(config.seed, range.epoch, data.count);
    let metricsMs = 0;
    for (let step = range.from; step < range.to; step++) {
      const t0 = performance.now();
      gatherBatch(data, batchIndices(perm, step, config.batchSize), this.batch, this.labels);
      const dataMs = performance.now() - t0;
      const s = await replica.trainStep(this.batch, config.batchSize, { epoch: range.epoch, step, rank: 0, world: 1 }, undefined, this.labels);
      const t1 = performance.now();
      const combined = combineReports([{ ...reportOfStep(s, dataMs), reducedBytes: 0, memoryBytes: tf.memory().numBytes, numTensors: tf.memory().numTensors, rssBytes: process.memoryUsage.rss() }]);
      await onStep({ ...combined, ms: dataMs + s.timings.total + metricsMs, images: config.batchSize, metricsMs });
      metricsMs = performance.now() - t1;
      // A step's awaits can all resolve as microtasks; one turn of the event loop per step lets a
      // signal's handler run now rather than several steps later (measured: 1.4 s late).
      await new Promise((resolve) => setImmediate(resolve));
      if (step + 1 < range.to && pause()) return;
    }
  }

  samples(): Promise<Float32Array> {
    return this.a.replica.generate(this.a.noise, sampleGridCount(this.a.config.model), this.a.noiseLabels);
  }

  evaluate() {
    if (!this.a.evaluator) throw new Error('evaluation asked for without an evaluator');
    return evaluateGenerator(this.a.evaluator, this.a.replica.gan.generator);
  }

  async checkpointFiles(pos: RunPosition) {
    return (await serializeCheckpoint(checkpointPayload(this.a.replica, this.a.config, pos, this.a.backend))).files;
  }
}
