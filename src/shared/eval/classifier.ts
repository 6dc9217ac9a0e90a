/**
 * The MNIST classifier the evaluation measures with: a small CNN whose 128-unit penultimate layer
 * gives the FID features and whose softmax gives the MNIST score and digit coverage. Building and
 * training it needs TensorFlow; saving and finding it on disk is in classifier-store.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { streamSeed } from '../rng.js';
import { LEARNING_RATES } from './classifier-files.js';

/** Width of the feature layer (the FID space). */
export const FEATURE_SIZE = 128;
export const NUM_CLASSES = 10;
/** Name of the feature layer, so a loaded model can be split into features + head. */
const FEATURE_LAYER = 'features';
/** Filters of the two conv layers (32/64 reached 99.17% in 3 epochs but trains about 2.5× slower on wasm). */
const FILTERS = [16, 32];

/**
 * conv 5×5×16 → max-pool → conv 5×5×32 → max-pool → dense 128 (features) → dropout → dense 10.
 * About 1 M multiply-adds per image: small enough to train on one wasm core in minutes.
 */
export function buildClassifier(seed: number): tfl.LayersModel {
  let layer = 0;
  const init = () => tfl.initializers.glorotUniform({ seed: streamSeed(seed, 'init', 2, layer++) });
  const m = tfl.sequential({ name: 'mnist_classifier' });
  m.add(tfl.layers.reshape({ targetShape: [28, 28, 1], inputShape: [784] }));
  m.add(tfl.layers.conv2d({ filters: FILTERS[0], kernelSize: 5, activation: 'relu', kernelInitializer: init() }));
  m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tfl.layers.conv2d({ filters: FILTERS[1], kernelSize: 5, activation: 'relu', kernelInitializer: init() }));
  m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tfl.layers.flatten());
  m.add(tfl.layers.dense({ units: FEATURE_SIZE, activation: 'relu', kernelInitializer: init(), name: FEATURE_LAYER }));
  m.add(tfl.layers.dropout({ rate: 0.3, seed: streamSeed(seed, 'init', 2, 99) }));
  m.add(tfl.layers.dense({ units: NUM_CLASSES, activation: 'softmax', kernelInitializer: init() }));
  return m;
}

/** Arguments of `trainClassifier`. */
export interface TrainClassifierArgs {
  images: Float32Array;
  labels: Uint8Array;
  count: number;
  epochs: number;
  batchSize: number;
  seed: number;
  /** Called every few batches with (epoch 0-based, fraction of the epoch done, mean loss, accuracy so far). */
  onProgress?: (epoch: number, fraction: number, loss: number, acc: number) => void;
}

/** Trains a fresh classifier with Adam on the given images ([-1, 1], 784 each), the rate stepping down per LEARNING_RATES. */
export async function trainClassifier(args: TrainClassifierArgs): Promise<tfl.LayersModel> {
  const model = buildClassifier(args.seed);
  const optimizer = tf.train.adam(LEARNING_RATES[0]);
  model.compile({ optimizer, loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const xs = tf.tensor2d(args.images.subarray(0, args.count * 784), [args.count, 784]);
  const ys = tf.tensor1d(Float32Array.from(args.labels.subarray(0, args.count)));
  const batches = Math.ceil(args.count / args.batchSize);
  let epoch = 0;
  try {
    await model.fit(xs, ys, {
      batchSize: args.batchSize,
      epochs: args.epochs,
      shuffle: true,
      verbose: 0,
      callbacks: {
        onEpochBegin: async (e) => {
          epoch = e;
          // AdamOptimizer reads this field on every step; tfjs has no public setter.
          (optimizer as unknown as { learningRate: number }).learningRate = LEARNING_RATES[Math.min(e, LEARNING_RATES.length - 1)];
        },
        onBatchEnd: async (b, logs) => {
          if (b % 50 === 0 || b === batches - 1) args.onProgress?.(epoch, (b + 1) / batches, logs?.loss ?? NaN, logs?.acc ?? NaN);
        },
      },
    });
  } finally {
    xs.dispose();
    ys.dispose();
  }
  return model;
}

/** What the classifier says about a set of images. */
export interface ClassifierOutputs {
  /** count × FEATURE_SIZE penultimate-layer activations. */
  features: Float32Array;
  /** count × NUM_CLASSES class probabilities. */
  probs: Float32Array;
  count: number;
}

/** Runs images ([-1, 1], 784 each) through the classifier in batches; returns features and probabilities. */
export async function classify(model: tfl.LayersModel, images: Float32Array, count: number, batch = 250): Promise<ClassifierOutputs> {
  const split = featureSplit(model);
  const features = new Float32Array(count * FEATURE_SIZE);
  const probs = new Float32Array(count * NUM_CLASSES);
  for (let i = 0; i < count; i += batch) {
    const n = Math.min(batch, count - i);
    tf.tidy(() => {
      const x = tf.tensor2d(images.subarray(i * 784, (i + n) * 784), [n, 784]);
      const f = split.features.predict(x) as tf.Tensor;
      const p = split.head(f);
      features.set(f.dataSync(), i * FEATURE_SIZE);
      probs.set(p.dataSync(), i * NUM_CLASSES);
    });
    await breathe();
  }
  return { features, probs, count };
}

const SPLITS = new WeakMap<tfl.LayersModel, { features: tfl.LayersModel; head: (f: tf.Tensor) => tf.Tensor }>();

/** The model up to the feature layer, and the rest as a function of the features (inference mode). */
function featureSplit(model: tfl.LayersModel) {
  let s = SPLITS.get(model);
  if (!s) {
    const idx = model.layers.findIndex((l) => l.name === FEATURE_LAYER);
    if (idx < 0) throw new Error(`classifier has no '${FEATURE_LAYER}' layer`);
    const features = tfl.model({ inputs: model.inputs, outputs: model.layers[idx].output as tfl.SymbolicTensor });
    const rest = model.layers.slice(idx + 1);
    const head = (f: tf.Tensor) => rest.reduce((x, l) => l.apply(x, { training: false }) as tf.Tensor, f);
    s = { features, head };
    SPLITS.set(model, s);
  }
  return s;
}

/** Share of images whose most probable class is their label. */
export function accuracy(probs: Float32Array, labels: Uint8Array, count: number): number {
  let right = 0;
  for (let i = 0; i < count; i++) if (argmax(probs, i * NUM_CLASSES, NUM_CLASSES) === labels[i]) right++;
  return right / count;
}

export function argmax(a: ArrayLike<number>, off: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (a[off + j] > a[off + best]) best = j;
  return best;
}

/** Lets timers run between batches: a cluster worker evaluating keeps sending heartbeats. */
export function breathe(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
