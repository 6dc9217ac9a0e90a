/**
 * Identity on the wasm backend without a copy: the output shares the input's data, ref-counted, as
 * tfjs' cpu backend does it. tfjs-backend-wasm 4.22 copies the whole tensor instead, and the engine
 * calls Identity (through `clone`) for every tensor a gradient function saves for the backward
 * pass, so a training step copied most of its activations once more: 4.2% of the DCGAN step's CPU
 * and 2.5% of the MLP's (V8 CPU profile of training steps, 2026-12-04). Sharing is safe because no
 * kernel writes into its inputs (every kernel, ours included, writes only the outputs it
 * allocates), and the wasm backend frees the data when its last reference is disposed.
 */
import type { KernelBackend, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';

interface RefCountedBackend {
  incRef(dataId: unknown): void;
}

/** The kernel; strings (not ref-counted the same way) go to `copying`, the backend's own kernel. */
export function makeSharedIdentity(copying: (args: { inputs: NamedTensorInfoMap; backend: KernelBackend }) => TensorInfo) {
  return (args: { inputs: NamedTensorInfoMap; backend: KernelBackend }): TensorInfo => {
    const { x } = args.inputs;
    if (x == null || x.dtype === 'string') return copying(args);
    (args.backend as unknown as RefCountedBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}
