import test from 'ava';
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { selectBackend } from '../src/shared/backend/select.js';
import { readCheckpoint, writeCheckpoint } from '../src/shared/checkpoint/load.js';
import type { CheckpointPayload } from '../src/shared/checkpoint/serialize.js';
import { CheckpointError, resolveCheckpoint, verifyCheckpoint } from '../src/shared/checkpoint/store.js';
import { parseFlags, TRAIN_FLAGS, trainConfigFrom } from '../src/shared/config.js';
import { Replica } from '../src/shared/replica.js';
import { checkpointPayload } from '../src/shared/run/snapshot.js';
import { tempDir } from './helpers/cli.js';
import { readOnlyDir } from './helpers/readonly.js';
import { editFloats } from './helpers/tamper.js';
import { snapshotWeights } from './helpers/tf.js';

const adam = { lr: 2e-4, beta1: 0.5, beta2: 0.999 };

test.before(async () => {
  await selectBackend('wasm');
});

async function trainedReplica(): Promise<Replica> {
  const r = new Replica({ model: 'mlp', latent: 100, seed: 9, adam });
  const real = new Float32Array(8 * 784).map((_, i) => Math.sin(i));
  await r.trainStep(real, 8, { epoch: 0, step: 0, rank: 0, world: 1 });
  await r.trainStep(real, 8, { epoch: 0, step: 1, rank: 0, world: 1 });
  return r;
}

const config = trainConfigFrom(parseFlags(['--seed', '9'], TRAIN_FLAGS));

function payload(r: Replica, globalStep: number): CheckpointPayload {
  return checkpointPayload(r, config, { epoch: 0, step: globalStep, globalStep }, 'wasm');
}

test.serial('save then load is bit-exact: weights, BatchNorm statistics and both Adam states', async (t) => {
  const dir = await tempDir(t);
  const r = await trainedReplica();
  const path = await writeCheckpoint(payload(r, 2), { dir });
  const loaded = await readCheckpoint(path, { full: true });
  t.deepEqual(snapshotWeights(loaded.generator).size, snapshotWeights(r.gan.generator).size);
  const same = (a: Map<string, Float32Array>, b: Map<string, Float32Array>) => [...a.values()].map((v) => Buffer.from(v.buffer)).join() === [...b.values()].map((v) => Buffer.from(v.buffer)).join();
  t.true(same(snapshotWeights(loaded.generator), snapshotWeights(r.gan.generator)));
  t.true(same(snapshotWeights(loaded.discriminator!), snapshotWeights(r.gan.discriminator)));
  const opt = r.optimizerStates();
  t.is(loaded.optimizer!.D.t, 2);
  t.deepEqual(loaded.optimizer!.D.m, opt.D.m);
  t.deepEqual(loaded.optimizer!.D.v, opt.D.v);
  t.deepEqual(loaded.optimizer!.G.m, opt.G.m);
  t.deepEqual(loaded.optimizer!.G.v, opt.G.v);
  t.is(loaded.state.globalStep, 2);
});

test.serial('a corrupted weights file is refused by its checksum, naming the file', async (t) => {
  const dir = await tempDir(t);
  const path = await writeCheckpoint(payload(await trainedReplica(), 2), { dir });
  const file = join(path, 'generator', 'weights.bin');
  const bytes = await readFile(file);
  bytes[1000] ^= 0xff;
  await writeFile(file, bytes);
  await t.throwsAsync(readCheckpoint(path), { message: /generator\/weights\.bin fails its sha256 check/ });
});

test.serial('a truncated or missing file is refused, naming it', async (t) => {
  const dir = await tempDir(t);
  const path = await writeCheckpoint(payload(await trainedReplica(), 2), { dir });
  const opt = join(path, 'optimizer.bin');
  await writeFile(opt, (await readFile(opt)).subarray(0, 100));
  await t.throwsAsync(verifyCheckpoint(path), { message: /optimizer\.bin has 100 bytes, manifest says/ });
  await rm(opt);
  await t.throwsAsync(verifyCheckpoint(path), { message: /optimizer\.bin is missing/ });
});

test.serial('latest names the newest complete checkpoint and only --keep are kept', async (t) => {
  const dir = await tempDir(t);
  const r = await trainedReplica();
  for (const s of [10, 20, 30]) await writeCheckpoint(payload(r, s), { dir: join(dir, 'checkpoints'), keep: 2 });
  const names = (await readdir(join(dir, 'checkpoints'))).filter((n) => n.startsWith('ckpt-')).sort();
  t.deepEqual(names, ['ckpt-000000020-e0000', 'ckpt-000000030-e0000']);
  t.is(await resolveCheckpoint('latest', dir), join(dir, 'checkpoints', 'ckpt-000000030-e0000'));
  // A run directory given as --ckpt means its latest.
  t.is(await resolveCheckpoint(dir), join(dir, 'checkpoints', 'ckpt-000000030-e0000'));
});

test.serial('a failed write leaves the previous checkpoint and latest intact', async (t) => {
  const dir = await tempDir(t);
  const r = await trainedReplica();
  const first = await writeCheckpoint(payload(r, 1), { dir });
  const failingHash = async () => {
    throw new Error('ENOSPC: no space left on device');
  };
  await t.throwsAsync(writeCheckpoint(payload(r, 2), { dir, hash: failingHash }), { message: /writing checkpoint .* failed: ENOSPC/ });
  t.is((await readFile(join(dir, 'latest'), 'utf8')).trim(), 'ckpt-000000001-e0000');
  t.deepEqual((await readdir(dir)).sort(), ['ckpt-000000001-e0000', 'latest']);
  await t.notThrowsAsync(verifyCheckpoint(first));
});

test.serial('paths that are not checkpoints fail with one clear line', async (t) => {
  const dir = await tempDir(t);
  await t.throwsAsync(resolveCheckpoint(join(dir, 'nope')), { message: /nope: no such checkpoint directory/ });
  await t.throwsAsync(resolveCheckpoint(dir), { message: /not a checkpoint \(no manifest\.json\)/ });
  await t.throwsAsync(resolveCheckpoint('latest', undefined, join(dir, 'runs')), { message: /no run with a checkpoint/ });
});

test.serial('a checkpoint with a NaN weight and a consistent manifest is refused on load, naming the checkpoint and the tensor', async (t) => {
  const dir = await tempDir(t);
  const path = await writeCheckpoint(payload(await trainedReplica(), 2), { dir });
  await editFloats(path, 'generator/weights.bin', (v) => {
    v[5] = NaN;
    v[9] = Infinity;
  });
  const err = await t.throwsAsync(readCheckpoint(path), { instanceOf: CheckpointError });
  t.regex(err!.message, new RegExp(`^checkpoint ${path}: generator/weights\\.bin holds 2 non-finite values, the first \\(NaN\\) in \\S+/kernel at index 5; it cannot be sampled, evaluated or resumed from$`));
});

test.serial('an infinite Adam moment is refused on load too, naming D.v', async (t) => {
  const dir = await tempDir(t);
  const r = await trainedReplica();
  const path = await writeCheckpoint(payload(r, 2), { dir });
  const d = r.optimizerStates().D.m.length;
  await editFloats(path, 'optimizer.bin', (v) => (v[d + 3] = -Infinity));
  await t.throwsAsync(readCheckpoint(path, { full: true }), { instanceOf: CheckpointError, message: /optimizer\.bin holds 1 non-finite value, the first \(-Infinity\) in D\.v at index 3;/ });
});

test.serial('state that is no longer finite is never written as a checkpoint; the previous one stays latest', async (t) => {
  const dir = await tempDir(t);
  const r = await trainedReplica();
  const good = await writeCheckpoint(payload(r, 2), { dir });
  const bad = payload(r, 3);
  bad.optimizer.G.v[7] = Infinity;
  await t.throwsAsync(writeCheckpoint(bad, { dir }), { instanceOf: CheckpointError, message: /^not writing checkpoint \S+ckpt-000000003-e0000: optimizer\.bin holds 1 non-finite value, the first \(Infinity\) in G\.v at index 7/ });
  t.deepEqual(await readdir(dir), ['ckpt-000000002-e0000', 'latest']);
  t.is((await readFile(join(dir, 'latest'), 'utf8')).trim(), basename(good));
});

test.serial('a checkpoint directory that cannot be created fails with the real cause, not ENOENT', async (t) => {
  const { dir, codes } = await readOnlyDir(t);
  const err = await t.throwsAsync(writeCheckpoint(payload(await trainedReplica(), 2), { dir: join(dir, 'run', 'checkpoints') }), { instanceOf: CheckpointError });
  t.regex(err!.message, new RegExp(`^writing checkpoint \\S+ failed: ${codes.source}`));
  t.notRegex(err!.message, /ENOENT/);
});
