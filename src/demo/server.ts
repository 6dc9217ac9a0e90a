/**
 * The demo page's server: static files only, from this machine, so the page works offline and a
 * test can check it asks for nothing else. TF.js comes from node_modules (its UMD builds: no build
 * step), the generator from the checkpoint as saved (TF.js layers format), and the noise from the
 * same counter-based stream `npm run sample` draws from, so a seed draws the same digits here.
 * Bounded as the metrics endpoint is (http-bounds.ts: connection cap, header and idle timeouts).
 */
import { readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { CheckpointState } from '../shared/checkpoint/format.js';
import { createBoundedServer, DEMO_HTTP_BOUNDS, type HttpBounds } from '../shared/http-bounds.js';
import { Rng } from '../shared/rng.js';

const HERE = import.meta.dirname;
const require_ = createRequire(import.meta.url);
const dist = (pkg: string, file: string) => join(dirname(require_.resolve(`${pkg}/package.json`)), 'dist', file);

/** URL path → file, content type. TF.js: core, its CPU backend (which needs seedrandom), layers. */
const STATIC: Record<string, [string, string]> = {
  '/': [join(HERE, 'index.html'), 'text/html; charset=utf-8'],
  '/demo.js': [join(HERE, 'demo.js'), 'text/javascript'],
  '/vendor/seedrandom.min.js': [join(dirname(require_.resolve('seedrandom/package.json')), 'seedrandom.min.js'), 'text/javascript'],
  '/vendor/tf-core.min.js': [dist('@tensorflow/tfjs-core', 'tf-core.min.js'), 'text/javascript'],
  '/vendor/tf-backend-cpu.min.js': [dist('@tensorflow/tfjs-backend-cpu', 'tf-backend-cpu.min.js'), 'text/javascript'],
  '/vendor/tf-layers.min.js': [dist('@tensorflow/tfjs-layers', 'tf-layers.min.js'), 'text/javascript'],
};

/** The most noise vectors one request may ask for. */
const MAX_Z = 4096;

export interface DemoServerArgs {
  /** A verified checkpoint directory and its state. */
  checkpoint: string;
  state: CheckpointState;
  bind: string;
  port: number;
  /** Where the one line about shed connections goes. */
  log: (line: string) => void;
  bounds?: HttpBounds;
}

/** Starts the server; resolves with it and its URL once listening. */
export async function startDemoServer(args: DemoServerArgs): Promise<{ server: Server; url: string }> {
  const files: Record<string, [string, string]> = {
    ...STATIC,
    '/model/model.json': [join(args.checkpoint, 'generator', 'model.json'), 'application/json'],
    '/model/weights.bin': [join(args.checkpoint, 'generator', 'weights.bin'), 'application/octet-stream'],
  };
  const info = JSON.stringify({ checkpoint: args.checkpoint, epoch: args.state.epoch, globalStep: args.state.globalStep, latent: args.state.latent, model: (args.state.config as { model?: string }).model });
  const bounded = createBoundedServer('demo server', args.bounds ?? DEMO_HTTP_BOUNDS, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (code: number, type: string, body: string | Uint8Array) => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET') return send(405, 'text/plain', 'GET only\n');
    if (url.pathname === '/info') return send(200, 'application/json', info);
    if (url.pathname === '/z') {
      // z for `npm run sample --seed S`: the same stream, so the page draws the same digits.
      const seed = Number(url.searchParams.get('seed'));
      const n = Number(url.searchParams.get('n'));
      if (!Number.isSafeInteger(seed) || seed < 0 || !Number.isInteger(n) || n < 1 || n > MAX_Z) return send(400, 'text/plain', `seed must be an integer ≥ 0 and n in 1..${MAX_Z}\n`);
      const z = Rng.stream(seed, 'sample').fillNormal(new Float32Array(n * args.state.latent));
      return send(200, 'application/octet-stream', new Uint8Array(z.buffer));
    }
    const file = files[url.pathname];
    if (!file) return send(404, 'text/plain', 'not found\n');
    readFile(file[0]).then((body) => send(200, file[1], body), () => send(500, 'text/plain', `cannot read ${url.pathname}\n`));
  }, args.log);
  const port = await bounded.listen(args.port, args.bind);
  return { server: bounded.server, url: `http://${args.bind.includes(':') ? `[${args.bind}]` : args.bind}:${port}/` };
}
