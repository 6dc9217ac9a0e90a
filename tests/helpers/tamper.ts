/** Changing a checkpoint's values while keeping its manifest consistent (as a bug upstream would). */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckpointManifest } from '../../src/shared/checkpoint/format.js';

/** Rewrites float32 file `file` of checkpoint `dir` through `edit`, then updates manifest.json to match. */
export async function editFloats(dir: string, file: string, edit: (values: Float32Array) => void): Promise<void> {
  const bytes = await readFile(join(dir, file));
  const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  edit(values);
  const out = Buffer.from(values.buffer);
  await writeFile(join(dir, file), out);
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as CheckpointManifest;
  const entry = manifest.files.find((e) => e.path === file)!;
  entry.bytes = out.byteLength;
  entry.sha256 = createHash('sha256').update(out).digest('hex');
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
}
