/**
 * Picks and initialises the TensorFlow.js compute backend for this process.
 *
 * `auto` tries, in order: tfjs-node-gpu (when it loads and a GPU is visible), webgpu (when Dawn
 * finds a hardware adapter; never a software one), tfjs-node (when installed), wasm. Native tfjs packages are optionalDependencies: their install downloads
 * libtensorflow and fails on machines without internet, and npm then skips them, so every native
 * import here is dynamic and guarded. Native tfjs must never be loaded in a worker thread.
 */
import { execFileSync } from 'node:child_process';
import { isMainThread } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { registerGradients } from './gradients.js';
import { loadBlas, type BlasInfo, type BlasMode } from './blas.js';
import { activateWebGpu, probeWebGpu, WebGpuUnavailableError, type AdapterDescription } from './webgpu.js';

/** A backend as named on the command line. */
export type BackendName = 'auto' | 'tfjs-node-gpu' | 'webgpu' | 'tfjs-node' | 'wasm' | 'cpu';
export const BACKEND_NAMES: readonly BackendName[] = ['auto', 'tfjs-node-gpu', 'webgpu', 'tfjs-node', 'wasm', 'cpu'];

/** Options of the backend choice beyond its name. */
export interface BackendOptions {
  /** --allow-software-adapter: let --backend webgpu use lavapipe/llvmpipe (never auto). */
  allowSoftwareAdapter?: boolean;
  /** Which WebGPU adapter (in Dawn's list) this process uses: worker i of --gpus N gets i. */
  adapterIndex?: number;
  /** --blas: whether the wasm backend's matmul-shaped kernels may use the system's OpenBLAS (default auto). */
  blas?: BlasMode;
}

/** What `selectBackend` settled on, and why. */
export interface BackendChoice {
  /** The product-level name (never `auto`). */
  name: Exclude<BackendName, 'auto'>;
  /** The name tfjs-core knows the backend by (`tensorflow`, `wasm`, `cpu`). */
  tfBackend: string;
  /** One line saying why this backend was chosen (printed and kept in the run's metadata). */
  reason: string;
  /** The WebGPU adapter, when the backend is webgpu. */
  adapter?: AdapterDescription;
  /** On wasm: whether its matmul-shaped kernels run on OpenBLAS, and why (or why not). */
  blas?: BlasInfo;
  /**
   * The name as recorded (config.json, checkpoints, the workers' hello and `gan_worker_info`):
   * `wasm+blas` when OpenBLAS runs the wasm backend's products, else the name. Workers must agree
   * on it, since the two compute in different orders.
   */
  label: string;
}

/** Thrown when a backend asked for by name cannot be used. */
export class BackendUnavailableError extends Error {}

let current: BackendChoice | undefined;

/** The backend chosen by the last `selectBackend` call, if any. */
export function currentBackend(): BackendChoice | undefined {
  return current;
}

export function visibleGpuCount(): number {
  if (process.env.CUDA_VISIBLE_DEVICES !== undefined && process.env.CUDA_VISIBLE_DEVICES.trim() === '') return 0;
  try {
    const out = execFileSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
    return out.split('\n').filter((l) => l.startsWith('GPU ')).length;
  } catch {
    return 0;
  }
}

async function tryNative(pkg: '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node'): Promise<string | undefined> {
  if (!isMainThread) return 'native tfjs is never loaded in a worker thread';
  try {
    await import(pkg);
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0];
    return `${pkg} is not installed or failed to load (${msg})`;
  }
  await tf.setBackend('tensorflow');
  await tf.ready();
  return undefined;
}

async function useWasm(blasMode: BlasMode): Promise<BlasInfo> {
  await import('@tensorflow/tfjs-backend-wasm');
  const { registerWasmKernels, setWasmBlas } = await import('./wasm-kernels.js');
  if (!(await tf.setBackend('wasm'))) throw new BackendUnavailableError('the wasm backend failed to initialise');
  await tf.ready();
  registerWasmKernels();
  const { blas, info } = await loadBlas(blasMode);
  setWasmBlas(blas);
  return info;
}

async function useCpu(): Promise<void> {
  await import('@tensorflow/tfjs-backend-cpu');
  // PROD silences the cpu backend's "install tfjs-node" banner; the choice is reported by us.
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  await tf.ready();
}

/**
 * Loads and activates the requested backend. Resolves with the choice and the reason for it;
 * rejects with a `BackendUnavailableError` naming the problem when an explicit request can't be met.
 */
export async function selectBackend(requested: BackendName, opts: BackendOptions = {}): Promise<BackendChoice> {
  // After every static import (tfjs-layers registers tfjs' gradients when it loads): ours replace them.
  registerGradients();
  let choice: Omit<BackendChoice, 'label'>;
  if (opts.allowSoftwareAdapter && requested !== 'webgpu') {
    throw new BackendUnavailableError(`--allow-software-adapter only goes with --backend webgpu (got --backend ${requested})`);
  }
  const index = opts.adapterIndex ?? envAdapterIndex();
  switch (requested) {
    case 'webgpu': {
      const allow = !!opts.allowSoftwareAdapter;
      let probe;
      try {
        probe = await probeWebGpu({ allowSoftware: allow, index });
      } catch (err) {
        if (err instanceof WebGpuUnavailableError) throw new BackendUnavailableError(`--backend webgpu: ${err.message}`);
        throw err;
      }
      if (probe.adapter.type === 'software' && !allow) {
        throw new BackendUnavailableError(`--backend webgpu: the only adapter is a software one (${probe.adapter.name}); add --allow-software-adapter to use it anyway (slow: for tests), or install your GPU's Vulkan driver`);
      }
      await activateWebGpu(probe);
      if (probe.warning) process.stderr.write(`webgpu: ${probe.warning}\n`);
      choice = { name: 'webgpu', tfBackend: 'webgpu', adapter: probe.adapter, reason: `requested with --backend webgpu; adapter ${describeAdapter(probe.adapter)}` };
      break;
    }
    case 'tfjs-node-gpu': {
      const why = await tryNative('@tensorflow/tfjs-node-gpu');
      if (why) throw new BackendUnavailableError(`--backend tfjs-node-gpu: ${why}`);
      choice = { name: 'tfjs-node-gpu', tfBackend: 'tensorflow', reason: 'requested with --backend tfjs-node-gpu' };
      break;
    }
    case 'tfjs-node': {
      const why = await tryNative('@tensorflow/tfjs-node');
      if (why) throw new BackendUnavailableError(`--backend tfjs-node: ${why}`);
      choice = { name: 'tfjs-node', tfBackend: 'tensorflow', reason: 'requested with --backend tfjs-node' };
      break;
    }
    case 'wasm':
      choice = { name: 'wasm', tfBackend: 'wasm', reason: 'requested with --backend wasm', blas: await useWasm(opts.blas ?? 'auto') };
      break;
    case 'cpu':
      await useCpu();
      choice = { name: 'cpu', tfBackend: 'cpu', reason: 'requested with --backend cpu' };
      break;
    case 'auto': {
      const notes: string[] = [];
      const gpus = visibleGpuCount();
      if (gpus > 0) {
        const why = await tryNative('@tensorflow/tfjs-node-gpu');
        if (!why) {
          choice = { name: 'tfjs-node-gpu', tfBackend: 'tensorflow', reason: `auto: tfjs-node-gpu loaded and nvidia-smi sees ${gpus} GPU(s)` };
          break;
        }
        notes.push(why);
      } else {
        notes.push('no GPU visible to nvidia-smi');
      }
      const whyWebGpu = await tryWebGpuAuto(index);
      if (typeof whyWebGpu !== 'string') {
        choice = { name: 'webgpu', tfBackend: 'webgpu', adapter: whyWebGpu, reason: `auto: ${notes.join('; ')}; webgpu adapter ${describeAdapter(whyWebGpu)}` };
        break;
      }
      notes.push(whyWebGpu);
      const whyNode = await tryNative('@tensorflow/tfjs-node');
      if (!whyNode) {
        choice = { name: 'tfjs-node', tfBackend: 'tensorflow', reason: `auto: ${notes.join('; ')}; tfjs-node loaded` };
        break;
      }
      notes.push(whyNode);
      choice = { name: 'wasm', tfBackend: 'wasm', reason: `auto: ${notes.join('; ')}; using wasm`, blas: await useWasm(opts.blas ?? 'auto') };
      break;
    }
    default:
      throw new BackendUnavailableError(`unknown backend '${String(requested)}' (expected one of ${BACKEND_NAMES.join(', ')})`);
  }
  current = { ...choice, label: choice.blas?.active ? `${choice.name}+blas` : choice.name };
  return current;
}

/** GAN_WEBGPU_ADAPTER=i, set by the cluster launcher for worker i of --gpus N. */
function envAdapterIndex(): number | undefined {
  const v = process.env.GAN_WEBGPU_ADAPTER;
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/** "NAME (vendor VENDOR, TYPE)", as printed at start. */
export function describeAdapter(a: AdapterDescription): string {
  return `${a.name} (vendor ${a.vendor}, ${a.type})`;
}

/** auto's webgpu probe: the adapter when a hardware one works, else one line saying why not. */
async function tryWebGpuAuto(index: number | undefined): Promise<AdapterDescription | string> {
  try {
    // A bounded probe: a broken driver must not stall startup.
    const probe = await probeWebGpu({ allowSoftware: false, index, timeoutMs: 10_000 });
    if (probe.adapter.type === 'software') return `webgpu: only a software adapter (${probe.adapter.name}), which auto never picks`;
    await activateWebGpu(probe);
    if (probe.warning) process.stderr.write(`webgpu: ${probe.warning}\n`);
    return probe.adapter;
  } catch (err) {
    return `webgpu: ${(err as Error).message.split('\n')[0]}`;
  }
}
