/**
 * Where a training step's CPU time goes: a V8 sampling profile (node:inspector, in the process
 * that trains) of a few steps, each sample's self time put in one category by the function it
 * landed in. The categories are the parts issue 19 names: the BLAS products, tfjs-backend-wasm's
 * kernels, our own kernels (JavaScript: Tile, Dropout's masks, …; our wasm module: LeakyRelu, the
 * reductions, im2col, col2im), Adam, copies between the host and
 * the wasm heap, tfjs' JavaScript (op dispatch, the gradient tape, tfjs-layers), garbage
 * collection, and the rest (our step code, Node). Self time, so nothing is counted twice; native
 * time inside a JavaScript call (OpenBLAS under `sgemm`) belongs to the function that called it.
 */
import { Session } from 'node:inspector/promises';

/** The categories, in the order the bench prints them. */
export const PROFILE_CATEGORIES = ['blas', 'wasm', 'jsKernels', 'adam', 'hostCopies', 'tfjs', 'gc', 'other'] as const;
export type ProfileCategory = (typeof PROFILE_CATEGORIES)[number];

/** What the bench's table calls each category. */
export const CATEGORY_LABELS: Record<ProfileCategory, string> = {
  blas: 'OpenBLAS sgemm',
  wasm: 'tfjs wasm kernels',
  jsKernels: 'our kernels',
  adam: 'Adam + checks',
  hostCopies: 'host↔heap copies',
  tfjs: 'tfjs JS',
  gc: 'GC',
  other: 'other',
};

/** The parts of a V8 CPU profile read here (Profiler.stop's `profile`). */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

const HOST_COPIES = new Set(['BackendWasm.readSync', 'BackendWasm.read', 'BackendWasm.move', 'BackendWasm.write', 'typedArrayFromBuffer']);

/** The category of a function, from its name and script URL. */
export function categoryOf(functionName: string, url: string): ProfileCategory | 'idle' {
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(garbage collector)') return 'gc';
  // tfjs-backend-wasm's functions are unnamed (wasm-function[N]); ours keep their .wat names.
  if (url.startsWith('wasm://')) return functionName.startsWith('wasm-function[') ? 'wasm' : functionName === 'adamSimd' ? 'adam' : 'jsKernels';
  if (url.endsWith('/src/shared/backend/blas.ts') && functionName === 'sgemm') return 'blas';
  if (url.includes('/src/shared/backend/') || url.endsWith('/src/shared/models/dropout.ts')) return 'jsKernels';
  if (url.endsWith('/src/shared/optimizer.ts')) return 'adam';
  if (HOST_COPIES.has(functionName)) return 'hostCopies';
  if (url.includes('/@tensorflow/')) return 'tfjs';
  return 'other';
}

/**
 * Milliseconds of self time per category, divided by `steps`. Native frames take the category of
 * the JavaScript function that called them: OpenBLAS under our `sgemm` is 'blas' (V8 names a
 * stripped library's frames after whichever exported symbol is nearest, cblas_sgemm one run,
 * openblas_set_num_threads the next). Left out: idle time, and the profiler's own work (anything
 * under node:inspector, such as serialising the profile at its stop).
 */
export function categorize(profile: CpuProfile, steps: number): Record<ProfileCategory, number> {
  const byNode = new Map<number, ProfileCategory | 'idle'>(profile.nodes.map((n) => [n.id, categoryOf(n.callFrame.functionName, n.callFrame.url)]));
  const ids = new Map(profile.nodes.map((n) => [n.id, n]));
  const nativeUnder = (id: number, c: ProfileCategory | 'idle'): void => {
    for (const child of ids.get(id)?.children ?? []) {
      if (ids.get(child)?.callFrame.url !== '') continue;
      byNode.set(child, c);
      nativeUnder(child, c);
    }
  };
  const under = (id: number, c: ProfileCategory | 'idle'): void => {
    byNode.set(id, c);
    for (const child of ids.get(id)?.children ?? []) under(child, c);
  };
  for (const n of profile.nodes) {
    if (byNode.get(n.id) === 'blas') nativeUnder(n.id, 'blas');
    if (n.callFrame.url.startsWith('node:inspector')) under(n.id, 'idle');
  }
  const out = Object.fromEntries(PROFILE_CATEGORIES.map((c) => [c, 0])) as Record<ProfileCategory, number>;
  profile.samples.forEach((id, i) => {
    const c = byNode.get(id);
    if (c !== undefined && c !== 'idle') out[c] += (profile.timeDeltas[i] ?? 0) / 1000 / steps;
  });
  return out;
}

/** Runs `steps` calls of `step` under the V8 sampling profiler (100 µs interval) and categorizes them. */
export async function profileSteps(steps: number, step: (i: number) => Promise<void>): Promise<Record<ProfileCategory, number>> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
    for (let i = 0; i < steps; i++) await step(i);
    const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: CpuProfile };
    return categorize(profile, steps);
  } finally {
    session.disconnect();
  }
}
