/**
 * Turning a replica's models and optimizer states into checkpoint file contents and back. This is
 * the only checkpoint module that needs TensorFlow; writing and verifying files (store.ts) does not,
 * so the coordinator can write checkpoints that rank 0 serialised.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { AdamState } from '../optimizer.js';
import { CHECKPOINT_FORMAT, CHECKPOINT_VERSION, packOptimizer, type CheckpointFiles, type CheckpointState } from './format.js';

/** A model serialised in the TF.js layers format. */
export interface SerializedModel {
  modelJson: string;
  weights: Uint8Array;
}

/** Serialises a layers model to model.json text (weights manifest pointing at weights.bin) and weight bytes. */
export async function serializeModel(model: tfl.LayersModel): Promise<SerializedModel> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!artifacts || !artifacts.weightSpecs || !artifacts.weightData) throw new Error(`could not serialise model ${model.name}`);
  const weightData = tf.io.CompositeArrayBuffer.join(artifacts.weightData);
  const modelJson = {
    modelTopology: artifacts.modelTopology,
    format: 'layers-model',
    generatedBy: artifacts.generatedBy,
    convertedBy: null,
    weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
  };
  return { modelJson: JSON.stringify(modelJson), weights: new Uint8Array(weightData) };
}

/** Loads a model from model.json text and weight bytes (what `serializeModel` wrote). */
export async function deserializeModel(modelJson: string, weights: Uint8Array, what: string): Promise<tfl.LayersModel> {
  let parsed: { modelTopology?: unknown; weightsManifest?: { weights: tf.io.WeightsManifestEntry[] }[] };
  try {
    parsed = JSON.parse(modelJson);
  } catch (err) {
    throw new Error(`${what}: model.json is not valid JSON (${(err as Error).message})`);
  }
  if (!parsed.modelTopology || !Array.isArray(parsed.weightsManifest)) throw new Error(`${what}: model.json lacks modelTopology or weightsManifest`);
  const weightSpecs = parsed.weightsManifest.flatMap((g) => g.weights);
  const expected = weightSpecs.reduce((s, w) => s + 4 * w.shape.reduce((a, b) => a * b, 1), 0);
  if (expected !== weights.byteLength) throw new Error(`${what}: weights.bin has ${weights.byteLength} bytes, model.json describes ${expected}`);
  const weightData = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer;
  return tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: parsed.modelTopology as object, weightSpecs, weightData }));
}

/** What a trainer hands over to be saved. */
export interface CheckpointPayload {
  generator: tfl.LayersModel;
  discriminator: tfl.LayersModel;
  optimizer: { D: AdamState; G: AdamState };
  state: Omit<CheckpointState, 'format' | 'version' | 'createdAt'>;
}

/** Serialises a checkpoint into file contents plus its parsed state. */
export async function serializeCheckpoint(payload: CheckpointPayload): Promise<{ files: CheckpointFiles; state: CheckpointState }> {
  const [g, d] = [await serializeModel(payload.generator), await serializeModel(payload.discriminator)];
  const state: CheckpointState = { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, createdAt: new Date().toISOString(), ...payload.state };
  const text = (s: string) => new TextEncoder().encode(s);
  return {
    state,
    files: {
      'generator/model.json': text(g.modelJson),
      'generator/weights.bin': g.weights,
      'discriminator/model.json': text(d.modelJson),
      'discriminator/weights.bin': d.weights,
      'optimizer.bin': packOptimizer(payload.optimizer),
      'state.json': text(JSON.stringify(state, null, 2) + '\n'),
    },
  };
}
