/**
 * The fusion buffer: all of a model's gradients (or parameters) laid end to end in one Float32Array,
 * so a model's gradients cross the device boundary and the network as one contiguous block.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Where each variable lives inside the flat buffer. */
export interface FusionLayout {
  names: string[];
  shapes: number[][];
  offsets: number[];
  sizes: number[];
  /** Total number of floats. */
  length: number;
}

export function fusionLayout(vars: readonly tf.Variable[]): FusionLayout {
  const names: string[] = [];
  const shapes: number[][] = [];
  const offsets: number[] = [];
  const sizes: number[] = [];
  let length = 0;
  for (const v of vars) {
    names.push(v.name);
    shapes.push(v.shape.slice());
    offsets.push(length);
    sizes.push(v.size);
    length += v.size;
  }
  return { names, shapes, offsets, sizes, length };
}

/** The tensors (in layout order) concatenated as one 1-D tensor; undefined for an empty layout. */
function concatFlat(tensors: readonly tf.Tensor[], layout: FusionLayout): tf.Tensor | undefined {
  if (tensors.length !== layout.names.length) throw new RangeError(`flattenTensors: ${tensors.length} tensors for a layout of ${layout.names.length}`);
  if (tensors.length === 0) return undefined;
  return tf.tidy(() => tf.concat(tensors.map((t) => tf.reshape(t, [-1]))));
}

/** Checks a read of `concatFlat` and owns its bytes (a read may be a view of backend memory). */
function ownedRead(data: Float32Array, layout: FusionLayout): Float32Array {
  if (data.length !== layout.length) throw new RangeError(`flattenTensors: got ${data.length} floats, layout has ${layout.length}`);
  return data.buffer.byteLength === data.byteLength ? data : data.slice();
}

/** Flattens tensors (in layout order) into one new Float32Array with a single device read. */
export function flattenTensors(tensors: readonly tf.Tensor[], layout: FusionLayout): Float32Array {
  const flat = concatFlat(tensors, layout);
  if (!flat) return new Float32Array(0);
  const data = flat.dataSync() as Float32Array;
  flat.dispose();
  return ownedRead(data, layout);
}

/**
 * `flattenTensors` with an asynchronous read: the only kind the webgpu backend can do in Node
 * (its dataSync needs OffscreenCanvas). The step's gradients and losses are read this way.
 */
export async function flattenTensorsAsync(tensors: readonly tf.Tensor[], layout: FusionLayout): Promise<Float32Array> {
  const flat = concatFlat(tensors, layout);
  if (!flat) return new Float32Array(0);
  const data = (await flat.data()) as Float32Array;
  flat.dispose();
  return ownedRead(data, layout);
}

/** What the wasm backend offers to read a tensor in place (a view of its heap, valid until the next allocation). */
interface HeapBackend {
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

/**
 * Copies the tensors' values into `out` (layout order; `out` may be longer than the layout) and
 * allocates nothing on the host: the fusion buffer of a step is reused from step to step. A fresh
 * 6 MB buffer per network per step cost the MLP step 16-41 ms of page faults and zeroing on this
 * 2-core machine under load (a `data()` of 1.46M floats, 2026-12-04), where copying from the wasm
 * heap into a reused buffer takes 0.4 ms. On wasm each tensor is copied straight from the heap;
 * other backends read one concatenated tensor and copy it in.
 */
export async function flattenTensorsInto(tensors: readonly tf.Tensor[], layout: FusionLayout, out: Float32Array): Promise<void> {
  if (out.length < layout.length) throw new RangeError(`flattenTensorsInto: ${out.length} floats for a layout of ${layout.length}`);
  if (tensors.length !== layout.names.length) throw new RangeError(`flattenTensors: ${tensors.length} tensors for a layout of ${layout.names.length}`);
  if (tf.getBackend() === 'wasm') {
    const be = tf.backend() as unknown as HeapBackend;
    tensors.forEach((t, i) => {
      if (t.dtype !== 'float32' || t.size !== layout.sizes[i]) throw new RangeError(`flattenTensorsInto: tensor ${i} is ${t.dtype} [${t.shape}], the layout says float32 of ${layout.sizes[i]}`);
      out.set(be.typedArrayFromHeap(t), layout.offsets[i]);
    });
    return;
  }
  out.set(await flattenTensorsAsync(tensors, layout));
}

/** Copies the variables' current values into one new Float32Array. */
export function readVariables(vars: readonly tf.Variable[], layout: FusionLayout): Float32Array {
  return flattenTensors(vars, layout);
}

/** `readVariables` with an asynchronous read (works on every backend, webgpu included). */
export function readVariablesAsync(vars: readonly tf.Variable[], layout: FusionLayout): Promise<Float32Array> {
  return flattenTensorsAsync(vars, layout);
}

/**
 * Writes `flat` into the variables. The cpu backend keeps the array it is given, and the
 * tensorflow and webgpu backends keep it until they upload it, so they get a copy of each slice:
 * a view would let later updates of `flat` change the variable behind tfjs' back. The wasm backend
 * copies into its heap at once (backend_wasm.js `move`), so it gets views: one copy, not two,
 * and no fresh array per variable per step (the MLP's write-back went from 15-19 to 0.2-0.3 ns
 * of CPU per parameter on a loaded 2-core machine, src/bench/optimizer-update.ts).
 */
export function writeVariables(vars: readonly tf.Variable[], layout: FusionLayout, flat: Float32Array): void {
  if (flat.length !== layout.length) throw new RangeError(`writeVariables: got ${flat.length} floats, layout has ${layout.length}`);
  const copiedAtOnce = tf.getBackend() === 'wasm';
  vars.forEach((v, i) => {
    const [lo, hi] = [layout.offsets[i], layout.offsets[i] + layout.sizes[i]];
    const t = tf.tensor(copiedAtOnce ? flat.subarray(lo, hi) : flat.slice(lo, hi), layout.shapes[i], 'float32');
    v.assign(t);
    t.dispose();
  });
}
