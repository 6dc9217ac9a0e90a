/** Model registry by name, and the parameter summary printed at start. */
import type * as tfl from '@tensorflow/tfjs-layers';
import { LABEL_CLASSES } from './conditional.js';
import { buildDcgan } from './dcgan.js';
import { buildMlpGan } from './mlp.js';
import type { Gan, GanBuildArgs } from './types.js';

export type { Gan, GanBuildArgs } from './types.js';
export type ModelName = 'mlp' | 'dcgan' | 'cmlp' | 'cdcgan' | 'mlp-plain' | 'cmlp-plain';
/**
 * Models a user can pick; `cmlp` and `cdcgan` are the conditional ones (the digit is an input of G
 * and D). `mlp-plain` and `cmlp-plain` (the MLPs without BatchNorm and Dropout) exist for the
 * equivalence tests of data-parallel training and are offered only when GAN_TEST_MODELS=1.
 */
export const MODEL_NAMES: readonly ModelName[] = process.env.GAN_TEST_MODELS === '1' ? ['mlp', 'dcgan', 'cmlp', 'cdcgan', 'mlp-plain', 'cmlp-plain'] : ['mlp', 'dcgan', 'cmlp', 'cdcgan'];

/** Builds the named GAN with seeded initial weights. */
export function buildGan(name: ModelName, args: GanBuildArgs): Gan {
  switch (name) {
    case 'mlp':
      return buildMlpGan(args);
    case 'dcgan':
      return buildDcgan(args);
    case 'mlp-plain':
      return buildMlpGan(args, { batchNorm: false, dropout: 0 });
    case 'cmlp':
      return buildMlpGan(args, { batchNorm: true, dropout: 0.3, classes: LABEL_CLASSES });
    case 'cdcgan':
      return buildDcgan(args, LABEL_CLASSES);
    case 'cmlp-plain':
      return buildMlpGan(args, { batchNorm: false, dropout: 0, classes: LABEL_CLASSES });
    default:
      throw new Error(`unknown model '${String(name)}' (expected one of ${MODEL_NAMES.join(', ')})`);
  }
}

/** Parameter counts of one network. */
export interface ParamCounts {
  total: number;
  trainable: number;
  nonTrainable: number;
}

export function paramCounts(model: tfl.LayersModel): ParamCounts {
  const count = (ws: { shape: (number | null)[] }[]) => ws.reduce((s, w) => s + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
  const trainable = count(model.trainableWeights);
  const nonTrainable = count(model.nonTrainableWeights);
  return { total: trainable + nonTrainable, trainable, nonTrainable };
}

/** A short human summary: one line per layer with output shape and parameters, then totals. */
export function summarize(gan: Gan): string {
  const lines: string[] = [];
  for (const [label, model] of [['Generator', gan.generator], ['Discriminator', gan.discriminator]] as const) {
    const c = paramCounts(model);
    const conditioned = gan.classes > 0 ? `, conditioned on ${gan.classes} digit classes` : '';
    lines.push(`${label} (${gan.name}${conditioned}): ${c.total.toLocaleString('en-US')} parameters (${c.trainable.toLocaleString('en-US')} trainable, ${c.nonTrainable.toLocaleString('en-US')} non-trainable)`);
    for (const layer of model.layers) {
      const shape = JSON.stringify(layer.outputShape).replace(/null/g, 'B');
      lines.push(`  ${layer.getClassName().padEnd(20)} ${shape.padEnd(18)} ${layer.countParams().toLocaleString('en-US')}`);
    }
  }
  return lines.join('\n');
}
