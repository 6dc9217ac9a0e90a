/** A directory nothing can be created in, for every user: root ignores file modes, so root gets a read-only tmpfs. */
import { execFileSync } from 'node:child_process';
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from './cli.js';

/** A fresh read-only directory (removed after the test) and the error codes creating inside it gives. */
export async function readOnlyDir(t: Parameters<typeof tempDir>[0]): Promise<{ dir: string; codes: RegExp }> {
  const parent = await tempDir(t, 'gan-ro-');
  const dir = join(parent, 'ro');
  await mkdir(dir);
  if (process.getuid?.() === 0) {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', dir]);
    // Registered after tempDir's removal, so it runs first (ava runs teardowns last-in first-out).
    t.teardown(async () => void execFileSync('umount', [dir]));
    return { dir, codes: /EROFS: read-only file system/ };
  }
  await chmod(dir, 0o555);
  t.teardown(() => chmod(dir, 0o755));
  return { dir, codes: /EACCES: permission denied/ };
}
