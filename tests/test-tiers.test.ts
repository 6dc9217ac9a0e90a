/** The fast tier (`npm run test:unit`) holds only in-process tests: none of its files starts a process. */
import test from 'ava';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UNIT_FILES } from '../ava.unit.config.mjs';
import { ROOT } from './helpers/cli.js';

test('every unit-tier file exists and starts no process', async (t) => {
  t.true(UNIT_FILES.length > 10);
  for (const file of UNIT_FILES) {
    t.true(existsSync(join(ROOT, file)), `${file} is listed but missing`);
    const text = await readFile(join(ROOT, file), 'utf8');
    t.notRegex(text, /helpers\/cli|node:child_process|helpers\/slurm/, `${file} starts processes: it belongs to the end-to-end tier`);
  }
});
