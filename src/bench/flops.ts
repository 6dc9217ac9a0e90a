/**
 * Floating-point operations of one GAN training step, counted from the layer shapes.
 *
 * How: every layer with a kernel costs M multiply-adds per image in its forward pass:
 *   Dense            in · out
 *   Conv2D           outH · outW · k_h · k_w · inC · outC
 *   Conv2DTranspose  inH · inW · k_h · k_w · inC · outC   (the transposed convolution's forward)
 * Its backward pass costs M again for the weight gradient (dW) and M again for the input gradient
 * (dx); dx of a network's first weighted layer is not computed when nothing upstream needs it (the
 * noise z, the real/fake batch in D's step): tfjs prunes gradients off the path to the variables.
 * One step (replica.ts) is, with B images per replica:
 *   D half: G forward (B), D forward (2B: real and fake as one batch), D dW (2B), D dx without the
 *           first layer (2B)
 *   G half: D forward (B), D dx with the first layer (B, it feeds G), G dW (B), G dx without the
 *           first layer (B); G's forward pass is the D half's, recorded once (step.ts)
 * FLOPs = 2 × multiply-adds. Element-wise work (activations, BatchNorm, Dropout, biases, the loss)
 * is left out: it is under 2% of either model's count and runs at memory speed, not at the matmul
 * rate this count is compared with.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Gan } from '../shared/models/index.js';

/** Multiply-adds per image of each weighted layer of a network, in order. */
export interface LayerCost {
  name: string;
  className: string;
  macs: number;
}

/** FLOPs of one step, split the way the count is made. */
export interface StepFlops {
  /** FLOPs of the whole step (both halves) for `batch` images per replica. */
  total: number;
  /** FLOPs of one forward pass of G and of D, per image. */
  forwardPerImage: { G: number; D: number };
  /** Multiply-adds per image of each weighted layer. */
  layers: { G: LayerCost[]; D: LayerCost[] };
}

const prod = (xs: readonly (number | null)[]) => xs.reduce<number>((p, x) => p * (x ?? 1), 1);

/** Multiply-adds per image of each weighted layer (Dense, Conv2D, Conv2DTranspose) of `model`. */
export function layerCosts(model: tfl.LayersModel): LayerCost[] {
  const out: LayerCost[] = [];
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (cls !== 'Dense' && cls !== 'Conv2D' && cls !== 'Conv2DTranspose') continue;
    const kernel = layer.getWeights()[0].shape;
    const input = (layer.input as tfl.SymbolicTensor).shape;
    const output = layer.outputShape as (number | null)[];
    const k = (i: number) => kernel[i] as number;
    let macs: number;
    if (cls === 'Dense') macs = k(0) * k(1);
    else if (cls === 'Conv2D') macs = prod(output.slice(1)) * k(0) * k(1) * k(2); // oh·ow·outC · kh·kw·inC
    else macs = prod(input.slice(1)) * k(0) * k(1) * k(2); // ih·iw·inC · kh·kw·outC (kernel [kh, kw, outC, inC])
    out.push({ name: layer.name, className: cls, macs });
  }
  if (out.length === 0) throw new RangeError(`${model.name} has no Dense or convolution layer to count`);
  return out;
}

/** FLOPs of one training step of `gan` with `batch` images per replica (see the file comment). */
export function stepFlops(gan: Gan, batch: number): StepFlops {
  const G = layerCosts(gan.generator);
  const D = layerCosts(gan.discriminator);
  const sum = (ls: LayerCost[]) => ls.reduce((s, l) => s + l.macs, 0);
  const [g, d] = [sum(G), sum(D)];
  const [gNoFirst, dNoFirst] = [g - G[0].macs, d - D[0].macs];
  const dHalf = batch * g + 2 * batch * (d + d + dNoFirst);
  const gHalf = batch * (d + d + g + gNoFirst);
  return { total: 2 * (dHalf + gHalf), forwardPerImage: { G: 2 * g, D: 2 * d }, layers: { G, D } };
}
