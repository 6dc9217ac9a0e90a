/**
 * Writing, finding, verifying and reading checkpoints on disk.
 *
 * A checkpoint is written into a temporary directory beside the others, every file fsynced, its
 * manifest written last, then the directory is renamed into place and `latest` (a one-line text
 * file naming the newest complete checkpoint) is replaced atomically. A crash at any moment leaves
 * the previous checkpoint complete and `latest` pointing at a complete one.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fsyncDir, makeDirs, sha256File, writeFileAtomic, writeFileSynced } from '../fsutil.js';
import { CHECKPOINT_FILES, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, describeNonFinite, type CheckpointFile, type CheckpointFiles, type CheckpointManifest, type CheckpointState } from './format.js';
import { describeError } from '../describe-error.js';

/** Computes a file's sha256 as hex; the trainer passes the side pool's, so hashing runs off the event loop. */
export type FileHasher = (path: string) => Promise<string>;

/** Thrown for a missing, incomplete, corrupt or mismatched checkpoint; the message is one line. */
export class CheckpointError extends Error {}

/** Options of `writeCheckpointFiles`. */
export interface WriteCheckpointArgs {
  /** The run's `checkpoints/` directory. */
  dir: string;
  /** Checkpoints to keep; older ones are removed after the new one is complete (default 3). */
  keep?: number;
  /** sha256 of a file (default: in-process). */
  hash?: FileHasher;
}

/** Name of a checkpoint directory: sorts by global step. */
export function checkpointName(globalStep: number, epoch: number): string {
  return `ckpt-${String(globalStep).padStart(9, '0')}-e${String(epoch).padStart(4, '0')}`;
}

async function writeSynced(path: string, bytes: Uint8Array | string): Promise<void> {
  await makeDirs(dirname(path));
  await writeFileSynced(path, bytes);
}

/**
 * Writes a complete checkpoint from its serialised files, points `latest` at it, prunes old ones;
 * resolves with its path.
 */
export async function writeCheckpointFiles(contents: CheckpointFiles, state: Pick<CheckpointState, 'globalStep' | 'epoch'>, args: WriteCheckpointArgs): Promise<string> {
  const hash = args.hash ?? sha256File;
  const name = checkpointName(state.globalStep, state.epoch);
  const final = join(args.dir, name);
  const tmp = join(args.dir, `.tmp-${name}-${process.pid}`);
  // A checkpoint is a point to return to: one with NaN or infinite values could only be sampled
  // into NaN images or resumed into skipped steps, so it is never written.
  const nonFinite = describeNonFinite((f) => contents[f]);
  if (nonFinite) throw new CheckpointError(`not writing checkpoint ${final}: ${nonFinite} (the run's state is no longer finite)`);
  try {
    await makeDirs(args.dir);
    await rm(tmp, { recursive: true, force: true });
    for (const f of CHECKPOINT_FILES) await writeSynced(join(tmp, f), contents[f]);
    const files = await Promise.all(
      CHECKPOINT_FILES.map(async (f) => ({ path: f, bytes: (await stat(join(tmp, f))).size, sha256: await hash(join(tmp, f)) })),
    );
    const manifest: CheckpointManifest = { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, files };
    await writeSynced(join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    await fsyncDir(join(tmp, 'generator'));
    await fsyncDir(join(tmp, 'discriminator'));
    await fsyncDir(tmp);
    await rm(final, { recursive: true, force: true });
    await rename(tmp, final);
    await fsyncDir(args.dir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw new CheckpointError(`writing checkpoint ${final} failed: ${describeError(err)}`);
  }
  await writeFileAtomic(join(args.dir, 'latest'), name + '\n');
  await pruneCheckpoints(args.dir, args.keep ?? 3, name);
  return final;
}

/** Complete checkpoint directory names in `dir`, oldest first. */
export async function listCheckpoints(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const names = (await readdir(dir)).filter((n) => n.startsWith('ckpt-') && existsSync(join(dir, n, 'manifest.json')));
  return names.sort();
}

async function pruneCheckpoints(dir: string, keep: number, newest: string): Promise<void> {
  const names = await listCheckpoints(dir);
  const excess = names.filter((n) => n !== newest).slice(0, Math.max(0, names.length - keep));
  for (const n of excess) await rm(join(dir, n), { recursive: true, force: true });
}

/** The newest run directory under `runsRoot` that has a `checkpoints/latest`. */
async function newestRunWithCheckpoint(runsRoot: string): Promise<string | undefined> {
  if (!existsSync(runsRoot)) return undefined;
  let best: { dir: string; mtime: number } | undefined;
  for (const n of await readdir(runsRoot)) {
    const latest = join(runsRoot, n, 'checkpoints', 'latest');
    if (!existsSync(latest)) continue;
    const mtime = (await stat(latest)).mtimeMs;
    if (!best || mtime > best.mtime) best = { dir: join(runsRoot, n), mtime };
  }
  return best?.dir;
}

/**
 * Turns `--ckpt` into a checkpoint directory: `latest` means the newest complete checkpoint of
 * `runDir` (or of the newest run under `runsRoot`); a run directory means its latest; anything
 * else must be a checkpoint directory.
 */
export async function resolveCheckpoint(spec: string, runDir?: string, runsRoot = 'runs'): Promise<string> {
  let run: string | undefined;
  if (spec === 'latest') {
    run = runDir ?? (await newestRunWithCheckpoint(runsRoot));
    if (!run) throw new CheckpointError(`--ckpt latest: no run with a checkpoint under ${resolve(runsRoot)} (train first, or pass --run-dir or --ckpt DIR)`);
  } else if (existsSync(join(spec, 'checkpoints', 'latest'))) {
    run = spec;
  }
  if (run !== undefined) {
    const latestFile = join(run, 'checkpoints', 'latest');
    if (!existsSync(latestFile)) throw new CheckpointError(`${run}: no checkpoints/latest (no complete checkpoint in this run yet)`);
    const name = (await readFile(latestFile, 'utf8')).trim();
    if (!/^ckpt-[\w-]+$/.test(name)) throw new CheckpointError(`${latestFile}: does not name a checkpoint ('${name.slice(0, 60)}')`);
    return join(run, 'checkpoints', name);
  }
  if (!existsSync(spec)) throw new CheckpointError(`${spec}: no such checkpoint directory`);
  if (!existsSync(join(spec, 'manifest.json'))) throw new CheckpointError(`${spec}: not a checkpoint (no manifest.json)`);
  return spec;
}

/**
 * Checks every file of the checkpoint against its manifest (presence, size, sha256) and returns
 * the parsed state. Anything off throws a `CheckpointError` naming the file.
 */
export async function verifyCheckpoint(dir: string, hash: FileHasher = sha256File): Promise<CheckpointState> {
  const where = basename(dir);
  let manifest: CheckpointManifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
  } catch (err) {
    throw new CheckpointError(`checkpoint ${dir}: manifest.json unreadable (${(err as Error).message.split('\n')[0]})`);
  }
  if (manifest.format !== CHECKPOINT_FORMAT || !Array.isArray(manifest.files)) throw new CheckpointError(`checkpoint ${dir}: manifest.json is not a ${CHECKPOINT_FORMAT} manifest`);
  if (manifest.version > CHECKPOINT_VERSION) throw new CheckpointError(`checkpoint ${dir}: format version ${manifest.version} is newer than this program's (${CHECKPOINT_VERSION})`);
  for (const f of CHECKPOINT_FILES) {
    if (!manifest.files.some((e) => e.path === f)) throw new CheckpointError(`checkpoint ${dir}: manifest.json does not list ${f}`);
  }
  for (const entry of manifest.files) {
    const path = join(dir, entry.path);
    if (!existsSync(path)) throw new CheckpointError(`checkpoint ${where}: ${entry.path} is missing`);
    const size = (await stat(path)).size;
    if (size !== entry.bytes) throw new CheckpointError(`checkpoint ${where}: ${entry.path} has ${size} bytes, manifest says ${entry.bytes}`);
    const digest = await hash(path);
    if (digest !== entry.sha256) throw new CheckpointError(`checkpoint ${where}: ${entry.path} fails its sha256 check (corrupt or modified)`);
  }
  const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as CheckpointState;
  if (state.format !== CHECKPOINT_FORMAT) throw new CheckpointError(`checkpoint ${where}: state.json is not a ${CHECKPOINT_FORMAT} state`);
  // The manifest only proves the files are as written; a checkpoint from before writers refused
  // non-finite values, or one written by other code, may still hold NaN weights.
  const contents = new Map<CheckpointFile, Uint8Array>();
  for (const f of CHECKPOINT_FILES) contents.set(f, await readFile(join(dir, f)));
  const nonFinite = describeNonFinite((f) => contents.get(f)!);
  if (nonFinite) throw new CheckpointError(`checkpoint ${dir}: ${nonFinite}; it cannot be sampled, evaluated or resumed from`);
  return state;
}
