// Piscina worker entry for the side pool when running from TypeScript sources (tsx / ava).
//
// Plain JavaScript on purpose: it runs in a fresh worker thread before any TypeScript loader exists
// there. tsx (4.x) installs its loader hooks only in the main thread on Node < 22.22.3 (older Nodes
// cannot tell user workers from the internal hooks thread), so inheriting `--import tsx` through
// execArgv is NOT enough for a worker to load `tasks.ts`. This file loads it with tsx's scoped
// `tsImport` instead, and forwards each task to its default export.
//
// If a compiled `tasks.js` sits next to this file, that is used and tsx is not needed.
// Never import TensorFlow here or in tasks.ts: native tfjs crashes in worker threads.
import { existsSync } from 'node:fs';

let handler;

async function load() {
  const js = new URL('./tasks.js', import.meta.url);
  if (existsSync(js)) return (await import(js.href)).default;
  const { tsImport } = await import('tsx/esm/api');
  const mod = await tsImport('./tasks.ts', import.meta.url);
  return mod.default;
}

/** Run one side-pool task (see tasks.ts `TaskMessage`). */
export default async function run(task) {
  handler ??= load();
  return (await handler)(task);
}
