/**
 * Exact resume: a run started with `npm run`, interrupted by Ctrl-C (SIGINT to the process group,
 * which npm relays once more; checkpoint at the next step boundary, mid-epoch) and resumed with
 * --resume latest ends bit-identical to the same run uninterrupted: weights, BatchNorm
 * statistics and both Adam states. For one process and for a 2-worker cluster.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, runNpm, signalGroup, tempDir } from './helpers/cli.js';
import { finalState, SEND_AFTER_MS, STOPPED_AROUND_EPOCH_2 } from './helpers/run.js';

// cmlp: a conditional model's labels travel with its images through the stop and the resume too.
const runFlags = (model: string) => ['--model', model, '--backend', 'wasm', '--limit', '384', '--batch-size', '64', '--epochs', '3', '--progress', 'lines'];


for (const [model, mode] of [['mlp', 'train'], ['mlp', 'cluster'], ['cmlp', 'train'], ['cmlp', 'cluster']] as const) {
  test(`${model}, ${mode}: Ctrl-C through npm after epoch 1, then --resume latest, ends bit-identical to an uninterrupted run`, async (t) => {
    const RUN = runFlags(model);
    const dir = await tempDir(t);
    const extra = mode === 'cluster' ? ['--workers', '2'] : [];
    const full = await runCli(mode, [...extra, ...RUN, '--run-dir', join(dir, 'full')]);
    t.is(full.code, 0, full.stderr);

    let signalled = false;
    const part = await runNpm(mode, [...extra, ...RUN, '--run-dir', join(dir, 'part')], {
      onStderr: (chunk, npm) => {
        if (!signalled && /epoch 1\/3 done/.test(chunk)) {
          signalled = true;
          setTimeout(() => signalGroup(npm, 'SIGINT'), SEND_AFTER_MS);
        }
      },
    });
    t.is(part.code, 0, part.stderr);
    t.is(part.leftInGroup, '', 'processes of the run outlived npm');
    t.regex(part.stderr, STOPPED_AROUND_EPOCH_2);
    const latest = (await readFile(join(dir, 'part', 'checkpoints', 'latest'), 'utf8')).trim();
    t.log(`interrupted at ${latest}`);

    const resumed = await runCli(mode, [...extra, '--resume', 'latest', '--run-dir', join(dir, 'part'), '--progress', 'lines']);
    t.is(resumed.code, 0, resumed.stderr);
    t.regex(resumed.stderr, /resum(ing|ed) from .*: epoch [23], step \d+/);
    t.true((await finalState(join(dir, 'part'))).equals(await finalState(join(dir, 'full'))), 'resumed run differs from the uninterrupted one');
    const lines = (await readFile(join(dir, 'part', 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    t.is(lines.filter((l) => l.type === 'epoch').length, 3);
    t.is(lines.filter((l) => l.type === 'resume').length, 1);
  });
}

test('resume refuses a changed training flag and a finished run, naming the problem; nothing is written', async (t) => {
  const dir = await tempDir(t);
  const run = join(dir, 'run');
  const r = await runCli('train', ['--backend', 'wasm', '--limit', '128', '--batch-size', '64', '--epochs', '1', '--progress', 'off', '--run-dir', run]);
  t.is(r.code, 0, r.stderr);
  const before = await readFile(join(run, 'metrics.jsonl'), 'utf8');
  const changed = await runCli('train', ['--backend', 'wasm', '--resume', 'latest', '--run-dir', run, '--lr', '0.001', '--epochs', '2']);
  t.is(changed.code, 1);
  t.regex(changed.stderr, /--lr 0\.001 differs from the checkpoint's 0\.0002; a resumed run keeps its training config/);
  const norm = await runCli('train', ['--backend', 'wasm', '--resume', 'latest', '--run-dir', run, '--batchnorm', 'torch', '--epochs', '2']);
  t.is(norm.code, 1);
  t.regex(norm.stderr, /--batchnorm torch differs from the checkpoint's keras/);
  const finished = await runCli('train', ['--backend', 'wasm', '--resume', 'latest', '--run-dir', run]);
  t.is(finished.code, 1);
  t.regex(finished.stderr, /already trained 1 of 1 epochs; pass --epochs N \(N > 1\)/);
  const missing = await runCli('train', ['--backend', 'wasm', '--resume', join(dir, 'nope')]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /--resume .*nope: .*no such checkpoint directory/);
  t.is(await readFile(join(run, 'metrics.jsonl'), 'utf8'), before);
});

test('a checkpoint from before --init and --batchnorm existed resumes with their defaults (glorot, keras), and a different value is refused; output flags not given again keep the run\'s values', async (t) => {
  const dir = await tempDir(t);
  const run = join(dir, 'run');
  const r = await runCli('train', ['--backend', 'wasm', '--limit', '128', '--batch-size', '64', '--epochs', '1', '--progress', 'off', '--checkpoint-every', '1', '--keep', '7', '--sample-every', '2', '--run-dir', run]);
  t.is(r.code, 0, r.stderr);
  // Rewrite state.json as an older version wrote it (no init, no batchNorm) with a manifest to match.
  const latestDir = async () => join(run, 'checkpoints', (await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim());
  const ckpt = await latestDir();
  const state = JSON.parse(await readFile(join(ckpt, 'state.json'), 'utf8')) as { config: Record<string, unknown> };
  t.is(state.config.init, 'glorot');
  t.is(state.config.batchNorm, 'keras');
  delete state.config.init;
  delete state.config.batchNorm;
  const bytes = Buffer.from(JSON.stringify(state));
  await writeFile(join(ckpt, 'state.json'), bytes);
  const manifest = JSON.parse(await readFile(join(ckpt, 'manifest.json'), 'utf8')) as { files: { path: string; bytes: number; sha256: string }[] };
  const entry = manifest.files.find((f) => f.path === 'state.json')!;
  [entry.bytes, entry.sha256] = [bytes.length, createHash('sha256').update(bytes).digest('hex')];
  await writeFile(join(ckpt, 'manifest.json'), JSON.stringify(manifest));

  const refused = await runCli('train', ['--backend', 'wasm', '--resume', 'latest', '--run-dir', run, '--init', 'torch', '--epochs', '2']);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /--init torch differs from the checkpoint's glorot/);
  const resumed = await runCli('train', ['--backend', 'wasm', '--resume', 'latest', '--run-dir', run, '--batchnorm', 'keras', '--epochs', '2', '--progress', 'off', '--log-every', '7']);
  t.is(resumed.code, 0, resumed.stderr);
  const latest = JSON.parse(await readFile(join(await latestDir(), 'state.json'), 'utf8')) as { epoch: number; config: Record<string, unknown> };
  // --checkpoint-every, --keep, --sample-every as launched (not their defaults 5, 3, 1); --log-every as given now.
  t.like(latest, { epoch: 2, config: { init: 'glorot', batchNorm: 'keras', checkpointEvery: 1, keep: 7, sampleEvery: 2, logEvery: 7 } });
});

test('cluster: resuming with another worker count continues the run, global batch kept', async (t) => {
  const dir = await tempDir(t);
  const run = join(dir, 'run');
  const first = await runCli('cluster', ['--workers', '2', '--model', 'mlp', '--backend', 'wasm', '--limit', '384', '--batch-size', '64', '--epochs', '1', '--progress', 'off', '--run-dir', run]);
  t.is(first.code, 0, first.stderr);
  const more = await runCli('cluster', ['--workers', '1', '--resume', 'latest', '--run-dir', run, '--epochs', '2', '--progress', 'lines']);
  t.is(more.code, 0, more.stderr);
  t.regex(more.stderr, /1 workers × 64 images per step/);
  t.regex(more.stderr, /done: 12 steps/);
  const epochs = (await readFile(join(run, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.type === 'epoch');
  t.deepEqual(epochs.map((e) => e.world), [2, 1]);
});
