/** Loading a verified checkpoint into TensorFlow.js models (needs tfjs; store.ts does not). */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { modelClasses } from '../models/conditional.js';
import type { ModelName } from '../models/index.js';
import type { AdamState } from '../optimizer.js';
import { unpackOptimizer, type CheckpointState } from './format.js';
import { deserializeModel, serializeCheckpoint, type CheckpointPayload } from './serialize.js';
import { CheckpointError, verifyCheckpoint, writeCheckpointFiles, type FileHasher, type WriteCheckpointArgs } from './store.js';

/** Serialises and writes a checkpoint in this process (single-process training, tests). */
export async function writeCheckpoint(payload: CheckpointPayload, args: WriteCheckpointArgs): Promise<string> {
  const { files, state } = await serializeCheckpoint(payload);
  return writeCheckpointFiles(files, state, args);
}

/** A verified checkpoint, loaded. */
export interface LoadedCheckpoint {
  dir: string;
  state: CheckpointState;
  generator: tfl.LayersModel;
  /** Loaded only when asked for (`sample` needs only G). */
  discriminator?: tfl.LayersModel;
  optimizer?: { D: AdamState; G: AdamState };
}

/** Verifies and loads a checkpoint. `full` also loads D and the optimizer states. */
export async function readCheckpoint(dir: string, opts: { full?: boolean; hash?: FileHasher } = {}): Promise<LoadedCheckpoint> {
  const state = await verifyCheckpoint(dir, opts.hash);
  const load = async (net: 'generator' | 'discriminator') => {
    try {
      return await deserializeModel(await readFile(join(dir, net, 'model.json'), 'utf8'), await readFile(join(dir, net, 'weights.bin')), `checkpoint ${basename(dir)}/${net}`);
    } catch (err) {
      throw new CheckpointError((err as Error).message.split('\n')[0]);
    }
  };
  const out: LoadedCheckpoint = { dir, state, generator: await load('generator') };
  const zSize = out.generator.inputs[0]?.shape[1];
  // A conditional model's G takes z joined with a one-hot digit (models/labels.ts).
  const classes = modelClasses((state.config as { model?: ModelName }).model ?? 'mlp') ?? 0;
  if (zSize !== state.latent + classes) {
    throw new CheckpointError(`checkpoint ${basename(dir)}: generator takes inputs of size ${zSize}, state.json says latent ${state.latent}${classes ? ` plus ${classes} digit classes` : ''}`);
  }
  if (opts.full) {
    out.discriminator = await load('discriminator');
    try {
      out.optimizer = unpackOptimizer(await readFile(join(dir, 'optimizer.bin')), state);
    } catch (err) {
      throw new CheckpointError(`checkpoint ${basename(dir)}: ${(err as Error).message}`);
    }
  }
  return out;
}
