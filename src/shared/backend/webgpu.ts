/**
 * TensorFlow.js's WebGPU backend in Node, through Dawn's bindings (npm `webgpu`, dist/<platform>/dawn.node).
 *
 * Dawn runs on hardware GPUs through Vulkan (NVIDIA, AMD, Intel) and, on a CPU-only machine, on
 * Mesa's lavapipe (a software Vulkan driver), which is how CI runs every GPU code path. Three facts
 * shape this module:
 *
 * - Dawn finds Vulkan by `dlopen("libvulkan.so.1")`. A host without the Vulkan loader installed can
 *   use the one `.ci/run` unpacks into `.cache/mesa` (scripts/fetch-mesa.sh): we load it first,
 *   by path and with RTLD_NODELETE, so that Dawn's by-name dlopen finds it already loaded (glibc
 *   matches loaded libraries by soname). Nothing is installed system-wide.
 * - Debian 12's own lavapipe (Mesa 22.3) is refused by Dawn ("shaderUniform*ArrayDynamicIndexing
 *   required"); bookworm-backports' Mesa 25 lavapipe works. It is added with VK_ADD_DRIVER_FILES
 *   (adds to the system's drivers instead of replacing them, as VK_ICD_FILENAMES would), and only
 *   when software adapters are allowed.
 * - Software adapters (lavapipe, llvmpipe) are allowed only with --allow-software-adapter: they are
 *   slower than the wasm backend and exist here to test the GPU path, so `auto` never picks one.
 *
 * Adapter choice: dawn.node's `create(['adapter=NAME'])` keeps the first adapter whose name contains
 * NAME (case-sensitive substring; a name with a comma cannot be given, the flag list splits on
 * commas), and an unknown NAME makes requestAdapter throw with the list of adapters. We use that list
 * to give worker i the i-th adapter. Dawn offers no index, so GPUs with identical names cannot be
 * told apart this way: all workers then share the first one (printed as a warning).
 */
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';

/** The project folder `.ci/run` (scripts/fetch-mesa.sh) unpacks bookworm-backports' Mesa into. */
export const MESA_DIR = fileURLToPath(new URL('../../../.cache/mesa/', import.meta.url));
const MESA_LIB = `${MESA_DIR}usr/lib/x86_64-linux-gnu/`;
export const LAVAPIPE_ICD = `${MESA_DIR}usr/share/vulkan/icd.d/lvp_icd.json`;

/** glibc's RTLD_NODELETE (Node's os.constants.dlopen does not list it). */
const RTLD_NOW = 2;
const RTLD_GLOBAL = 0x100;
const RTLD_NODELETE = 0x1000;

/** What the chosen adapter is, as printed and exported in `gan_worker_info`. */
export interface AdapterDescription {
  /** Dawn's adapter name (the one `adapter=` matches), else the driver's description. */
  name: string;
  vendor: string;
  /** `gpu` or `software` (lavapipe, llvmpipe, SwiftShader: Dawn marks them fallback adapters). */
  type: 'gpu' | 'software';
  /** Dawn's adapter description (driver and version). */
  description: string;
}

export class WebGpuUnavailableError extends Error {}

function dlopenNoDelete(lib: string): 'loaded' | string {
  try {
    process.dlopen({ exports: {} } as NodeJS.Module, lib, RTLD_NOW | RTLD_GLOBAL | RTLD_NODELETE);
    return 'loaded';
  } catch (err) {
    const msg = (err as Error).message;
    // A plain shared library is not a Node addon: "did not self-register" means it did load.
    return /self-register/.test(msg) ? 'loaded' : msg.split('\n')[0];
  }
}

let loaderNote: string | undefined;

/** Makes sure `libvulkan.so.1` is loaded: the system's, else the one in `.cache/mesa`. Returns how. */
export function loadVulkanLoader(): string {
  if (loaderNote) return loaderNote;
  if (process.platform !== 'linux') return (loaderNote = 'system');
  if (dlopenNoDelete('libvulkan.so.1') === 'loaded') return (loaderNote = 'system libvulkan.so.1');
  const local = `${MESA_LIB}libvulkan.so.1`;
  if (existsSync(local) && dlopenNoDelete(local) === 'loaded') return (loaderNote = `${local}`);
  return (loaderNote = 'none');
}

/** Where the Vulkan loader looks for driver manifests (ICD JSON files), per its documentation. */
function icdManifests(): string[] {
  const envList = [process.env.VK_ICD_FILENAMES, process.env.VK_DRIVER_FILES, process.env.VK_ADD_DRIVER_FILES]
    .filter((v): v is string => !!v)
    .flatMap((v) => v.split(':'))
    .filter((p) => p && existsSync(p));
  const dirs = [
    ...(process.env.XDG_CONFIG_DIRS ?? '/etc/xdg').split(':'), '/etc',
    ...(process.env.XDG_DATA_DIRS ?? '/usr/local/share:/usr/share').split(':'),
    `${homedir()}/.local/share`,
  ].map((d) => `${d}/vulkan/icd.d`);
  const files: string[] = [...envList];
  for (const d of dirs) {
    try {
      for (const f of readdirSync(d)) if (f.endsWith('.json')) files.push(`${d}/${f}`);
    } catch {
      // directory absent
    }
  }
  return [...new Set(files)];
}

/** Adds the project's lavapipe to the Vulkan loader's drivers (the loader reads this at instance creation). */
export function addProjectLavapipe(): boolean {
  if (!existsSync(LAVAPIPE_ICD)) return false;
  const cur = process.env.VK_ADD_DRIVER_FILES;
  if (!cur?.split(':').includes(LAVAPIPE_ICD)) process.env.VK_ADD_DRIVER_FILES = cur ? `${cur}:${LAVAPIPE_ICD}` : LAVAPIPE_ICD;
  return true;
}

type Gpu = { requestAdapter(o?: object): Promise<GpuAdapter | null> };
type GpuAdapter = { info: Record<string, unknown>; features: Set<string>; limits: Record<string, number> };
type WebGpuModule = { create(flags: string[]): Gpu; globals: Record<string, unknown> };

let webgpuModule: WebGpuModule | undefined;

async function loadDawn(): Promise<WebGpuModule> {
  if (webgpuModule) return webgpuModule;
  try {
    webgpuModule = (await import('webgpu')) as unknown as WebGpuModule;
  } catch (err) {
    throw new WebGpuUnavailableError(`the 'webgpu' package (dawn.node) failed to load (${(err as Error).message.split('\n')[0]}); run npm ci`);
  }
  return webgpuModule;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new WebGpuUnavailableError(`${what} did not answer within ${ms / 1000} s`)), ms);
      timer.unref();
    }),
  ]);
}

const SOFTWARE_NAMES = /llvmpipe|lavapipe|softpipe|swiftshader|software/i;

/** Adapter names as dawn.node lists them when asked for an adapter that does not exist. */
export async function listAdapterNames(flags: string[] = []): Promise<string[]> {
  const { create } = await loadDawn();
  try {
    await create([...flags, 'adapter=no-such-adapter-gan-cluster']).requestAdapter({ powerPreference: 'high-performance' });
  } catch (err) {
    return [...(err as Error).message.matchAll(/name: '([^']*)'/g)].map((m) => m[1]);
  }
  return [];
}

function describe(adapter: GpuAdapter, name: string | undefined): AdapterDescription {
  const info = adapter.info;
  const description = String(info.description ?? '');
  const device = String(info.device ?? '');
  const shown = name ?? (description || device || 'unknown adapter');
  const software = info.isFallbackAdapter === true || info.architecture === 'software' || SOFTWARE_NAMES.test(`${shown} ${description} ${device}`);
  return { name: shown, vendor: String(info.vendor ?? '') || 'unknown', type: software ? 'software' : 'gpu', description };
}

export interface WebGpuProbe {
  adapter: AdapterDescription;
  /** create() flags that pick this adapter. */
  flags: string[];
  gpu: Gpu;
  /** A warning to print (e.g. identical adapter names), if any. */
  warning?: string;
}

/**
 * Finds the adapter this process should use: the `index`-th listed by Dawn (worker i of --gpus N),
 * or Dawn's default (high-performance) one. Software adapters are only visible with
 * `allowSoftware`. Throws WebGpuUnavailableError with a one-line reason when there is none.
 */
export async function probeWebGpu(opts: { allowSoftware: boolean; index?: number; timeoutMs?: number }): Promise<WebGpuProbe> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const loader = loadVulkanLoader();
  const lavapipe = opts.allowSoftware ? addProjectLavapipe() : false;
  if (loader === 'none') throw new WebGpuUnavailableError('no Vulkan loader (libvulkan.so.1): install libvulkan1 and your GPU\'s Vulkan driver, or run scripts/fetch-mesa.sh for the software one');
  if (icdManifests().length === 0) throw new WebGpuUnavailableError('no Vulkan driver found (no ICD manifest in /usr/share/vulkan/icd.d or /etc/vulkan/icd.d): install your GPU\'s Vulkan driver');
  const { create } = await loadDawn();
  const base = ['backend=vulkan'];
  let flags = base;
  let name: string | undefined;
  let warning: string | undefined;
  const names = await withTimeout(listAdapterNames(base), timeoutMs, 'listing WebGPU adapters');
  const usable = opts.allowSoftware ? names : names.filter((n) => !SOFTWARE_NAMES.test(n));
  if (opts.index !== undefined && usable.length > 0) {
    if (opts.index >= usable.length) throw new WebGpuUnavailableError(`adapter ${opts.index} asked for, Dawn lists ${usable.length} (${usable.join('; ')})`);
    name = usable[opts.index];
    if (usable.filter((n) => n === name).length > 1) warning = `${usable.length} adapters share the name '${name}'; dawn.node picks adapters by name only, so this worker may share a GPU with another`;
  } else if (!opts.allowSoftware && usable.length > 0) {
    name = usable[0];
  }
  if (name !== undefined) flags = [...base, `adapter=${name.split(',')[0]}`];
  const gpu = create(flags);
  const adapter = await withTimeout(gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null), timeoutMs, 'requestAdapter');
  if (!adapter) {
    const why = names.length === 0 ? 'Dawn found no Vulkan adapter' : `Dawn lists only ${names.join('; ')}`;
    throw new WebGpuUnavailableError(`no WebGPU adapter: ${why}${opts.allowSoftware && !lavapipe ? ' (no software driver in .cache/mesa either: run scripts/fetch-mesa.sh)' : ''}`);
  }
  const desc = describe(adapter, name);
  return { adapter: desc, flags, gpu, warning };
}

let active: { gpu: Gpu; adapter: AdapterDescription } | undefined;

/** The adapter of the active webgpu backend, if that is the backend in use. */
export function activeAdapter(): AdapterDescription | undefined {
  return active?.adapter;
}

/**
 * Activates tfjs's webgpu backend on the probed adapter. tfjs-backend-webgpu registers itself at
 * import only if `navigator.gpu` exists, and its factory asks `navigator.gpu.requestAdapter`, so
 * navigator.gpu is the Dawn instance created with the flags that select our adapter.
 */
export async function activateWebGpu(probe: WebGpuProbe): Promise<void> {
  const { globals } = await loadDawn();
  Object.assign(globalThis, globals);
  const nav = (globalThis as unknown as { navigator?: Record<string, unknown> }).navigator;
  if (nav && Object.isExtensible(nav)) {
    Object.defineProperty(nav, 'gpu', { value: probe.gpu, configurable: true, writable: true });
  } else {
    Object.defineProperty(globalThis, 'navigator', { value: { ...(nav ?? {}), gpu: probe.gpu }, configurable: true, writable: true });
  }
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new WebGpuUnavailableError('the webgpu backend failed to initialise on the adapter found');
  await tf.ready();
  // No kernel replacements: on lavapipe one D and one G step of both GANs match the cpu backend
  // within 4e-6 relative (tests/webgpu-step.test.ts), and none of the wasm replacements
  // (wasm-kernels.ts registers for 'wasm' only) applies here.
  active = { gpu: probe.gpu, adapter: probe.adapter };
}

/**
 * Lets the process exit: dawn.node keeps Node's event loop alive while its GPU object is referenced
 * (https://issues.chromium.org/issues/387965810), so the backend is removed and the reference dropped.
 */
export function releaseWebGpu(): void {
  if (!active) return;
  try {
    if (tf.findBackend('webgpu')) tf.removeBackend('webgpu');
  } catch {
    // already gone
  }
  const nav = (globalThis as unknown as { navigator?: Record<string, unknown> }).navigator;
  if (nav && 'gpu' in nav) delete nav.gpu;
  active = undefined;
}

/** Device memory of the webgpu backend (bytes in use by tensors, bytes its buffer pool holds). */
export function webGpuMemory(): { usedBytes: number; allocatedBytes: number } | undefined {
  if (!active || tf.getBackend() !== 'webgpu') return undefined;
  const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number; numBytesAllocatedInGPU?: number };
  if (m.numBytesInGPU === undefined) return undefined;
  return { usedBytes: m.numBytesInGPU, allocatedBytes: m.numBytesAllocatedInGPU ?? m.numBytesInGPU };
}
