/** A kernel function's arguments and signature, as tfjs calls the kernels we register on wasm. */
import type { KernelBackend, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';

export type KernelArgs = { inputs: NamedTensorInfoMap; backend: KernelBackend; attrs?: NamedAttrMap };
export type Kernel = (args: KernelArgs) => TensorInfo;
